//! `friends`, `add`, `inbox`, `stats`, `now`.
use super::explain;
use crate::notify::replies::Reply;
use crate::{
    accounts::users,
    app::App,
    error::Error,
    friends::{self, Status},
    jobs::JobError,
    listening::{self, Asker, Seen},
    messenger::send_api::limits,
    notify::texts::elapsed,
    paging::Page,
    shares::{self, Mailbox, stats},
    spotify::catalog,
};
use entity::users as user;

pub async fn friends(app: &App, me: &user::Model) -> Result<Reply, JobError> {
    let list = friends::list_with_users(&app.db, me.id).await?;
    let names = |status: Status| -> Vec<String> {
        list.iter()
            .filter(|(f, _)| f.status == status)
            .map(|(_, u)| format!("@{}", u.handle))
            .collect()
    };
    let (accepted, incoming, requested) = (
        names(Status::Accepted),
        names(Status::Incoming),
        names(Status::Requested),
    );
    if list.is_empty() {
        return Ok(Reply::text("No friends yet: send `add <handle>` to ask someone."));
    }
    let mut lines = Vec::new();
    if !accepted.is_empty() {
        lines.push(format!("Your friends: {}", accepted.join(", ")));
    }
    if !incoming.is_empty() {
        lines.push(format!(
            "Want to be your friend: {} (send `add <handle>` to accept)",
            incoming.join(", ")
        ));
    }
    if !requested.is_empty() {
        lines.push(format!("Waiting for: {}", requested.join(", ")));
    }
    Ok(Reply::text(lines.join("\n")))
}

pub async fn add(app: &App, me: &user::Model, handle: &str) -> Result<Reply, JobError> {
    match app.friends.add(me.id, handle).await {
        Ok(friendship) => {
            let other = users::get(&app.db, friendship.other_user_id).await?;
            Ok(Reply::text(match friendship.status {
                Status::Accepted => format!("You and @{} are friends 🎉 Send them a song!", other.handle),
                Status::Requested => format!("Friend request sent to @{}.", other.handle),
                Status::Incoming => format!("@{} asked to be your friend.", other.handle),
            }))
        }
        Err(Error::NotFound(_)) => Ok(Reply::text(format!(
            "I don't know anyone called @{}. Check the handle?",
            handle.trim_start_matches('@')
        ))),
        Err(err) => explain(err),
    }
}

/// How much of the `inbox` answer is written before "…and N more in the
/// app": three messages' worth (the Send API takes 2,000 characters a
/// message; a longer answer is split between lines).
const INBOX_CHARS: usize = 3 * limits::MAX_TEXT;
/// The pending shares `inbox` looks at.
const INBOX_PAGE: u64 = 50;

pub async fn inbox(app: &App, me: &user::Model) -> Result<Reply, JobError> {
    let pending_only = Some(entity::shares::Status::Pending);
    let page = Page {
        first: INBOX_PAGE,
        after: None,
    };
    let (pending, more) = shares::list(&app.db, me.id, Mailbox::Received, pending_only, page).await?;
    if pending.is_empty() {
        return Ok(Reply::text(
            "Nothing waiting: you've played everything friends sent you.",
        ));
    }
    let total = match more {
        true => shares::count(&app.db, me.id, Mailbox::Received, pending_only).await? as usize,
        false => pending.len(),
    };
    let mut lines = vec!["Songs waiting for you:".to_owned()];
    // Room for the last line, "…and N more in the app."
    let mut room = INBOX_CHARS - 40 - lines[0].chars().count();
    for share in &pending {
        let track = catalog::find(&app.db, &share.track_id).await?;
        let sender = users::get(&app.db, share.sender_id).await?;
        let song = track.as_ref().map(entity::tracks::Model::describe).unwrap_or_default();
        // Their own link: tapping it tells the sender they opened it.
        let line = format!("• {song} from @{} {}", sender.handle, app.tracked_links.link(share));
        let length = line.chars().count() + 1;
        if length > room {
            break;
        }
        room -= length;
        lines.push(line);
    }
    let left = total - (lines.len() - 1);
    if left > 0 {
        lines.push(format!("…and {left} more in the app."));
    }
    Ok(Reply::text(lines.join("\n")))
}

pub async fn stats(app: &App, me: &user::Model) -> Result<Reply, JobError> {
    let s = stats::for_user(&app.db, me.id).await?;
    if s.shares_sent == 0 && s.shares_received == 0 {
        return Ok(Reply::text(
            "No songs shared yet. Paste a Spotify link to send one to a friend.",
        ));
    }
    let mut text = format!("You've sent {} songs; {} were played", s.shares_sent, s.sent_played);
    if let Some(rate) = s.play_rate {
        text.push_str(&format!(" ({:.0}%)", rate * 100.0));
    }
    if let Some(median) = s.median_seconds_to_play {
        text.push_str(&format!(
            ", usually {} after you shared them",
            elapsed(chrono::TimeDelta::seconds(median))
        ));
    }
    text.push_str(&format!(". Friends sent you {}.", s.shares_received));
    Ok(Reply::text(text))
}

pub async fn now(app: &App, me: &user::Model, handle: &str) -> Result<Reply, JobError> {
    match listening::now_playing(app, Asker::Person(me.id), handle).await {
        Ok(Seen::Playing(playing)) => {
            let link = playing
                .track
                .as_ref()
                .map(|t| format!(" https://open.spotify.com/track/{}", t.id))
                .unwrap_or_default();
            Ok(Reply::text(format!("{}{link}", playing.text)))
        }
        Ok(Seen::Unknown) => Ok(Reply::text(format!(
            "I don't know anyone called @{}. Check the handle?",
            handle.trim_start_matches('@')
        ))),
        Ok(Seen::Hidden { handle }) => Ok(Reply::text(format!(
            "@{handle} isn't your friend yet: send `add {handle}` first."
        ))),
        Err(err) => explain(err),
    }
}
