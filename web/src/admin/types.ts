// The REST shapes the administrator's pages send and read, as `src/http/` serializes
// them (camelCase). Responses are read only through these types.


export interface Named {
  id: string;
  name: string;
}

export interface PersonRow extends Named {
  email?: string;
  organisationId?: string;
  roles: string[];
  fields: string[];
}

export interface PanelRow extends Named {
  chairId?: string;
  members: string[];
}

export interface ProjectRow {
  id: string;
  code: string;
  title: string;
  programmeId: string;
  applicantId: string;
  organisationId: string;
  field: string;
}

/** A participant's latest set-up check, as a session's links carry it. */
export interface CheckSummary {
  at: string;
  verdict: string;
  path: string | null;
  rttMs: number | null;
  lossPercent: number | null;
}

export interface JoinLink {
  participantId: string;
  url: string;
  name: string;
  role: string;
  setupCheck?: CheckSummary;
}

/** A booked session with its links (`POST /sessions`, `GET /sessions/{id}`). */
export interface SessionWithLinks {
  joinLinks: JoinLink[];
}

export interface SessionRow {
  id: string;
  title: string;
  startsAt: string;
  durationMinutes: number;
  cancelled: boolean;
  panelId?: string;
}

export interface NewSessionBody {
  title: string;
  start: string;
  durationMinutes: number;
  timeZone: string;
  participants: { name: string; role: string }[];
}

export interface NewPersonBody {
  name: string;
  email?: string;
  organisationId?: string;
  roles: string[];
  fields: string[];
}

export interface NewPanelBody {
  name: string;
  chairId?: string;
  memberIds: string[];
}

export interface RescheduleBody {
  start: string;
  durationMinutes: number;
}

export interface PlanBody {
  date: string;
  timeZone: string;
  dayStart: string;
  agenda: { presentationMinutes: number; qaMinutes: number; deliberationMinutes: number; bufferMinutes: number };
  slots: number;
  panelIds: string[];
  projectIds: string[];
  book: boolean;
  hostName: string;
}

export interface Placement {
  code: string;
  panelId: string;
  slot: number;
  startsAt: string;
  refused?: string;
  sessionId?: string;
}

export interface PlanReply {
  placed: Placement[];
  unplaced: { code: string; reason: string }[];
}

export interface ImportSummary {
  organisations: number;
  people: number;
  projects: number;
}

export interface ScoresReply {
  criteria: { name: string }[];
  sheets: { name: string; scores: number[] | null; total: number | null; comment: string }[];
  mean: number | null;
}

export interface AuditRow {
  seq: number;
  at: string;
  sessionId: string | null;
  actor: string;
  action: string;
  detail: string;
}

export interface AuditVerdict {
  intact: boolean;
  entries: number;
  firstBreak?: { seq: number; reason: string };
}

export interface StabilityRow {
  sessionId: string;
  title: string;
  startsAt: string;
  held: boolean;
  stable: boolean | null;
  reasons: string[];
}

export interface SampleRow {
  participantId: string;
  at: string;
  direction: "up" | "down";
  /** `microphone` / `camera` / `screen` sent, `publisher/source` received; "" in rows
   *  stored before tracks were told apart. */
  track: string;
  packets: number;
  lost: number;
  kbps: number;
  jitterMs: number;
  rttMs: number | null;
}

export interface SessionStability {
  samples: SampleRow[];
  phases: { phase: string; at: string }[];
  verdict: { stable: boolean; definition: string; reasons: { summary: string }[] };
}

export interface Indicator {
  label: string;
  value: number | null;
  target: number;
  unit: string;
  note: string;
}

export interface RecordingRow {
  id: string;
  sessionTitle: string;
  sessionKind: string;
  startedAt: string;
  state: string;
  parts: number;
  bytes: number;
  helpVideoId?: string | null;
  production?: { state: string; progress?: number; error?: string | null } | null;
}

export interface MediaLink {
  url: string;
  thumbnail?: string | null;
  expiresAt: string;
}

export interface PublishBody {
  title: string;
  category: string;
  envoy: string;
  description: string;
  tags: string[];
}

