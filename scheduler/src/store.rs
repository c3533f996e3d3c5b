//! The storage boundary. Every backend implements [`Store`]; the server holds an
//! `Arc<dyn Store>` and never knows which database is behind it.

use async_trait::async_trait;
use uuid::Uuid;

use chrono::{DateTime, Utc};

use crate::domain::{NewSession, Participant, Session};
use crate::model::{
    BookingConflict, ConflictTarget, NewPerson, NewProject, Notification, Organisation, Panel,
    Person, Programme, Project, Room,
};
use crate::record::{
    AuditEntry, BackupRecord, ChatMessage, ConnectionEvent, Criterion, HelpVideo, NewAuditEntry,
    ProductionJob, Rating, RecordingPart, RecordingRecord, ScoreSheetRecord, StreamSampleRecord,
};

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness or integrity rule of the database refused the change.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A referenced row (organisation, person, programme…) does not exist.
    #[error("unknown reference: {0}")]
    UnknownReference(String),
    /// The row was not found.
    #[error("not found")]
    NotFound,
    /// The stored data could not be read back into domain types (corruption or a
    /// schema mismatch). Details are for the log, not for clients.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The booking breaks a scheduling rule; the database refused it.
    #[error(transparent)]
    Booking(#[from] BookingConflict),
    /// The database itself failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// An external tool (e.g. `pg_dump`) or the file system failed.
    #[error("{0}")]
    External(String),
}

/// How often an audit append is retried when a concurrent append took its number.
pub const AUDIT_APPEND_ATTEMPTS: usize = 50;

/// A password-login account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: Uuid,
    /// Login name.
    pub username: String,
    /// Argon2 PHC string.
    pub password_hash: String,
}

/// Password-login accounts of administrators.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Number of administrator accounts.
    async fn administrator_count(&self) -> Result<i64, StoreError>;
    /// Creates an administrator account.
    async fn create_administrator(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<UserRecord, StoreError>;
    /// Replaces an administrator's password hash.
    async fn set_password_hash(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<(), StoreError>;
    /// Looks up an account by login name.
    async fn user_by_username(&self, username: &str) -> Result<UserRecord, StoreError>;
}

/// The directory: organisations, people, programmes, projects, rooms, panels, conflicts of interest, availability, and the bulk import into them.
#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Creates an organisation (names are unique).
    async fn create_organisation(&self, name: &str) -> Result<Organisation, StoreError>;
    /// Creates a person.
    async fn create_person(&self, person: &NewPerson) -> Result<Person, StoreError>;
    /// One person.
    async fn person(&self, id: Uuid) -> Result<Person, StoreError>;
    /// Creates a programme with its panel-size limits.
    async fn create_programme(
        &self,
        name: &str,
        min_panel_size: i64,
        max_panel_size: i64,
    ) -> Result<Programme, StoreError>;
    /// Creates a project (codes are unique).
    async fn create_project(&self, project: &NewProject) -> Result<Project, StoreError>;
    /// Records that an expert may not judge a project or an organisation's projects.
    async fn declare_conflict(
        &self,
        expert: Uuid,
        target: ConflictTarget,
        reason: &str,
    ) -> Result<(), StoreError>;
    /// Creates a virtual room (names are unique).
    async fn create_room(&self, name: &str) -> Result<Uuid, StoreError>;
    /// Every organisation, by name.
    async fn organisations(&self) -> Result<Vec<Organisation>, StoreError>;
    /// Every person, by name.
    async fn people(&self) -> Result<Vec<Person>, StoreError>;
    /// Every programme, by name.
    async fn programmes(&self) -> Result<Vec<Programme>, StoreError>;
    /// Every project, by code.
    async fn projects(&self) -> Result<Vec<Project>, StoreError>;
    /// Every room, by name.
    async fn rooms(&self) -> Result<Vec<Room>, StoreError>;
    /// Creates a panel of experts (the chair must be a member).
    async fn create_panel(
        &self,
        name: &str,
        chair: Option<Uuid>,
        members: &[Uuid],
    ) -> Result<Panel, StoreError>;
    /// Every panel, by name.
    async fn panels(&self) -> Result<Vec<Panel>, StoreError>;
    /// Declared conflicts of interest: (expert, target).
    async fn conflicts(&self) -> Result<Vec<(Uuid, ConflictTarget)>, StoreError>;
    /// Records an availability window.
    async fn add_window(&self, window: &crate::model::AvailabilityWindow)
    -> Result<(), StoreError>;
    /// Windows overlapping `[from, to)`.
    async fn windows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<crate::model::AvailabilityWindow>, StoreError>;
    /// What an import must not duplicate and may refer to.
    async fn import_snapshot(&self) -> Result<crate::import::Existing, StoreError>;
    /// Applies a validated import in one transaction: everything or nothing.
    async fn apply_import(&self, batch: &crate::import::ImportBatch) -> Result<(), StoreError>;
    /// Replaces a programme's criteria (validated by the caller).
    async fn set_programme_criteria(
        &self,
        programme: Uuid,
        criteria: &[Criterion],
    ) -> Result<(), StoreError>;
}

/// Sessions and their participants: booking, moving, cancelling, removing and revoking, the invitations sent, defense days, and whether a session is recorded.
#[async_trait]
pub trait BookingStore: Send + Sync {
    /// Books a session with its participants, atomically.
    async fn create_session(
        &self,
        session: &NewSession,
    ) -> Result<(Session, Vec<Participant>), StoreError>;
    /// One session.
    async fn session(&self, id: Uuid) -> Result<Session, StoreError>;
    /// A session's participants, in invitation order.
    async fn participants(&self, session_id: Uuid) -> Result<Vec<Participant>, StoreError>;
    /// One participant.
    async fn participant(&self, id: Uuid) -> Result<Participant, StoreError>;
    /// Sessions starting in `[from, to)`, by start.
    async fn sessions_between(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Session>, StoreError>;
    /// Moves a session to a new start and length. Participants and room are held for
    /// the new time under the same rules as a new booking; SEQUENCE goes up by one.
    async fn reschedule_session(
        &self,
        id: Uuid,
        starts_at: DateTime<Utc>,
        duration_minutes: i64,
    ) -> Result<Session, StoreError>;
    /// Cancels a session: its participants and room are released; SEQUENCE goes up.
    async fn cancel_session(&self, id: Uuid) -> Result<Session, StoreError>;
    /// Takes a participant off a booking: kept on record (their sheets, ratings and
    /// notifications stay), no longer listed, their person's time released (unless
    /// they hold another seat of the session), their links void. `NotFound` when they
    /// are not an active participant of `session`.
    async fn remove_participant(
        &self,
        session: Uuid,
        participant: Uuid,
    ) -> Result<Participant, StoreError>;
    /// Voids every link issued to a participant so far (their link generation goes
    /// up); returns them as they are now. `NotFound` for an unknown or removed one.
    async fn revoke_participant_links(&self, participant: Uuid) -> Result<Participant, StoreError>;
    /// Records notifications (all or none).
    async fn record_notifications(&self, notifications: &[Notification]) -> Result<(), StoreError>;
    /// A session's notifications, oldest first.
    async fn notifications(&self, session_id: Uuid) -> Result<Vec<Notification>, StoreError>;
    /// Records a defense day.
    async fn create_defense_day(&self, day: &crate::model::DefenseDay) -> Result<(), StoreError>;
    /// Sets whether a session is recorded automatically.
    async fn set_recording_policy(&self, session: Uuid, record: bool) -> Result<(), StoreError>;
    /// Whether a session is recorded automatically, if the booking said.
    async fn recording_policy(&self, session: Uuid) -> Result<Option<bool>, StoreError>;
}

/// What a session leaves behind: agenda phases, score sheets and their criteria, ratings, chat.
#[async_trait]
pub trait SessionRecordStore: Send + Sync {
    /// Records an agenda phase change of a session.
    async fn record_phase(
        &self,
        session: Uuid,
        phase: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// A session's phase changes in the order they happened (by their time: writes
    /// may arrive out of order).
    async fn phases(&self, session: Uuid) -> Result<Vec<(String, DateTime<Utc>)>, StoreError>;
    /// The scoring criteria of the session's programme (the defaults when the session
    /// has no project or its programme defines none).
    async fn session_criteria(&self, session: Uuid) -> Result<Vec<Criterion>, StoreError>;
    /// Stores a submitted score sheet, replacing the expert's earlier one.
    async fn save_score_sheet(&self, sheet: &ScoreSheetRecord) -> Result<(), StoreError>;
    /// Unlocks a submitted sheet, keeping the host's reason. `NotFound` when there is none.
    async fn reopen_score_sheet(
        &self,
        session: Uuid,
        expert: Uuid,
        reason: &str,
    ) -> Result<(), StoreError>;
    /// A session's score sheets, in expert order.
    async fn score_sheets(&self, session: Uuid) -> Result<Vec<ScoreSheetRecord>, StoreError>;
    /// Stores a satisfaction rating, replacing the participant's earlier one.
    async fn save_rating(&self, rating: &Rating) -> Result<(), StoreError>;
    /// A session's ratings, oldest first.
    async fn ratings(&self, session: Uuid) -> Result<Vec<Rating>, StoreError>;
    /// Stores a chat message.
    async fn post_chat(&self, message: &ChatMessage) -> Result<(), StoreError>;
    /// Marks a chat message removed (kept for the record). `NotFound` if it is not in
    /// the session.
    async fn remove_chat(
        &self,
        session: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// A session's chat, oldest first, removed messages included (flagged).
    async fn chat(&self, session: Uuid) -> Result<Vec<ChatMessage>, StoreError>;
}

/// The append-only, numbered audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends to the audit log, chaining the entry to the last one.
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError>;
    /// Appends several entries in order, in one transaction (all or none): one commit
    /// for a burst instead of one each, so the audit writer keeps up.
    async fn append_audit_batch(
        &self,
        entries: &[NewAuditEntry],
    ) -> Result<Vec<AuditEntry>, StoreError>;
    /// Up to `limit` audit entries after `after_seq`, oldest first.
    async fn audit_log(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Stream statistics: interval samples, connection events, set-up checks, server gaps, their compaction and the stored verdicts.
#[async_trait]
pub trait SampleStore: Send + Sync {
    /// Stores interval samples (all or none).
    async fn record_samples(&self, samples: &[StreamSampleRecord]) -> Result<(), StoreError>;
    /// A session's samples, by time.
    async fn samples(&self, session: Uuid) -> Result<Vec<StreamSampleRecord>, StoreError>;
    /// Stores a connection event.
    async fn record_connection_event(&self, event: &ConnectionEvent) -> Result<(), StoreError>;
    /// A session's connection events, by time.
    async fn connection_events(&self, session: Uuid) -> Result<Vec<ConnectionEvent>, StoreError>;
    /// Stores a set-up check.
    async fn record_setup_check(&self, check: &crate::record::SetupCheck)
    -> Result<(), StoreError>;
    /// A session's set-up checks, oldest first.
    async fn setup_checks(
        &self,
        session: Uuid,
    ) -> Result<Vec<crate::record::SetupCheck>, StoreError>;
    /// Stores the spans when the server was away during live sessions.
    async fn record_server_gaps(&self, gaps: &[crate::record::ServerGap])
    -> Result<(), StoreError>;
    /// A session's server gaps, oldest first.
    async fn server_gaps(&self, session: Uuid)
    -> Result<Vec<crate::record::ServerGap>, StoreError>;
    /// Replaces a session's samples with their aggregates and keeps its verdict (JSON),
    /// in one transaction.
    async fn compact_samples(
        &self,
        session: Uuid,
        aggregates: &[StreamSampleRecord],
        stable: bool,
        verdict: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// A compacted session's stored verdict: (stable, verdict JSON).
    async fn session_verdict(&self, session: Uuid) -> Result<Option<(bool, String)>, StoreError>;
}

/// Live rooms' state, kept across a restart, and the server's heartbeat.
#[async_trait]
pub trait LiveStateStore: Send + Sync {
    /// Saves live rooms' state and forgets ended ones, with the server's heartbeat,
    /// in one transaction (the live-state writer calls this about once a second).
    async fn save_live_state(
        &self,
        rooms: &[crate::record::LiveRoomRecord],
        forget: &[Uuid],
        beat: crate::record::Heartbeat,
    ) -> Result<(), StoreError>;
    /// Every saved live room.
    async fn live_rooms(&self) -> Result<Vec<crate::record::LiveRoomRecord>, StoreError>;
    /// The server's last heartbeat, if it ever ran on this database.
    async fn last_heartbeat(&self) -> Result<Option<crate::record::Heartbeat>, StoreError>;
}

/// Consistent snapshots of the database and the record of backups taken.
#[async_trait]
pub trait BackupStore: Send + Sync {
    /// Writes a consistent snapshot of the whole database to `dest` while it is in use
    /// (SQLite `VACUUM INTO`; PostgreSQL `pg_dump` custom format).
    async fn snapshot_into(&self, dest: &std::path::Path) -> Result<(), StoreError>;
    /// Records a backup attempt.
    async fn record_backup(&self, backup: &BackupRecord) -> Result<(), StoreError>;
    /// Backup attempts in `[from, to)`, oldest first.
    async fn backups(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<BackupRecord>, StoreError>;
}

/// Recordings, their parts on disk, post-production jobs and retention.
#[async_trait]
pub trait RecordingStore: Send + Sync {
    /// Stores a new recording.
    async fn create_recording(&self, recording: &RecordingRecord) -> Result<(), StoreError>;
    /// Updates a recording's state, stop time and error.
    async fn update_recording(&self, recording: &RecordingRecord) -> Result<(), StoreError>;
    /// One recording.
    async fn recording(&self, id: Uuid) -> Result<Option<RecordingRecord>, StoreError>;
    /// A session's recordings, oldest first.
    async fn recordings_of_session(
        &self,
        session: Uuid,
    ) -> Result<Vec<RecordingRecord>, StoreError>;
    /// Recordings in a state (`recording` ones after a restart are interrupted).
    async fn recordings_in_state(&self, state: &str) -> Result<Vec<RecordingRecord>, StoreError>;
    /// Stores a part as it is opened.
    async fn add_recording_part(&self, part: &RecordingPart) -> Result<(), StoreError>;
    /// Marks a part closed with its size.
    async fn close_recording_part(
        &self,
        path: &str,
        bytes: i64,
        clean: bool,
    ) -> Result<(), StoreError>;
    /// A recording's parts, by offset.
    async fn recording_parts(&self, recording: Uuid) -> Result<Vec<RecordingPart>, StoreError>;
    /// Inserts or replaces a post-production job.
    async fn save_production_job(&self, job: &ProductionJob) -> Result<(), StoreError>;
    /// Jobs in a state, oldest change first.
    async fn production_jobs(&self, state: &str) -> Result<Vec<ProductionJob>, StoreError>;
    /// A recording's job.
    async fn production_job_of(&self, recording: Uuid)
    -> Result<Option<ProductionJob>, StoreError>;
    /// Records that a recording's media were deleted under the retention policy.
    async fn expire_recording(&self, recording: Uuid, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// When a recording's media were deleted, if they were.
    async fn recording_expired(&self, recording: Uuid)
    -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// Published help videos and their views.
#[async_trait]
pub trait HelpVideoStore: Send + Sync {
    /// Publishes a help video (one per recording: a second is a conflict).
    async fn publish_help_video(&self, video: &HelpVideo) -> Result<(), StoreError>;
    /// One help video.
    async fn help_video(&self, id: Uuid) -> Result<Option<HelpVideo>, StoreError>;
    /// Help videos, newest first, whose title, description, tags or envoy contain
    /// `search` (all when empty), in `category` when given.
    async fn help_videos(
        &self,
        search: &str,
        category: Option<&str>,
    ) -> Result<Vec<HelpVideo>, StoreError>;
    /// Counts a view of a video on a day by `viewer` (an opaque id the player keeps),
    /// unless that viewer was already counted for that video that day; returns
    /// whether it counted. Viewers of days before the previous one are forgotten.
    async fn count_help_video_view(
        &self,
        video: Uuid,
        day: chrono::NaiveDate,
        viewer: Uuid,
    ) -> Result<bool, StoreError>;
    /// Views of every video per day in `[from, to)`: (video, day, views).
    async fn help_video_views(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<(Uuid, chrono::NaiveDate, i64)>, StoreError>;
}

/// Everything Viva stores: the sum of the stores by concern. The server holds an
/// `Arc<dyn Store>`; callers bring the concern traits they use into scope with
/// `use scheduler::store::prelude::*`.
pub trait Store:
    AccountStore
    + DirectoryStore
    + BookingStore
    + SessionRecordStore
    + AuditStore
    + SampleStore
    + LiveStateStore
    + BackupStore
    + RecordingStore
    + HelpVideoStore
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: AccountStore
        + DirectoryStore
        + BookingStore
        + SessionRecordStore
        + AuditStore
        + SampleStore
        + LiveStateStore
        + BackupStore
        + RecordingStore
        + HelpVideoStore
        + std::fmt::Debug
{
}

/// The store's traits, for callers that use an `Arc<dyn Store>`.
pub mod prelude {
    pub use super::{
        AccountStore, AuditStore, BackupStore, BookingStore, DirectoryStore, HelpVideoStore,
        LiveStateStore, RecordingStore, SampleStore, SessionRecordStore, Store,
    };
}
