//! What people read: short, human, with the track link. A recipient's link
//! is their tracked link (it records that they opened the share); a
//! sender's is the plain Spotify link.
use chrono::TimeDelta;

use super::fcm::Push;
use entity::{shares, tracks, users};

/// One notice in the forms the channels need.
pub struct Texts {
    /// The Messenger message.
    pub message: String,
    pub push: Push,
}

fn track_url(track: &tracks::Model) -> String {
    format!("https://open.spotify.com/track/{}", track.id)
}

/// "2 h", "15 min", "3 days".
pub fn elapsed(delta: TimeDelta) -> String {
    let minutes = delta.num_minutes();
    match minutes {
        m if m < 1 => "moments".into(),
        m if m < 60 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h", m / 60),
        m => format!("{} days", m / (24 * 60)),
    }
}

fn data(kind: &str, share: Option<&shares::Model>, url: Option<String>) -> std::collections::BTreeMap<String, String> {
    let mut data = std::collections::BTreeMap::from([("type".to_owned(), kind.to_owned())]);
    if let Some(share) = share {
        data.insert("shareId".into(), share.id.to_string());
    }
    if let Some(url) = url {
        data.insert("url".into(), url);
    }
    data
}

/// To the sender: their song was played.
pub fn share_played(share: &shares::Model, track: &tracks::Model, recipient: &users::Model) -> Texts {
    let after = share
        .played_at
        .map(|played| elapsed(played - share.created_at))
        .unwrap_or_else(|| "moments".into());
    let song = track.describe();
    let name = &recipient.display_name;
    let url = track_url(track);
    Texts {
        message: format!("{name} played {song}, {after} after you shared it 🎧 {url}"),
        push: Push {
            title: format!("{name} played your song"),
            body: format!("{song}, {after} after you shared it"),
            data: data("share_played", Some(share), Some(url)),
        },
    }
}

/// To the sender: the recipient opened their share.
pub fn share_opened(share: &shares::Model, track: &tracks::Model, recipient: &users::Model) -> Texts {
    let song = track.describe();
    let name = &recipient.display_name;
    let url = track_url(track);
    Texts {
        message: format!("{name} opened {song}, the song you shared 👀 {url}"),
        push: Push {
            title: format!("{name} opened your song"),
            body: song,
            data: data("share_opened", Some(share), Some(url)),
        },
    }
}

/// To the sender: the recipient is playing their share now.
pub fn share_listening(share: &shares::Model, track: &tracks::Model, recipient: &users::Model) -> Texts {
    let song = track.describe();
    let name = &recipient.display_name;
    let url = track_url(track);
    Texts {
        message: format!("{name} is listening to {song}, the song you shared, right now 🎶 {url}"),
        push: Push {
            title: format!("{name} is listening to your song"),
            body: format!("{song}, right now"),
            data: data("share_listening", Some(share), Some(url)),
        },
    }
}

/// To the sender: their share expired before the recipient played it.
pub fn share_expired(share: &shares::Model, track: &tracks::Model, recipient: &users::Model) -> Texts {
    let song = track.describe();
    let name = &recipient.display_name;
    let url = track_url(track);
    let waited = elapsed(share.expires_at - share.created_at);
    Texts {
        message: format!("{name} didn't play {song} in the {waited} after you shared it. {url}"),
        push: Push {
            title: format!("{name} didn't get to your song"),
            body: format!("{song}, shared {waited} ago"),
            data: data("share_expired", Some(share), Some(url)),
        },
    }
}

/// To the recipient: a friend sent a song. `link` is their tracked link.
pub fn share_received(share: &shares::Model, track: &tracks::Model, sender: &users::Model, link: String) -> Texts {
    let song = track.describe();
    let name = &sender.display_name;
    let url = link;
    let note = share.note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
    Texts {
        message: format!("{name} sent you {song}{note} {url}"),
        push: Push {
            title: format!("{name} sent you a song"),
            body: format!("{song}{note}"),
            data: data("share_received", Some(share), Some(url)),
        },
    }
}

/// To the other person of a share: `by` reacted to it with `emoji`.
pub fn share_reacted(share: &shares::Model, track: &tracks::Model, by: &users::Model, emoji: &str) -> Texts {
    let song = track.describe();
    let name = &by.display_name;
    let url = track_url(track);
    Texts {
        message: format!("{name} reacted {emoji} to {song} {url}"),
        push: Push {
            title: format!("{name} reacted {emoji}"),
            body: song,
            data: data("share_reacted", Some(share), Some(url)),
        },
    }
}

/// To the other person of a share: `by` replied `text` to it. In
/// Messenger, a reply to this message answers them back.
pub fn share_replied(share: &shares::Model, track: &tracks::Model, by: &users::Model, text: &str) -> Texts {
    let song = track.describe();
    let name = &by.display_name;
    let url = track_url(track);
    Texts {
        message: format!("{name} replied about {song}: “{text}” {url}"),
        push: Push {
            title: format!("{name} replied about {song}"),
            body: text.to_owned(),
            data: data("share_replied", Some(share), Some(url)),
        },
    }
}

/// To someone whose Spotify link stopped working.
pub fn relink_required(reconnect_url: &str) -> Texts {
    Texts {
        message: format!(
            "Spotify needs you to reconnect Send Songs, or your friends won't get listen receipts: {reconnect_url}"
        ),
        push: Push {
            title: "Reconnect Spotify".into(),
            body: "Spotify stopped sharing what you play with Send Songs. Tap to reconnect.".into(),
            data: data("relink_required", None, Some(reconnect_url.to_owned())),
        },
    }
}

/// To someone whose Spotify consent runs out within two weeks: one tap on
/// the link (in the message, and as the push's `url`) renews it.
pub fn consent_expiring(reconnect_url: &str) -> Texts {
    Texts {
        message: format!(
            "Spotify asks you to renew Send Songs' access every six months, and yours runs out in about \
             two weeks. Tap to reconnect now and your friends keep getting listen receipts: {reconnect_url}"
        ),
        push: Push {
            title: "Renew your Spotify connection".into(),
            body: "Spotify's six-month access runs out in about two weeks. Tap to reconnect.".into(),
            data: data("consent_expiring", None, Some(reconnect_url.to_owned())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_reads_naturally() {
        assert_eq!(elapsed(TimeDelta::seconds(20)), "moments");
        assert_eq!(elapsed(TimeDelta::minutes(15)), "15 min");
        assert_eq!(elapsed(TimeDelta::minutes(130)), "2 h");
        assert_eq!(elapsed(TimeDelta::days(3)), "3 days");
    }
}
