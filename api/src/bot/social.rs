//! `friends`, `add`, `inbox`, `stats`, `now`; and reactions and replies
//! to the page's messages about a share.
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
    reacting::{self, Answer, Heard},
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
    let answers = answers_lately(app, me).await?;
    if pending.is_empty() {
        let mut lines = vec!["Nothing waiting: you've played everything friends sent you.".to_owned()];
        lines.extend(answers);
        return Ok(Reply::text(lines.join("\n")));
    }
    let total = match more {
        true => shares::count(&app.db, me.id, Mailbox::Received, pending_only).await? as usize,
        false => pending.len(),
    };
    let mut lines = vec!["Songs waiting for you:".to_owned()];
    // Room for the last line, "…and N more in the app.", and the answers.
    let answers_room: usize = answers.iter().map(|line| line.chars().count() + 1).sum();
    let mut room = INBOX_CHARS.saturating_sub(40 + lines[0].chars().count() + answers_room);
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
    lines.extend(answers);
    Ok(Reply::text(lines.join("\n")))
}

/// A reaction or a reply to a message of the page: an answer to the share
/// it is about (the reply confirmed, a reaction silently), or nothing when
/// it is about no share.
pub async fn answered(app: &App, event: &entity::messenger_inbox::Model) -> Result<Vec<Reply>, JobError> {
    Ok(match reacting::from_messenger(app, event).await? {
        Heard::Elsewhere
        | Heard::Answered {
            answer: Answer::React(_),
            ..
        } => Vec::new(),
        Heard::Answered { share, by, .. } => {
            let other = if share.sender_id == by {
                share.recipient_id
            } else {
                share.sender_id
            };
            let other = users::get(&app.db, other).await?;
            vec![Reply::text(format!("Sent your reply to @{}.", other.handle)).about(share.id)]
        }
        Heard::Refused(err) => match event.kind {
            entity::messenger_inbox::Kind::Reply => vec![explain(err)?],
            _ => Vec::new(),
        },
    })
}

/// How far back `inbox` shows friends' reactions and replies.
const ANSWERS_SINCE: chrono::TimeDelta = chrono::TimeDelta::days(7);
/// At most this many of them.
const ANSWERS_SHOWN: u64 = 5;

/// Friends' reactions and replies to my shares lately, newest first, as
/// lines (none when there are none).
async fn answers_lately(app: &App, me: &user::Model) -> Result<Vec<String>, JobError> {
    let since = app.clock.now() - ANSWERS_SINCE;
    let lately = shares::answers::lately_for(&app.db, me.id, since, ANSWERS_SHOWN).await?;
    let mut lines = Vec::new();
    for (step, share) in lately {
        let (Some(by), Some(detail)) = (step.user_id, step.detail) else {
            continue;
        };
        let by = users::get(&app.db, by).await?;
        let song = catalog::find(&app.db, &share.track_id)
            .await?
            .as_ref()
            .map(entity::tracks::Model::describe)
            .unwrap_or_default();
        lines.push(match step.kind {
            entity::share_activities::Kind::Replied => format!("• @{} replied about {song}: “{detail}”", by.handle),
            _ => format!("• @{} reacted {detail} to {song}", by.handle),
        });
    }
    if !lines.is_empty() {
        lines.insert(0, "Friends' reactions and replies:".to_owned());
    }
    Ok(lines)
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
