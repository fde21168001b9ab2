//! Welcome, help, linking (codes and `connect`) and `stop`.
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ActiveModelTrait as _, ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _, Set};
use uuid::Uuid;

use crate::notify::replies::Reply;
use crate::{
    accounts::{link_codes, users},
    app::App,
    jobs::JobError,
    messenger::links,
    spotify::{oauth, vault},
};
use entity::{link_code_failures, users as user};

/// Wrong codes one sender may send in an hour.
pub const WRONG_CODES_PER_HOUR: u64 = 5;

pub fn help() -> Reply {
    Reply::text(
        "Here's what I can do:\n\
         • send <Spotify link> to <handle> [note]: share a song (or just paste a link)\n\
         • friends · add <handle>\n\
         • inbox: songs friends sent you\n\
         • stats · now <handle>\n\
         • connect: link Spotify · stop: unlink this chat",
    )
}

pub fn welcome(app: &App, psid: &str) -> Reply {
    Reply::text(format!(
        "Hi! I'm Send Songs 🎵 I tell you when friends actually play the songs you send them.\n\
         Connect your Spotify to start: {}\n\
         Already using the app? Make a link code there and send me its 16 digits.",
        oauth::personal_link(app, psid)
    ))
}

pub fn connect(app: &App, psid: &str, user: Option<&user::Model>) -> Reply {
    let link = oauth::personal_link(app, psid);
    match user {
        Some(user) => Reply::text(format!(
            "You're @{}. To connect (or reconnect) Spotify, open this link within 15 minutes: {link}",
            user.handle
        )),
        None => Reply::text(format!("Open this link within 15 minutes to connect Spotify: {link}")),
    }
}

pub async fn link_code(app: &App, psid: &str, code: &str, sent_at: DateTime<Utc>) -> Result<Vec<Reply>, JobError> {
    let now = app.clock.now();
    let recent = link_code_failures::Entity::find()
        .filter(link_code_failures::Column::Psid.eq(psid))
        .filter(link_code_failures::Column::FailedAt.gt(now - TimeDelta::hours(1)))
        .count(&app.db)
        .await?;
    if recent >= WRONG_CODES_PER_HOUR {
        return Ok(vec![Reply::text(
            "That's too many wrong codes, so I'm not checking codes from you for the next hour. \
             Send connect to link with Spotify instead.",
        )]);
    }
    let Some(user_id) = link_codes::redeem(&app.db, code, now).await? else {
        link_code_failures::ActiveModel {
            id: Set(Uuid::now_v7()),
            psid: Set(psid.to_owned()),
            failed_at: Set(now),
        }
        .insert(&app.db)
        .await?;
        return Ok(vec![Reply::text(
            "That code doesn't work. Codes have 16 digits, work once, and last 30 minutes: \
             make a new one in the app (or on the Spotify page), or send connect.",
        )]);
    };
    links::link(&app.db, psid, user_id, now).await?;
    links::linked_by_message(&app.db, psid, sent_at.min(now)).await?;
    let user = users::get(&app.db, user_id).await?;
    let mut replies = vec![Reply::text(format!(
        "You're linked as @{} 🎉 Paste a Spotify link to share it with a friend, or send help.",
        user.handle
    ))];
    if vault::find(&app.db, user_id).await?.is_none() {
        replies.push(connect(app, psid, Some(&user)));
    }
    Ok(replies)
}

pub async fn stop(app: &App, psid: &str, user: &user::Model) -> Result<Reply, JobError> {
    links::unlink(&app.db, psid).await?;
    Ok(Reply::text(format!(
        "Done: this chat is no longer linked to @{}, and I won't message you here. \
         Send connect or a link code whenever you want me back.",
        user.handle
    )))
}
