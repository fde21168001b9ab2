//! Welcome, help, linking (codes and `connect`) and `stop`.
use chrono::{DateTime, Utc};

use crate::{
    app::App,
    jobs::JobError,
    linking::{
        messenger::{self, Redeemed},
        spotify::Words,
    },
    messenger::links,
    notify::replies::Reply,
};
use entity::users as user;

/// What a linked person can do.
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

/// What a person whose chat is not linked to an account can do now, and
/// what they can do once it is.
pub fn help_unlinked(app: &App, psid: &str) -> Reply {
    Reply::text(format!(
        "This chat isn't linked to Send Songs yet, so first:\n\
         • connect your Spotify: {}\n\
         • or, if you already use the app, make a link code there and send me its 16 digits\n\
         • connect: a fresh link · help: this list\n\
         Then you can share songs with friends (paste a Spotify link), add friends, \
         and see your inbox and stats.",
        messenger::personal_link(app, psid)
    ))
}

/// How the bot says what it is: greetings, and the first answer after a
/// long silence, say it (some jurisdictions require it; Meta asks for it).
pub const AUTOMATED: &str = "an automated assistant";

/// The first thing the bot says to a person, once per conversation, before
/// its answer to what they sent.
pub fn greeting() -> Reply {
    Reply::text(format!(
        "Hi! I'm Send Songs 🎵, {AUTOMATED}: I tell you when friends actually play the songs you send them."
    ))
}

/// What a person whose chat is not linked does first: `lead` says why
/// (empty: nothing to add).
pub fn first_steps(app: &App, psid: &str, lead: &str) -> Reply {
    Reply::text(format!(
        "{lead}Connect your Spotify to start: {}\n\
         Already using the app? Make a link code there and send me its 16 digits.",
        messenger::personal_link(app, psid)
    ))
}

/// Get Started from someone linked already.
pub fn welcome_back(user: &user::Model) -> Reply {
    Reply::text(format!("Welcome back, @{}! I'm Send Songs, {AUTOMATED}.", user.handle))
}

pub fn connect(app: &App, psid: &str, user: Option<&user::Model>) -> Reply {
    let link = messenger::personal_link(app, psid);
    match user {
        Some(user) => Reply::text(format!(
            "You're @{}. To connect (or reconnect) Spotify, open this link within 15 minutes: {link}",
            user.handle
        )),
        None => Reply::text(format!("Open this link within 15 minutes to connect Spotify: {link}")),
    }
}

/// A link code the sender typed.
pub async fn link_code(app: &App, psid: &str, code: &str, sent_at: DateTime<Utc>) -> Result<Vec<Reply>, JobError> {
    Ok(match messenger::redeem_code(app, psid, code, sent_at).await? {
        Redeemed::TooManyWrongCodes => vec![Reply::text(
            "That's too many wrong codes, so I'm not checking codes from you for the next hour. \
             Send connect to link with Spotify instead.",
        )],
        Redeemed::WrongCode => vec![Reply::text(
            "That code doesn't work. Codes have 16 digits, work once, and last 30 minutes: \
             make a new one in the app (or on the Spotify page), or send connect.",
        )],
        Redeemed::Linked { user, spotify_linked } => {
            let mut replies = vec![Reply::text(format!(
                "You're linked as @{} 🎉 Paste a Spotify link to share it with a friend, or send help.",
                user.handle
            ))];
            if !spotify_linked {
                replies.push(connect(app, psid, Some(&user)));
            }
            replies
        }
    })
}

/// What a sender is told once the Spotify consent linked them to `@handle`.
/// What the bot says about a finished Spotify consent.
pub const LINK_WORDS: Words = Words {
    connected,
    not_on_allowlist,
};

/// Spotify let the person consent but refuses every call for them.
pub fn not_on_allowlist() -> Reply {
    Reply::text(
        "Spotify won't let Send Songs read your listening yet: this Send Songs runs a Spotify app in \
         development mode, which only works for people its host added. Ask the host to add your Spotify \
         e-mail under Users and Access, then send connect again.",
    )
}

pub fn connected(handle: &str) -> Reply {
    Reply::text(format!(
        "You're connected as @{handle} 🎉 Paste a Spotify link to share a song with a friend, or send help."
    ))
}

pub async fn stop(app: &App, psid: &str, user: &user::Model) -> Result<Reply, JobError> {
    links::unlink(&app.db, psid).await?;
    Ok(Reply::text(format!(
        "Done: this chat is no longer linked to @{}, and I won't message you here. \
         Send connect or a link code whenever you want me back.",
        user.handle
    )))
}
