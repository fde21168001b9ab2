//! The Messenger bot: what people write to the page ([`command`]), typed
//! answers to its questions ([`question`]), and the answers, in short, friendly replies that say what to do next. The
//! [`inbox::HandleInbox`] job hands it one sender's events in order.
//!
//! An edge: commands are thin callers of the same domain functions the
//! GraphQL API uses, and every word the bot says is written here.
use chrono::{DateTime, Utc};

use crate::{
    accounts::link_codes,
    app::App,
    error::Error,
    jobs::JobError,
    messenger::{inbox as stored, links},
    notify::replies::Reply,
};
use entity::{messenger_inbox, messenger_inbox::Kind, users};

mod account;
mod attachment;
pub mod command;
pub mod inbox;
mod question;
mod sharing;
mod social;

pub use account::{LINK_WORDS, connected, greeting};
use command::Command;

/// The Get Started button's payload.
pub const GET_STARTED: &str = "GET_STARTED";

/// Handles one stored event; answers the replies to send.
pub async fn handle(app: &App, event: &messenger_inbox::Model) -> Result<Vec<Reply>, JobError> {
    let psid = event.psid.as_str();
    let sent_at = stored::sent_at(event, app.clock.now());
    let user = links::linked_user(&app.db, psid).await?;
    // A link code carried as the `ref` of an m.me link (the button on the
    // Spotify page) counts as if it had been typed.
    let code = event.referral.as_deref().and_then(link_codes::normalize);
    let replies = match event.kind {
        Kind::Reply | Kind::Reaction => social::answered(app, event).await?,
        Kind::Referral => match code {
            Some(code) => account::link_code(app, psid, &code, sent_at).await?,
            None => Vec::new(),
        },
        Kind::Postback if event.payload.as_deref() == Some(GET_STARTED) => match (code, &user) {
            (Some(code), _) => account::link_code(app, psid, &code, sent_at).await?,
            (None, Some(user)) => vec![account::welcome_back(user), account::help()],
            (None, None) => vec![account::first_steps(app, psid, "")],
        },
        Kind::QuickReply => match (event.payload.as_deref().and_then(|p| p.strip_prefix("SEND:")), &user) {
            (Some(handle), Some(user)) => sharing::answer(app, psid, user, handle).await?,
            (_, None) => vec![account::first_steps(app, psid, "")],
            _ => vec![account::help()],
        },
        // One answer per message: for a chat not linked yet, it says how
        // to link it too.
        Kind::Attachment => match &user {
            Some(_) => vec![attachment::answer(event.payload.as_deref())],
            None => vec![account::first_steps(
                app,
                psid,
                &attachment::unlinked_lead(event.payload.as_deref()),
            )],
        },
        Kind::Message | Kind::Postback => {
            let text = command::text_of(event.text.as_deref(), event.shared_url.as_deref());
            let command = command::parse(&text);
            // Typing the answer to "to whom?" is as good as tapping it;
            // anything that reads as a command runs as one.
            let answered = match (&command, &user) {
                (Command::Unknown, Some(user)) if matches!(event.kind, Kind::Message) => {
                    question::typed(app, psid, user, &text).await?
                }
                _ => None,
            };
            match answered {
                Some(replies) => replies,
                None => dispatch(app, psid, user, command, sent_at).await?,
            }
        }
    };
    Ok(replies)
}

/// Says that the bot is an automated assistant, at the end of the first of
/// `replies`, unless one of them says so already (the greetings do).
pub fn disclose(replies: &mut [Reply]) {
    if replies.iter().any(|reply| reply.text.contains(account::AUTOMATED)) {
        return;
    }
    if let Some(first) = replies.first_mut() {
        first
            .text
            .push_str(&format!("\n\n(Send Songs is {}.)", account::AUTOMATED));
    }
}

async fn dispatch(
    app: &App,
    psid: &str,
    user: Option<users::Model>,
    command: Command,
    sent_at: DateTime<Utc>,
) -> Result<Vec<Reply>, JobError> {
    let Some(user) = user else {
        return Ok(match command {
            Command::Link(code) => account::link_code(app, psid, &code, sent_at).await?,
            Command::Connect => vec![account::connect(app, psid, None)],
            Command::Help => vec![account::help_unlinked(app, psid)],
            Command::Send { .. } => vec![account::first_steps(app, psid, "To share songs, connect first. ")],
            Command::OtherLink => vec![account::first_steps(
                app,
                psid,
                &attachment::unlinked_lead(Some("fallback")),
            )],
            Command::Unknown => vec![account::first_steps(app, psid, "")],
            _ => vec![account::first_steps(app, psid, "That needs a linked chat. ")],
        });
    };
    Ok(match command {
        Command::Help | Command::Unknown => vec![account::help()],
        Command::OtherLink => vec![attachment::answer(Some("fallback"))],
        Command::Link(code) => account::link_code(app, psid, &code, sent_at).await?,
        Command::Connect => vec![account::connect(app, psid, Some(&user))],
        Command::Stop => vec![account::stop(app, psid, &user).await?],
        Command::Send {
            track,
            to: Some(to),
            note,
        } => vec![sharing::send(app, &user, &to, &track, note).await?],
        Command::Send { track, to: None, .. } => sharing::ask_whom(app, psid, &user, &track).await?,
        Command::Friends => vec![social::friends(app, &user).await?],
        Command::Add(handle) => vec![social::add(app, &user, &handle).await?],
        Command::Inbox => vec![social::inbox(app, &user).await?],
        Command::Stats => vec![social::stats(app, &user).await?],
        Command::Now(handle) => vec![social::now(app, &user, &handle).await?],
    })
}

/// The answer to a message the bot failed on (its error is logged).
pub fn sorry() -> Reply {
    Reply::text("Sorry, something went wrong on my side with that message. Please try it again in a minute.")
}

/// A domain error as a reply, when it is the person's to fix; internal
/// trouble is the inbox job's (it answers with [`sorry`]).
fn explain(err: Error) -> Result<Reply, JobError> {
    match err {
        Error::Internal(_) => Err(err.into()),
        Error::UpstreamUnavailable(_) => Ok(Reply::text("Spotify isn't answering right now. Try again in a minute.")),
        other => Ok(Reply::text(other.to_string())),
    }
}
