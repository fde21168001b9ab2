//! The `messenger_inbox` table: webhook events stored before the bot
//! handles them. Door: `api::messenger::inbox`.
use sea_orm::entity::prelude::*;

/// A webhook event from a Messenger sender, stored before it is handled.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messenger_inbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Meta's message id: a redelivered event is ignored.
    #[sea_orm(unique)]
    pub mid: String,
    pub psid: String,
    /// Meta's event time in ms: one sender's events are handled in this order.
    pub sent_at_ms: i64,
    pub kind: Kind,
    /// What the person wrote (a message, a reply), the title of the button
    /// they tapped, or the emoji of a reaction.
    pub text: Option<String>,
    /// A button's payload, or a reaction's action (`react`, `unreact`).
    pub payload: Option<String>,
    pub received_at: DateTimeUtc,
    pub handled_at: Option<DateTimeUtc>,
    /// The message a reply or a reaction is about (Meta's `mid`).
    pub target_mid: Option<String>,
    /// A Spotify link shared into the conversation as an attachment (the
    /// Spotify app's share), unwrapped from Facebook's redirector.
    pub shared_url: Option<String>,
    /// The `ref` of the m.me link or button that opened the conversation.
    pub referral: Option<String>,
}

/// What the sender did (`varchar(16)`, snake case).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Kind {
    /// Typed a message (`text`; `shared_url` for a link shared as an
    /// attachment).
    #[default]
    #[sea_orm(string_value = "message")]
    Message,
    /// Tapped a quick-reply button (`payload`; `text` is its title).
    #[sea_orm(string_value = "quick_reply")]
    QuickReply,
    /// Tapped a button such as Get Started (`payload`; `text` is its title;
    /// `referral` when an m.me link with a `ref` opened the conversation).
    #[sea_orm(string_value = "postback")]
    Postback,
    /// Replied to an earlier message (`text`; `target_mid` the message).
    #[sea_orm(string_value = "reply")]
    Reply,
    /// Reacted to a message, or took a reaction back (`text` the emoji,
    /// `payload` `react` or `unreact`, `target_mid` the message).
    #[sea_orm(string_value = "reaction")]
    Reaction,
    /// Opened an existing conversation through an m.me link or an ad
    /// (`referral`).
    #[sea_orm(string_value = "referral")]
    Referral,
    /// Sent something without text that holds no Spotify link: photos,
    /// stickers, audio, video, files, a location, a card, a reel, a story
    /// mention, a product, a link elsewhere (`payload`: Meta's attachment
    /// types, comma-separated, a sticker sent as an image counted as
    /// `sticker`; none when the message held nothing readable).
    #[sea_orm(string_value = "attachment")]
    Attachment,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
