//! The `jobs` table: the durable queue of background work. Door:
//! `api::jobs` (the queue's statements).
use sea_orm::entity::prelude::*;

/// A unit of background work in the durable queue.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Which job this is (`check_recipient`, …): picks the code that runs it.
    pub kind: String,
    /// The job's arguments, JSON.
    pub payload: String,
    /// At most one live job per key.
    #[sea_orm(unique)]
    pub dedupe_key: Option<String>,
    pub status: Status,
    pub run_at: DateTimeUtc,
    pub attempts: i32,
    /// The worker holding the lease.
    pub locked_by: Option<String>,
    /// When the lease runs out and another worker may take the job.
    pub locked_until: Option<DateTimeUtc>,
    /// An enqueue met the job running: run it again as soon as it finishes.
    pub dirty: bool,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Where a job stands in the queue. Stored lower-case (`varchar(12)`); the
/// queue's hand-written SQL (`api::jobs::queue`) names these same strings.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(12))")]
pub enum Status {
    /// Waiting for `run_at`.
    #[sea_orm(string_value = "queued")]
    Queued,
    /// Held by a worker until `locked_until`.
    #[sea_orm(string_value = "running")]
    Running,
    /// Failed for good: kept with its last error until the same work is
    /// enqueued again.
    #[sea_orm(string_value = "dead")]
    Dead,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
