//! `send <link> to <handle> [note]`, and a bare link: "to whom?" with
//! quick replies of friends; the choice completes the share.
use chrono::TimeDelta;
use sea_orm::{EntityTrait as _, Set, sea_query::OnConflict};

use super::explain;
use crate::notify::replies::Reply;
use crate::{
    app::App,
    error::Error,
    friends::{self, Status},
    jobs::JobError,
    shares::{self, NewShare},
    spotify::links::TrackId,
};
use entity::{bot_questions, users};

/// How long "to whom?" waits for an answer.
pub const QUESTION_LIFETIME: TimeDelta = TimeDelta::minutes(10);
/// Messenger shows at most 13 quick replies.
const MAX_CHOICES: usize = 13;

pub async fn send(
    app: &App,
    user: &users::Model,
    to: &str,
    track: &str,
    note: Option<String>,
) -> Result<Reply, JobError> {
    let input = NewShare {
        to: to.to_owned(),
        track: track.to_owned(),
        note,
    };
    match shares::create(app, user.id, input).await {
        Ok((share, created)) => {
            let track = entity::tracks::Entity::find_by_id(share.track_id.as_str())
                .one(&app.db)
                .await?;
            let song = track
                .as_ref()
                .map(entity::tracks::Model::describe)
                .unwrap_or_else(|| "that song".into());
            let to = to.trim_start_matches('@').to_lowercase();
            Ok(Reply::text(if created {
                format!("Sent {song} to @{to}. I'll tell you when they play it 🎧")
            } else {
                format!("You already sent {song} to @{to}: I'm still waiting for them to play it.")
            }))
        }
        Err(Error::Forbidden(_)) => {
            let handle = to.trim_start_matches('@').to_lowercase();
            Ok(Reply::text(format!(
                "@{handle} isn't your friend yet: send `add {handle}` first."
            )))
        }
        Err(Error::NotFound(_)) => Ok(Reply::text(format!(
            "I don't know anyone called @{}. Check the handle?",
            to.trim_start_matches('@')
        ))),
        Err(err) => explain(err),
    }
}

pub async fn ask_whom(app: &App, psid: &str, user: &users::Model, link: &str) -> Result<Vec<Reply>, JobError> {
    let track = match resolve(app, link).await {
        Ok(track) => track,
        Err(err) => return Ok(vec![explain(err)?]),
    };
    let friends: Vec<String> = friends::list_with_users(&app.db, user.id)
        .await?
        .into_iter()
        .filter(|(f, _)| f.status == Status::Accepted)
        .map(|(_, u)| u.handle)
        .take(MAX_CHOICES)
        .collect();
    if friends.is_empty() {
        return Ok(vec![Reply::text(
            "You haven't added any friends yet: send `add <handle>` first, then the link again.",
        )]);
    }
    let now = app.clock.now();
    bot_questions::Entity::insert(bot_questions::ActiveModel {
        psid: Set(psid.to_owned()),
        track_id: Set(track.id.clone()),
        expires_at: Set(now + QUESTION_LIFETIME),
    })
    .on_conflict(
        OnConflict::column(bot_questions::Column::Psid)
            .update_columns([bot_questions::Column::TrackId, bot_questions::Column::ExpiresAt])
            .to_owned(),
    )
    .exec_without_returning(&app.db)
    .await?;
    Ok(vec![Reply {
        text: format!("Who should get {}?", track.describe()),
        quick_replies: friends
            .into_iter()
            .map(|h| (format!("@{h}"), format!("SEND:{h}")))
            .collect(),
    }])
}

/// The person picked a friend from the quick replies.
pub async fn answer(app: &App, psid: &str, user: &users::Model, handle: &str) -> Result<Vec<Reply>, JobError> {
    let question = bot_questions::Entity::find_by_id(psid).one(&app.db).await?;
    let Some(question) = question.filter(|q| q.expires_at > app.clock.now()) else {
        return Ok(vec![Reply::text("That question has expired: paste the link again.")]);
    };
    bot_questions::Entity::delete_by_id(psid).exec(&app.db).await?;
    Ok(vec![send(app, user, handle, &question.track_id, None).await?])
}

async fn resolve(app: &App, link: &str) -> Result<entity::tracks::Model, Error> {
    let id: TrackId = app.spotify.resolve(link).await?;
    app.spotify.track(&id).await
}
