//! The `persisted_queries` table: GraphQL documents by their SHA-256, as
//! Apollo's automatic persisted queries send them. Door:
//! `api::persisted_queries`.
use sea_orm::entity::prelude::*;

/// One query document, stored the first time a client sent it with its hash.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "persisted_queries")]
pub struct Model {
    /// Lower-case hex SHA-256 of `query`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub hash: String,
    /// The query text, exactly as sent.
    pub query: String,
    pub created_at: DateTimeUtc,
    /// When a request last used it (refreshed at most hourly per replica):
    /// the least recently used go first once the table is full.
    pub last_used_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
