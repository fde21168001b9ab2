//! Who the bot has greeted (the `messenger_greetings` table, only written
//! here): a person is greeted once per conversation, before any other
//! answer, however their first events arrive (in one POST, in parallel
//! POSTs, handled by workers of different replicas).
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait as _, Set, sea_query::OnConflict};

use entity::messenger_greetings;

/// Records that `psid` is being greeted now; answers whether this call did
/// it (`false`: they were greeted already). Called in the transaction that
/// queues the greeting: a concurrent claim for the same person waits for
/// that transaction and then finds the row, so exactly one greeting is
/// queued, and it is queued before the answers of the other claim.
pub async fn claim(db: &impl ConnectionTrait, psid: &str, now: DateTime<Utc>) -> Result<bool, DbErr> {
    let inserted = messenger_greetings::Entity::insert(messenger_greetings::ActiveModel {
        psid: Set(psid.to_owned()),
        greeted_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(messenger_greetings::Column::Psid)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(inserted > 0)
}
