//! The rows the events name, inserted directly: users with open sessions,
//! one accepted friendship per pair of users and, for `played`, a share to
//! each user and its play event.
use chrono::TimeDelta;
use entity::{friendships, play_events, sessions, shares, tracks, users};
use sea_orm::{EntityTrait as _, Set, TransactionTrait as _};
use uuid::Uuid;

use crate::{
    Kind,
    common::{
        app::App,
        rows::{INSERT_ROWS, session_row, user_row},
    },
};

/// Users with open sessions, and per user the id of the row its event names.
pub struct Seeded {
    pub users: Vec<Uuid>,
    pub sessions: Vec<Uuid>,
    pub subjects: Vec<Uuid>,
}

pub async fn seed(app: &App, count: usize, kind: Kind) -> anyhow::Result<Seeded> {
    let now = app.clock.now();
    let users: Vec<Uuid> = (0..count).map(|_| Uuid::now_v7()).collect();
    let sessions: Vec<Uuid> = (0..count).map(|_| Uuid::now_v7()).collect();
    let txn = app.db.begin().await?;
    for (n, chunk) in users.chunks(INSERT_ROWS).enumerate() {
        let rows = chunk
            .iter()
            .enumerate()
            .map(|(k, id)| user_row(*id, &format!("fan{}", n * INSERT_ROWS + k), now));
        users::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    }
    for pairs in users.iter().zip(&sessions).collect::<Vec<_>>().chunks(INSERT_ROWS) {
        let rows = pairs.iter().map(|(user, session)| session_row(**user, **session, now));
        sessions::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    }
    // Users 2k and 2k+1 are friends: one row serves both.
    let partner = |i: usize| if i.is_multiple_of(2) { (i + 1) % count } else { i - 1 };
    let mut friendship_of = vec![Uuid::nil(); count];
    let mut rows = Vec::new();
    for i in (0..count).step_by(2) {
        let j = partner(i);
        let id = Uuid::now_v7();
        friendship_of[i] = id;
        friendship_of[j] = id;
        let (low, high) = if users[i] < users[j] {
            (users[i], users[j])
        } else {
            (users[j], users[i])
        };
        rows.push(friendships::ActiveModel {
            id: Set(id),
            user_low: Set(low),
            user_high: Set(high),
            requester_id: Set(users[i]),
            accepted: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        });
    }
    for chunk in rows.chunks(INSERT_ROWS) {
        friendships::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    let subjects = match kind {
        Kind::Friendship => friendship_of,
        Kind::Played => {
            tracks::Entity::insert(tracks::ActiveModel {
                id: Set("fanouttrack00000000000".into()),
                name: Set("Fan-out".into()),
                artists: Set(r#"["Bench Artist"]"#.into()),
                album: Set(None),
                duration_ms: Set(200_000),
                image_url: Set(None),
                fetched_at: Set(now),
                isrc: Set(None),
                isrc_known: Set(true),
            })
            .exec_without_returning(&txn)
            .await?;
            let share_ids: Vec<Uuid> = (0..count).map(|_| Uuid::now_v7()).collect();
            let event_ids: Vec<Uuid> = (0..count).map(|_| Uuid::now_v7()).collect();
            for chunk in (0..count).collect::<Vec<_>>().chunks(INSERT_ROWS) {
                let rows = chunk.iter().map(|&i| shares::ActiveModel {
                    id: Set(share_ids[i]),
                    sender_id: Set(users[partner(i)]),
                    recipient_id: Set(users[i]),
                    track_id: Set("fanouttrack00000000000".into()),
                    note: Set(None),
                    status: Set(shares::Status::Played),
                    created_at: Set(now - TimeDelta::minutes(10)),
                    played_at: Set(Some(now - TimeDelta::minutes(1))),
                    opened_at: Set(None),
                    listening_at: Set(None),
                    expires_at: Set(now + TimeDelta::days(7)),
                    next_check_at: Set(None),
                    updated_at: Set(now),
                });
                shares::Entity::insert_many(rows).exec_without_returning(&txn).await?;
                let events = chunk.iter().map(|&i| play_events::ActiveModel {
                    id: Set(event_ids[i]),
                    share_id: Set(share_ids[i]),
                    played_at: Set(now - TimeDelta::minutes(1)),
                    detected_at: Set(now),
                });
                play_events::Entity::insert_many(events)
                    .exec_without_returning(&txn)
                    .await?;
            }
            event_ids
        }
    };
    txn.commit().await?;
    Ok(Seeded {
        users,
        sessions,
        subjects,
    })
}
