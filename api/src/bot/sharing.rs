//! `send <link> to <handle> [note]`, and a bare link: "to whom?" with
//! quick replies of friends; the choice completes the share.
use super::{explain, question};
use crate::{
    app::App,
    error::Error,
    friends::{self, Status},
    jobs::JobError,
    messenger::{
        questions::{self, Choice},
        send_api::limits,
    },
    notify::replies::Reply,
    sharing::{self, NewShare},
    spotify::{
        catalog,
        links::{self, Parsed, TrackId},
    },
};
use entity::users;

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
    match sharing::create(app, user.id, input).await {
        Ok((share, created)) => {
            let track = catalog::find(&app.db, &share.track_id).await?;
            let song = track
                .as_ref()
                .map(entity::tracks::Model::describe)
                .unwrap_or_else(|| "that song".into());
            let to = to.trim_start_matches('@').to_lowercase();
            Ok(Reply::text(if created {
                format!("Sent {song} to @{to}. I'll tell you when they play it 🎧")
            } else {
                format!("You already sent {song} to @{to}: I'm still waiting for them to play it.")
            })
            .about(share.id))
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
        Err(err) => explain_link(err, track),
    }
}

/// A short link (spotify.link, what the Spotify app shares) that could
/// not be opened is the person's to replace; anything else as usual.
fn explain_link(err: Error, link: &str) -> Result<Reply, JobError> {
    match err {
        Error::UpstreamUnavailable(_) if matches!(links::parse(link), Ok(Parsed::ShortLink(_))) => Ok(Reply::text(
            "I couldn't open that short link. Paste the song's open.spotify.com/track/… link instead \
             (in Spotify: Share → Copy link to song).",
        )),
        other => explain(other),
    }
}

pub async fn ask_whom(app: &App, psid: &str, user: &users::Model, link: &str) -> Result<Vec<Reply>, JobError> {
    let track = match resolve(app, user, link).await {
        Ok(track) => track,
        Err(err) => return Ok(vec![explain_link(err, link)?]),
    };
    let choices: Vec<Choice> = friends::list_with_users(&app.db, user.id)
        .await?
        .into_iter()
        .filter(|(f, _)| f.status == Status::Accepted)
        .map(|(_, u)| Choice {
            handle: u.handle,
            name: u.display_name,
        })
        .take(limits::MAX_QUICK_REPLIES)
        .collect();
    if choices.is_empty() {
        return Ok(vec![Reply::text(
            "You haven't added any friends yet: send `add <handle>` first, then the link again.",
        )]);
    }
    let now = app.clock.now();
    questions::ask_whom(&app.db, psid, &track.id, &choices, now).await?;
    Ok(vec![question::whom(
        &format!("Who should get {}?", track.describe()),
        &choices,
    )])
}

/// The person picked a friend from the quick replies.
pub async fn answer(app: &App, psid: &str, user: &users::Model, handle: &str) -> Result<Vec<Reply>, JobError> {
    let Some(track_id) = questions::answer(&app.db, psid, app.clock.now()).await? else {
        return Ok(vec![question::expired()]);
    };
    Ok(vec![send(app, user, handle, &track_id, None).await?])
}

async fn resolve(app: &App, person: &users::Model, link: &str) -> Result<entity::tracks::Model, Error> {
    let id: TrackId = app.spotify.resolve(link).await?;
    app.spotify.track_for(person.id, &id).await
}
