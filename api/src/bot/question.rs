//! Answering "to whom?" by typing: the friend's handle (with or without
//! `@`), `to <handle>`, their display name in any case, or their number in
//! the list the question showed, all as good as tapping the quick reply.
//!
//! A message that reads as a command (`friends`, `help`, a new link…) runs
//! as that command and leaves the question open: commands win, so a friend
//! whose handle is a command word is picked as `@stats` or by number. An
//! answer that names none of the friends asks again with the list; an
//! answer after the question expired says so, as a late tap does.
use super::sharing;
use crate::{
    app::App,
    jobs::JobError,
    messenger::questions::{self, Choice},
    notify::replies::Reply,
    spotify::catalog,
};
use entity::users;

/// The question, or its repetition: `lead`, then the friends numbered, with
/// a quick reply for each.
pub fn whom(lead: &str, choices: &[Choice]) -> Reply {
    let list: Vec<String> = choices
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}. @{} ({})", i + 1, c.handle, c.name))
        .collect();
    Reply {
        text: format!(
            "{lead}\nTap a friend, or write their number or handle:\n{}",
            list.join("\n")
        ),
        quick_replies: choices
            .iter()
            .map(|c| (format!("@{}", c.handle), format!("SEND:{}", c.handle)))
            .collect(),
        ..Reply::default()
    }
}

/// The answer to an answer that came too late.
pub fn expired() -> Reply {
    Reply::text("That question has expired: paste the link again.")
}

/// The friend a typed answer names, if it names exactly one of `choices`.
pub fn pick<'a>(answer: &str, choices: &'a [Choice]) -> Option<&'a Choice> {
    let mut text = answer.trim();
    if let Some((to, rest)) = text.split_once(char::is_whitespace)
        && to.eq_ignore_ascii_case("to")
    {
        text = rest.trim();
    }
    let text = text.trim_end_matches(['.', '!']);
    if let Ok(number) = text.trim_start_matches('#').parse::<usize>() {
        return number.checked_sub(1).and_then(|i| choices.get(i));
    }
    let lower = text.to_lowercase();
    let handle = lower.strip_prefix('@').unwrap_or(&lower);
    if let Some(choice) = choices.iter().find(|c| c.handle.to_lowercase() == handle) {
        return Some(choice);
    }
    let mut named = choices.iter().filter(|c| c.name.to_lowercase() == lower);
    match (named.next(), named.next()) {
        (Some(choice), None) => Some(choice),
        _ => None,
    }
}

/// Reads `text` (which is no command) as the answer to the question asked
/// of `psid`; `None` when no question was asked, or one expired and `text`
/// names none of its friends: then it is an ordinary unknown message.
pub async fn typed(app: &App, psid: &str, user: &users::Model, text: &str) -> Result<Option<Vec<Reply>>, JobError> {
    let Some(asked) = questions::asked(&app.db, psid, app.clock.now()).await? else {
        return Ok(None);
    };
    let picked = pick(text, &asked.choices).cloned();
    let reply = match picked {
        Some(_) if !asked.open => {
            questions::close(&app.db, psid).await?;
            expired()
        }
        Some(choice) => {
            questions::close(&app.db, psid).await?;
            sharing::send(app, user, &choice.handle, &asked.track_id, None).await?
        }
        None if !asked.open || asked.choices.is_empty() => return Ok(None),
        None => {
            let song = catalog::find(&app.db, &asked.track_id)
                .await?
                .map_or_else(|| "that song".to_owned(), |track| track.describe());
            whom(&format!("I didn't catch who should get {song}."), &asked.choices)
        }
    };
    Ok(Some(vec![reply]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn friends() -> Vec<Choice> {
        [("alex", "Alex Kim"), ("kim", "Kim"), ("sam1", "Sam"), ("sam2", "Sam")]
            .into_iter()
            .map(|(handle, name)| Choice {
                handle: handle.into(),
                name: name.into(),
            })
            .collect()
    }

    #[test]
    fn typed_answers_name_one_friend() {
        let choices = friends();
        let handle = |text: &str| pick(text, &choices).map(|c| c.handle.as_str());
        for text in [
            "alex", "@alex", "@Alex", "to alex", "To @ALEX", "alex kim", "ALEX KIM", " 1 ", "1.", "#1",
        ] {
            assert_eq!(handle(text), Some("alex"), "{text}");
        }
        assert_eq!(handle("2"), Some("kim"));
        assert_eq!(handle("to kim"), Some("kim"));
        assert_eq!(handle("sam2"), Some("sam2"));
        for text in ["", "0", "5", "someone", "to", "to nobody", "alexx", "kim please", "sam"] {
            assert_eq!(handle(text), None, "{text}: none, or two friends called Sam");
        }
        assert_eq!(
            pick("SAM", &choices[3..]).map(|c| c.handle.as_str()),
            Some("sam2"),
            "the one Sam, by name"
        );
    }
}
