//! SeaORM entities: one module per table, with the row and the typed values
//! its columns hold (statuses and kinds are enums, stored as the same
//! strings they always were: see the test below). No HTTP or GraphQL types
//! live here, and no logic beyond how a row reads; the domains are in
//! `api`, where each table has one door (named in its module's comment,
//! checked by `tests/tidy.rs`).
pub mod bot_questions;
pub mod bot_replies;
pub mod deliveries;
pub mod devices;
pub mod friendships;
pub mod jobs;
pub mod link_codes;
pub mod messenger_greetings;
pub mod messenger_inbox;
pub mod messenger_links;
pub mod oauth_states;
pub mod persisted_queries;
pub mod play_events;
pub mod refresh_tokens;
pub mod sandbox_secrets;
pub mod sessions;
pub mod share_activities;
pub mod share_messages;
pub mod share_reactions;
pub mod shares;
pub mod spotify_clients;
pub mod spotify_links;
pub mod throttles;
pub mod tracks;
pub mod users;

#[cfg(test)]
mod tests {
    //! The stored strings are the database's contents: these lists are what
    //! rows written before the enums existed hold, and must not change.
    use sea_orm::ActiveEnum;

    fn stored<E: ActiveEnum<Value = String> + sea_orm::Iterable>() -> Vec<String> {
        E::iter().map(|value| value.to_value()).collect()
    }

    #[test]
    fn statuses_are_stored_as_they_always_were() {
        assert_eq!(
            stored::<crate::shares::Status>(),
            ["PENDING", "PLAYED", "EXPIRED", "CANCELLED"]
        );
        assert_eq!(
            stored::<crate::deliveries::Status>(),
            ["PENDING", "SENDING", "SENT", "FAILED", "SKIPPED"]
        );
        assert_eq!(stored::<crate::deliveries::Channel>(), ["MESSENGER", "PUSH"]);
        assert_eq!(
            stored::<crate::deliveries::EventKind>(),
            [
                "share_played",
                "share_received",
                "relink_required",
                "share_opened",
                "share_listening",
                "share_expired",
                "consent_expiring",
                "share_reacted",
                "share_replied"
            ]
        );
        assert_eq!(
            stored::<crate::share_activities::Kind>(),
            [
                "OPENED",
                "LISTENING",
                "PLAYED",
                "EXPIRED",
                "CANCELLED",
                "REACTED",
                "REPLIED"
            ]
        );
        assert_eq!(stored::<crate::jobs::Status>(), ["queued", "running", "dead"]);
        assert_eq!(stored::<crate::spotify_links::Status>(), ["ACTIVE", "RELINK_REQUIRED"]);
        assert_eq!(
            stored::<crate::spotify_clients::PauseReason>(),
            ["RATE_LIMIT", "QUOTA_EXCEEDED"]
        );
        assert_eq!(stored::<crate::devices::Platform>(), ["ANDROID", "IOS", "WEB"]);
        assert_eq!(
            stored::<crate::messenger_inbox::Kind>(),
            [
                "message",
                "quick_reply",
                "postback",
                "reply",
                "reaction",
                "referral",
                "attachment"
            ]
        );
    }
}
