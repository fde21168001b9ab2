//! The `friendships` table: one row per pair of people, a request or a
//! friendship. Door: `api::friends`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "friendships")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The smaller of the two user ids: the pair is stored in one order only.
    pub user_low: Uuid,
    pub user_high: Uuid,
    /// Who asked; the other one accepts.
    pub requester_id: Uuid,
    pub accepted: bool,
    pub created_at: DateTimeUtc,
    /// When the request was accepted, or last changed.
    pub updated_at: DateTimeUtc,
}

impl Model {
    /// The member of the pair who is not `me`.
    pub fn other(&self, me: Uuid) -> Uuid {
        if self.user_low == me {
            self.user_high
        } else {
            self.user_low
        }
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
