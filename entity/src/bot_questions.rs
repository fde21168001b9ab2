//! The `bot_questions` table: the question the bot asked a sender and waits
//! an answer to (which friend gets a bare link). Door: `api::messenger::questions`.
use sea_orm::entity::prelude::*;

/// "To whom?" after a bare track link: the answer completes the share.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bot_questions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub psid: String,
    pub track_id: String,
    pub expires_at: DateTimeUtc,
    /// The friends offered, in the order listed: a JSON array of
    /// `{"handle", "name"}` (`[]` on questions asked before lists were kept).
    pub choices: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
