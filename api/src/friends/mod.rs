//! Friendships: requests, acceptance, removal (the `friendships` table).
//!
//! One row per pair. [`Friends::add`] sends a request, or accepts the
//! other's pending one; repeating it changes nothing. Each change that
//! concerns the other person is published to them as a `FriendshipChanged`
//! event. Reads that join a caller's work are functions over a connection.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbBackend, EntityTrait as _, FromQueryResult as _,
    QueryFilter as _, Set, Statement, sea_query::Expr,
};
use uuid::Uuid;

use std::{collections::HashMap, sync::Arc};

use crate::{
    accounts::users,
    cache::Caches,
    clock::Clock,
    db,
    error::{Error, Result, is_unique_violation},
    events::{Event, EventBus, Topic},
};
use entity::{friendships, users as users_entity};

/// A friendship as one of its two members sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// I asked; they have not answered.
    Requested,
    /// They asked me.
    Incoming,
    Accepted,
}

#[derive(Debug, Clone)]
pub struct Friendship {
    pub id: Uuid,
    pub other_user_id: Uuid,
    pub status: Status,
    /// When the request was made, or when it was accepted.
    pub since: DateTime<Utc>,
}

impl Friendship {
    pub fn seen_by(row: &friendships::Model, me: Uuid) -> Self {
        let status = if row.accepted {
            Status::Accepted
        } else if row.requester_id == me {
            Status::Requested
        } else {
            Status::Incoming
        };
        Self {
            id: row.id,
            other_user_id: row.other(me),
            status,
            since: row.updated_at,
        }
    }
}

/// The friendships service: adding and removing, and the cached list.
pub struct Friends {
    db: sea_orm::DatabaseConnection,
    clock: Arc<dyn Clock>,
    /// Tells the other person of a change.
    events: Arc<EventBus>,
    /// Friends lists are cached there.
    caches: Arc<Caches>,
}

fn pair(a: Uuid, b: Uuid) -> (Uuid, Uuid) {
    if a < b { (a, b) } else { (b, a) }
}

async fn find_pair(db: &impl ConnectionTrait, a: Uuid, b: Uuid) -> Result<Option<friendships::Model>> {
    let (low, high) = pair(a, b);
    Ok(friendships::Entity::find()
        .filter(friendships::Column::UserLow.eq(low))
        .filter(friendships::Column::UserHigh.eq(high))
        .one(db)
        .await?)
}

impl Friends {
    pub fn new(
        db: sea_orm::DatabaseConnection,
        clock: Arc<dyn Clock>,
        events: Arc<EventBus>,
        caches: Arc<Caches>,
    ) -> Self {
        Self {
            db,
            clock,
            events,
            caches,
        }
    }

    /// Asks `handle` to be `me`'s friend, or accepts their request; answers the
    /// friendship as `me` sees it.
    ///
    /// # Errors
    /// `NotFound` for an unknown handle; `BadUserInput` for `me`'s own;
    /// `Conflict` if the pair changed at the same moment twice.
    #[tracing::instrument(skip(self), fields(user_id = %me))]
    pub async fn add(&self, me: Uuid, handle: &str) -> Result<Friendship> {
        let other = users::get_by_handle(&self.db, handle).await?;
        if other.id == me {
            return Err(Error::bad_input("handle", "you cannot add yourself as a friend"));
        }
        let now = self.clock.now();
        // A few passes: a concurrent request for the same pair can win the
        // insert, and an accept reads back the row it changed.
        for _ in 0..3 {
            match find_pair(&self.db, me, other.id).await? {
                Some(row) if row.accepted || row.requester_id == me => return Ok(Friendship::seen_by(&row, me)),
                Some(row) => {
                    // Conditional, so of several accepts at once one tells them.
                    let accepted = friendships::Entity::update_many()
                        .col_expr(friendships::Column::Accepted, Expr::value(true))
                        .col_expr(friendships::Column::UpdatedAt, Expr::value(now))
                        .filter(friendships::Column::Id.eq(row.id))
                        .filter(friendships::Column::Accepted.eq(false))
                        .exec(&self.db)
                        .await?;
                    if accepted.rows_affected > 0 {
                        self.forget_lists(me, other.id);
                        self.publish(other.id, row.id).await;
                    }
                    continue; // read back what is stored now
                }
                None => {
                    let (low, high) = pair(me, other.id);
                    let row = friendships::ActiveModel {
                        id: Set(Uuid::now_v7()),
                        user_low: Set(low),
                        user_high: Set(high),
                        requester_id: Set(me),
                        accepted: Set(false),
                        created_at: Set(now),
                        updated_at: Set(now),
                    };
                    match row.insert(&self.db).await {
                        Ok(row) => {
                            self.forget_lists(me, other.id);
                            self.publish(other.id, row.id).await;
                            return Ok(Friendship::seen_by(&row, me));
                        }
                        Err(err) if is_unique_violation(&err) => continue,
                        Err(err) => return Err(err.into()),
                    }
                }
            }
        }
        Err(Error::Conflict(
            "that friendship changed at the same moment: try again".into(),
        ))
    }

    /// Ends a friendship, or withdraws or declines a request. Answers whether
    /// there was anything to remove.
    ///
    /// # Errors
    /// `NotFound` for an unknown handle.
    #[tracing::instrument(skip(self), fields(user_id = %me))]
    pub async fn remove(&self, me: Uuid, handle: &str) -> Result<bool> {
        let other = users::get_by_handle(&self.db, handle).await?;
        let (low, high) = pair(me, other.id);
        let deleted = friendships::Entity::delete_many()
            .filter(friendships::Column::UserLow.eq(low))
            .filter(friendships::Column::UserHigh.eq(high))
            .exec(&self.db)
            .await?;
        self.forget_lists(me, other.id);
        Ok(deleted.rows_affected > 0)
    }

    /// [`list_with_users`], through the process's cache of friends lists
    /// ([`Caches::friend_lists`]): it is on the hottest signed-in path.
    pub async fn list(&self, me: Uuid) -> Result<Vec<(Friendship, users_entity::Model)>> {
        let rows = match self.caches.friend_lists.get(&me, self.clock.now()) {
            Some(rows) => rows,
            None => {
                let rows = rows_with_users(&self.db, me).await?;
                self.caches.friend_lists.put(me, rows.clone(), self.clock.now());
                rows
            }
        };
        Ok(seen_by(rows, me))
    }

    fn forget_lists(&self, a: Uuid, b: Uuid) {
        self.caches.friend_lists.forget(&a);
        self.caches.friend_lists.forget(&b);
    }

    async fn publish(&self, user_id: Uuid, friendship_id: Uuid) {
        self.events
            .publish(Event {
                user_id,
                topic: Topic::FriendshipChanged,
                subject_id: friendship_id,
            })
            .await;
    }
}

/// `me`'s friendships and requests with the other person's user row, in one statement.
pub async fn list_with_users(db: &impl ConnectionTrait, me: Uuid) -> Result<Vec<(Friendship, users_entity::Model)>> {
    Ok(seen_by(rows_with_users(db, me).await?, me))
}

fn seen_by(rows: Vec<(friendships::Model, users_entity::Model)>, me: Uuid) -> Vec<(Friendship, users_entity::Model)> {
    rows.into_iter()
        .map(|(friendship, user)| (Friendship::seen_by(&friendship, me), user))
        .collect()
}

/// `me`'s friendship rows with the other person's row, newest change first.
async fn rows_with_users(
    db: &impl ConnectionTrait,
    me: Uuid,
) -> Result<Vec<(friendships::Model, users_entity::Model)>> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => LIST_WITH_USERS.replace("?1", "$1"),
        _ => LIST_WITH_USERS.to_owned(),
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            [me.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            let friendship = friendships::Model::from_query_result(row, "f_")?;
            let user = users_entity::Model::from_query_result(row, "")?;
            Ok((friendship, user))
        })
        .collect::<Result<_, sea_orm::DbErr>>()
        .map_err(Into::into)
}

const LIST_WITH_USERS: &str = "SELECT u.*, f.id AS f_id, f.user_low AS f_user_low, f.user_high AS f_user_high, \
     f.requester_id AS f_requester_id, f.accepted AS f_accepted, f.created_at AS f_created_at, \
     f.updated_at AS f_updated_at \
     FROM friendships f JOIN users u ON u.id = CASE WHEN f.user_low = ?1 THEN f.user_high ELSE f.user_low END \
     WHERE f.user_low = ?1 OR f.user_high = ?1 ORDER BY f.updated_at DESC";

/// One friendship by id, as `me` sees it; `None` if `me` is not in it.
pub async fn get(db: &impl ConnectionTrait, me: Uuid, id: Uuid) -> Result<Option<Friendship>> {
    let row = friendships::Entity::find_by_id(id).one(db).await?;
    Ok(row
        .filter(|row| row.user_low == me || row.user_high == me)
        .map(|row| Friendship::seen_by(&row, me)))
}

/// True when `a` and `b` are accepted friends.
pub async fn are_friends(db: &impl ConnectionTrait, a: Uuid, b: Uuid) -> Result<bool> {
    Ok(find_pair(db, a, b).await?.is_some_and(|row| row.accepted))
}

/// Friendship rows by id, many at once (the subscriptions' loader).
pub async fn load_many(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<HashMap<Uuid, friendships::Model>> {
    Ok(db::by_keys::<friendships::Entity, _>(db, friendships::Column::Id, ids, |row| row.id).await?)
}
