//! Whether a play is a play of the shared track. Spotify may report the
//! same song under another track id: relinked to the instance playable in
//! the listener's market (with the shared id in `linked_from`, which
//! Development Mode apps no longer receive since February 2026), or the
//! same recording released again (a single and its album: another id, the
//! same ISRC). A play counts when its track id, its `linked_from` id or its
//! ISRC is the shared track's.
use std::collections::HashMap;

use crate::{
    app::App,
    error::Result,
    spotify::{answers::ApiTrack, catalog},
};
use entity::shares;

/// What a shared track is known by: its id, and its recording's ISRC.
#[derive(Debug, Clone, Default)]
pub struct SharedTracks {
    /// ISRC by shared track id (`None`: Spotify gives none).
    isrcs: HashMap<String, Option<String>>,
}

impl SharedTracks {
    /// The tracks of `pending` shares with their ISRCs: one query, and for
    /// a track stored before ISRCs were kept, one call to Spotify, once
    /// ever ([`Spotify::isrc`](crate::spotify::Spotify::isrc)).
    ///
    /// # Errors
    /// `Internal` for the database.
    pub async fn of(app: &App, pending: &[shares::Model]) -> Result<Self> {
        let mut ids: Vec<String> = pending.iter().map(|s| s.track_id.clone()).collect();
        ids.sort_unstable();
        ids.dedup();
        let stored = catalog::load_many(&app.db, &ids).await?;
        let mut isrcs = HashMap::with_capacity(ids.len());
        for id in ids {
            let isrc = match stored.get(&id) {
                Some(track) => app.spotify.isrc(track).await?,
                None => None,
            };
            isrcs.insert(id, isrc);
        }
        Ok(Self { isrcs })
    }

    /// Whether `played` is `share`'s track: the same id, relinked from it,
    /// or the same recording (ISRC).
    pub fn matches(&self, share: &shares::Model, played: &ApiTrack) -> bool {
        let shared = share.track_id.as_str();
        if played.id == shared || played.linked_from.as_ref().and_then(|l| l.id.as_deref()) == Some(shared) {
            return true;
        }
        let shared_isrc = self.isrcs.get(shared).and_then(Option::as_deref);
        matches!((shared_isrc, played.isrc()), (Some(a), Some(b)) if same_isrc(a, b))
    }
}

/// ISRCs are 12 characters, written upper-case, sometimes with hyphens.
fn same_isrc(a: &str, b: &str) -> bool {
    let clean = |s: &str| -> String { s.chars().filter(|c| *c != '-').collect::<String>().to_ascii_uppercase() };
    clean(a) == clean(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(id: &str, linked_from: Option<&str>, isrc: Option<&str>) -> ApiTrack {
        serde_json::from_value(serde_json::json!({
            "id": id,
            "name": "Heaven and Hell",
            "duration_ms": 380533,
            "linked_from": linked_from.map(|id| serde_json::json!({ "id": id })),
            "external_ids": isrc.map(|isrc| serde_json::json!({ "isrc": isrc })),
        }))
        .unwrap()
    }

    fn share(track_id: &str) -> shares::Model {
        crate::shares::sample(track_id, uuid::Uuid::now_v7(), chrono::Utc::now())
    }

    #[test]
    fn id_linked_from_or_isrc() {
        let shared = SharedTracks {
            isrcs: [("6kLCHFM39wkFjOuyPGLGeQ".to_owned(), Some("USLUK1300012".to_owned()))].into(),
        };
        let share = share("6kLCHFM39wkFjOuyPGLGeQ");
        assert!(shared.matches(&share, &track("6kLCHFM39wkFjOuyPGLGeQ", None, None)));
        assert!(shared.matches(
            &share,
            &track("6ozxplTAjWO0BlUxN8ia0A", Some("6kLCHFM39wkFjOuyPGLGeQ"), None)
        ));
        assert!(shared.matches(&share, &track("1aRsRelinkedNoLinkedFr", None, Some("us-luk-13-00012"))));
        assert!(!shared.matches(&share, &track("1aRsRelinkedNoLinkedFr", None, Some("USLUK1300013"))));
        assert!(!shared.matches(&share, &track("1aRsRelinkedNoLinkedFr", None, None)));
        let unknown = SharedTracks::default();
        assert!(!unknown.matches(&share, &track("1aRsRelinkedNoLinkedFr", None, Some("USLUK1300012"))));
    }
}
