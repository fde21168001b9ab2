//! The `link_codes` table: single-use codes that link a Messenger sender to
//! the account that made them (hashed). Door: `api::accounts::link_codes`.
use sea_orm::entity::prelude::*;

/// A 16-digit code that links a Messenger sender to an account.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "link_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// SHA-256 of the digits, hex: the code itself is never stored.
    #[sea_orm(unique)]
    pub code_hash: String,
    pub user_id: Uuid,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
