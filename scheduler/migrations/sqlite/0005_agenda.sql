-- The agenda template of a session: minutes of presentation, Q&A and deliberation
-- (defenses); NULL when booked without one.
ALTER TABLE sessions ADD COLUMN presentation_minutes INTEGER CHECK (presentation_minutes BETWEEN 0 AND 240);
ALTER TABLE sessions ADD COLUMN qa_minutes INTEGER CHECK (qa_minutes BETWEEN 0 AND 240);
ALTER TABLE sessions ADD COLUMN deliberation_minutes INTEGER CHECK (deliberation_minutes BETWEEN 0 AND 240);
