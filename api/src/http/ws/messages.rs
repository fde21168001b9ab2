//! The messages of both subprotocols, read strictly and written compactly.
//!
//! `graphql-transport-ws`: `connection_init`, `ping`, `pong`, `subscribe`,
//! `complete` from the client; `connection_ack`, `ping`, `pong`, `next`,
//! `error`, `complete` from the server. The legacy `graphql-ws`:
//! `connection_init`, `start`, `stop`, `connection_terminate` from the
//! client; `connection_ack`, `ka`, `data`, `error`, `complete`,
//! `connection_error` from the server. Anything else is invalid.
use async_graphql::http::WebSocketProtocols as Protocols;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A message from the client, checked against its protocol.
pub enum ClientMessage {
    /// `connection_init`, with its payload (an object; empty when absent).
    Init(Map<String, Value>),
    /// `subscribe` (legacy: `start`): run an operation under this id.
    Subscribe {
        id: String,
        request: Box<async_graphql::Request>,
    },
    /// `complete` (legacy: `stop`): the client stops listening to this id.
    Complete { id: String },
    /// `ping` (graphql-transport-ws only): answer with `pong`.
    Ping,
    /// `pong` (graphql-transport-ws only): the answer to our `ping`, or
    /// sent unsolicited as a heartbeat, at any time (before the ack too).
    Pong,
    /// `connection_terminate` (legacy only): the client is leaving.
    Terminate,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    payload: Option<Value>,
}

/// Reads one text frame; `Err` says what is wrong with it, for the 4400
/// close reason (legacy: the `connection_error`).
pub fn parse(protocol: Protocols, text: &str) -> Result<ClientMessage, String> {
    let envelope: Envelope =
        serde_json::from_str(text).map_err(|_| "Invalid message: not a JSON object with a `type`".to_owned())?;
    let legacy = protocol == Protocols::SubscriptionsTransportWS;
    let id = || match &envelope.id {
        Some(id) if !id.is_empty() => Ok(id.clone()),
        _ => Err(format!("Invalid message: `{}` needs an `id`", envelope.kind)),
    };
    match (envelope.kind.as_str(), legacy) {
        ("connection_init", _) => match envelope.payload {
            None | Some(Value::Null) => Ok(ClientMessage::Init(Map::new())),
            Some(Value::Object(payload)) => Ok(ClientMessage::Init(payload)),
            Some(_) => Err("Invalid message: the `connection_init` payload must be an object".into()),
        },
        ("subscribe", false) | ("start", true) => {
            let id = id()?;
            let payload = envelope
                .payload
                .clone()
                .ok_or_else(|| format!("Invalid message: `{}` needs a payload", envelope.kind))?;
            let request = serde_json::from_value::<async_graphql::Request>(payload)
                .map_err(|_| "Invalid message: the payload is not a GraphQL request".to_owned())?;
            Ok(ClientMessage::Subscribe {
                id,
                request: Box::new(request),
            })
        }
        ("complete", false) | ("stop", true) => Ok(ClientMessage::Complete { id: id()? }),
        ("ping", false) => Ok(ClientMessage::Ping),
        ("pong", false) => Ok(ClientMessage::Pong),
        ("connection_terminate", true) => Ok(ClientMessage::Terminate),
        (kind, _) => Err(format!("Invalid message: unknown type `{}`", truncate(kind, 40))),
    }
}

/// A message to the client: `{"type", "id"?, "payload"?}`.
#[derive(Serialize)]
pub struct ServerMessage<'a, P: Serialize = ()> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<P>,
}

impl ServerMessage<'static> {
    /// A message with neither id nor payload (`connection_ack`, `ka`, `ping`, `pong`).
    pub fn bare(kind: &'static str) -> Self {
        Self {
            kind,
            id: None,
            payload: None,
        }
    }

    /// The legacy protocol's word for a refused connection or message.
    pub fn connection_error(why: &str) -> ServerMessage<'static, Value> {
        ServerMessage {
            kind: "connection_error",
            id: None,
            payload: Some(serde_json::json!({ "message": why })),
        }
    }
}

impl<'a> ServerMessage<'a> {
    /// `complete` for the operation `id`.
    pub fn complete(id: &'a str) -> Self {
        Self {
            kind: "complete",
            id: Some(id),
            payload: None,
        }
    }
}

impl<'a, P: Serialize> ServerMessage<'a, P> {
    /// A message about the operation `id` (`next`, `data`, `error`).
    pub fn about(id: &'a str, kind: &'static str, payload: P) -> Self {
        Self {
            kind,
            id: Some(id),
            payload: Some(payload),
        }
    }

    pub fn to_text(&self) -> String {
        // Serializing plain data and async-graphql responses cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary (close
/// reasons may carry 123 bytes).
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURRENT: Protocols = Protocols::GraphQLWS;
    const LEGACY: Protocols = Protocols::SubscriptionsTransportWS;

    #[test]
    fn each_protocol_reads_only_its_own_types() {
        let subscribe = r#"{"id":"1","type":"subscribe","payload":{"query":"subscription { x }","variables":null}}"#;
        assert!(matches!(parse(CURRENT, subscribe), Ok(ClientMessage::Subscribe { .. })));
        assert!(parse(LEGACY, subscribe).is_err());
        let start = r#"{"id":"1","type":"start","payload":{"query":"subscription { x }"}}"#;
        assert!(matches!(parse(LEGACY, start), Ok(ClientMessage::Subscribe { .. })));
        assert!(parse(CURRENT, start).is_err());
        assert!(matches!(parse(CURRENT, r#"{"type":"ping"}"#), Ok(ClientMessage::Ping)));
        assert!(parse(LEGACY, r#"{"type":"ping"}"#).is_err());
        assert!(matches!(
            parse(LEGACY, r#"{"type":"connection_terminate"}"#),
            Ok(ClientMessage::Terminate)
        ));
    }

    #[test]
    fn malformed_messages_say_why() {
        for text in [
            "not json",
            "[]",
            r#"{"id":"1"}"#,
            r#"{"type":"subscribe","payload":{"query":"{ a }"}}"#,
            r#"{"type":"subscribe","id":"","payload":{"query":"{ a }"}}"#,
            r#"{"type":"subscribe","id":"1"}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":7}}"#,
            r#"{"type":"connection_init","payload":"token"}"#,
            r#"{"type":"complete"}"#,
        ] {
            let why = parse(CURRENT, text)
                .err()
                .unwrap_or_else(|| panic!("{text} is invalid"));
            assert!(why.starts_with("Invalid message"), "{why}");
        }
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("hello", 10), "hello");
    }
}
