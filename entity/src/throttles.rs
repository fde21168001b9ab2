//! The `throttles` table: how many attempts one key (an email at log-in, a
//! Messenger sender typing codes, a person looking up tracks) made in its
//! current window. Door: `api::throttle`.
use sea_orm::entity::prelude::*;

/// One key's window: when it opened and the attempts counted in it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "throttles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub window_started_at: DateTimeUtc,
    pub attempts: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
