//! Every error Meta documents for `POST /me/messages`, in one table:
//! what Send Songs does about each, whatever the HTTP status.
//!
//! Meta documents no HTTP status per code, and almost everything comes as
//! 400, retryable codes included (`1200`, `2`, `4`, `613`), so an answer is
//! classified on its `code` and `error_subcode` only, and on the message
//! text only where Meta gives no subcode to tell two errors of one code
//! apart (`100`: an unknown recipient against a bad parameter). Sources:
//! Meta's Messenger Platform error codes (2026), the older Send API error
//! codes page (the only one listing `1200`), and the Graph API's Handling
//! Errors guide; `tests/fixtures/messenger/send_api/` keeps a body per row,
//! with where each was documented or observed.
//!
//! A code absent from the table (Meta adds codes without notice) is
//! retried when the answer says it is transient (`is_transient`, or an
//! HTTP status of 500 and above) and fails otherwise, its code in the
//! reason; an answer that is not Graph JSON at all (a front end's 502
//! page) is retried on 5xx and 429.
use reqwest::StatusCode;
use serde_json::Value;

/// What Send Songs does about an answer of the Send API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Temporary: tried again after the outbox's backoff.
    Retry,
    /// Temporary, but for hours (a restriction or block of the page):
    /// tried again after [`Class::LONG_WAIT`], and the operator is told
    /// once.
    RetryLater,
    /// Permanent for this message: it ends FAILED with the reason.
    Failed,
    /// The person cannot be reached: FAILED, and nothing more is sent to
    /// them until they write to the page again.
    Unreachable,
    /// The page, the app or the token is wrong: FAILED, and the operator
    /// is told once (never the person's fault).
    Operator,
}

impl Class {
    /// How long a [`Class::RetryLater`] message waits before its next try
    /// (Meta measures page restrictions in hours or days).
    pub const LONG_WAIT: std::time::Duration = std::time::Duration::from_secs(3600);

    /// Whether the operator must hear of it.
    pub fn concerns_the_operator(self) -> bool {
        matches!(self, Self::Operator | Self::RetryLater)
    }
}

/// Which subcodes a row covers.
#[derive(Debug, Clone, Copy)]
enum Sub {
    /// Any subcode, or none: the code means one thing.
    Any,
    /// Only an answer without a subcode.
    Absent,
    Is(i64),
}

/// One row of the table.
struct Row {
    code: i64,
    sub: Sub,
    /// Matched in the message (case-insensitively) when the code and
    /// subcode alone cannot tell.
    message: Option<&'static str>,
    class: Class,
    /// What happened, for the delivery log: people read it.
    reason: &'static str,
}

const fn row(code: i64, sub: Sub, class: Class, reason: &'static str) -> Row {
    Row {
        code,
        sub,
        message: None,
        class,
        reason,
    }
}

const fn when(code: i64, message: &'static str, class: Class, reason: &'static str) -> Row {
    Row {
        code,
        sub: Sub::Absent,
        message: Some(message),
        class,
        reason,
    }
}

use Class::{Failed, Operator, Retry, RetryLater, Unreachable};
use Sub::{Absent, Any, Is};

const OUTSIDE_WINDOW: &str = "outside Messenger's 24-hour window: they have not written to the page since";
const MARKETING: &str = "a marketing-message limit (Send Songs sends none)";
const ATTACHMENT: &str = "Messenger could not use the message's attachment";

/// The table: the first row that matches decides. Rows for a code's
/// subcodes come before the row for the code.
const TABLE: &[Row] = &[
    row(1, Any, Retry, "Messenger had an unknown error"),
    row(
        2,
        Is(2_018_344),
        Operator,
        "the page has not accepted Meta's privacy terms",
    ),
    row(2, Any, Retry, "Messenger is temporarily unavailable"),
    row(4, Is(2_018_354), Failed, MARKETING),
    row(4, Any, Retry, "the app's request limit was reached"),
    row(9, Is(2_018_352), Failed, MARKETING),
    row(
        10,
        Absent,
        Operator,
        "the app is not allowed to send messages for the page",
    ),
    row(10, Is(1_404_170), Failed, MARKETING),
    row(10, Is(1_893_015), Failed, MARKETING),
    row(
        10,
        Is(1_893_063),
        RetryLater,
        "the page is temporarily restricted from sending messages",
    ),
    row(10, Is(2_018_065), Failed, OUTSIDE_WINDOW),
    row(
        10,
        Is(2_018_108),
        Unreachable,
        "they can't receive messages from the page right now",
    ),
    row(10, Is(2_018_278), Failed, OUTSIDE_WINDOW),
    row(10, Is(2_018_336), Failed, "Messenger restricts this conversation"),
    row(10, Is(2_534_022), Failed, OUTSIDE_WINDOW),
    row(17, Any, Retry, "too many calls: Messenger asked to slow down"),
    row(32, Any, Retry, "the page's request limit was reached"),
    when(100, "no matching user", Unreachable, "Messenger knows no such person"),
    when(100, "invalid fbid", Unreachable, "Messenger knows no such person"),
    when(100, "message[text]", Failed, "the text is longer than Messenger allows"),
    row(100, Is(2_018_001), Unreachable, "Messenger knows no such person"),
    row(100, Is(33), Unreachable, "Messenger knows no such person"),
    row(100, Is(2_018_164), Operator, "the app id is wrong for this page"),
    row(100, Is(2_018_034), Failed, "the message was empty"),
    row(100, Is(2_018_008), Failed, ATTACHMENT),
    row(
        100,
        Is(2_018_014),
        Failed,
        "the message and a sender action were sent together",
    ),
    row(100, Is(2_018_047), Failed, ATTACHMENT),
    row(100, Is(2_018_074), Failed, ATTACHMENT),
    row(100, Is(2_018_109), Failed, ATTACHMENT),
    row(100, Is(2_018_294), Failed, ATTACHMENT),
    row(100, Is(2_018_320), Failed, "Messenger refused a product template"),
    row(100, Is(2_018_328), Failed, "Messenger refused a product template"),
    row(100, Any, Failed, "Messenger refused the message as invalid"),
    row(
        190,
        Any,
        Operator,
        "the page's access token was refused (invalid or expired): set a new MESSENGER_PAGE_TOKEN",
    ),
    row(
        200,
        Is(1_545_041),
        Unreachable,
        "they aren't available on Messenger right now",
    ),
    row(200, Is(2_018_021), Failed, "phone-number matching is not set up"),
    row(200, Is(2_018_027), Failed, "phone-number messaging is not approved"),
    row(
        200,
        Is(2_018_028),
        Operator,
        "the app may only message its admins, developers and testers until Meta approves it",
    ),
    row(
        200,
        Absent,
        Operator,
        "the app may only message its admins, developers and testers until Meta approves it",
    ),
    row(341, Any, Retry, "the app's request limit was reached"),
    row(
        368,
        Any,
        RetryLater,
        "the page is temporarily blocked for policy violations",
    ),
    row(
        551,
        Any,
        Unreachable,
        "they aren't receiving messages from the page right now",
    ),
    row(613, Is(1_893_016), Failed, MARKETING),
    row(613, Is(2_018_338), RetryLater, "Messenger asked the page to slow down"),
    row(613, Any, Retry, "the send rate limit was reached"),
    row(1200, Any, Retry, "Messenger had a temporary send failure"),
    row(
        2022,
        Any,
        RetryLater,
        "Messenger temporarily disabled the page's messages",
    ),
    row(2_018_300, Any, Failed, "another app is handling this conversation now"),
    row(2_018_321, Any, Retry, "an automated question flow is in progress"),
];

/// What an answer of the Send API comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub class: Class,
    /// Readable, with Meta's code: "Messenger had a temporary send
    /// failure (Messenger error 1200/2018024)".
    pub reason: String,
    /// `(code, subcode)`, when the answer had a Graph error.
    pub code: Option<(i64, Option<i64>)>,
}

/// Classifies a failed answer: its HTTP status and body.
pub fn classify(status: StatusCode, body: &[u8]) -> Classified {
    let json: Value = serde_json::from_slice(body).unwrap_or_default();
    let error = &json["error"];
    let Some(code) = error["code"].as_i64() else {
        let retry = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
        return Classified {
            class: if retry { Retry } else { Failed },
            reason: format!("the Send API answered HTTP {}", status.as_u16()),
            code: None,
        };
    };
    let subcode = error["error_subcode"].as_i64();
    let message = error["message"].as_str().unwrap_or_default().to_lowercase();
    let named = match subcode {
        Some(subcode) => format!("Messenger error {code}/{subcode}"),
        None => format!("Messenger error {code}"),
    };
    let found = TABLE.iter().find(|row| {
        row.code == code
            && match row.sub {
                Any => true,
                Absent => subcode.is_none(),
                Is(expected) => subcode == Some(expected),
            }
            && row.message.is_none_or(|text| message.contains(text))
    });
    let (class, reason) = match found {
        Some(row) => (row.class, format!("{} ({named})", row.reason)),
        None => {
            let transient = error["is_transient"].as_bool() == Some(true) || status.is_server_error();
            let what = if transient { Retry } else { Failed };
            (what, format!("Messenger refused the message ({named}, not documented)"))
        }
    };
    Classified {
        class,
        reason,
        code: Some((code, subcode)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn class(status: u16, body: Value) -> Class {
        classify(StatusCode::from_u16(status).unwrap(), body.to_string().as_bytes()).class
    }

    fn graph(code: i64, subcode: Option<i64>, message: &str) -> Value {
        let mut error = json!({ "message": message, "type": "OAuthException", "code": code, "fbtrace_id": "A" });
        if let Some(subcode) = subcode {
            error["error_subcode"] = json!(subcode);
        }
        json!({ "error": error })
    }

    #[test]
    fn the_status_does_not_decide_for_a_known_code() {
        assert_eq!(class(400, graph(1200, Some(2_018_024), "x")), Retry);
        assert_eq!(class(500, graph(551, None, "x")), Unreachable);
        assert_eq!(class(400, graph(10, Some(1_893_063), "x")), RetryLater);
        assert_eq!(class(400, graph(10, None, "x")), Operator);
    }

    #[test]
    fn code_100_without_a_subcode_is_told_apart_by_its_message() {
        assert_eq!(
            class(400, graph(100, None, "(#100) No matching user found")),
            Unreachable
        );
        assert_eq!(class(400, graph(100, None, "(#100) Invalid fbid.")), Unreachable);
        assert_eq!(
            class(400, graph(100, None, "(#100) The parameter recipient is required")),
            Failed
        );
    }

    #[test]
    fn unknown_codes_and_bodies() {
        assert_eq!(class(400, graph(4_242_424, Some(1), "new")), Failed);
        assert_eq!(class(503, graph(4_242_424, None, "new")), Retry);
        let mut transient = graph(4_242_424, None, "new");
        transient["error"]["is_transient"] = json!(true);
        assert_eq!(class(400, transient), Retry);
        assert_eq!(classify(StatusCode::BAD_GATEWAY, b"<html>Sorry</html>").class, Retry);
        assert_eq!(classify(StatusCode::NOT_FOUND, b"<html>no</html>").class, Failed);
        let reason = classify(
            StatusCode::BAD_REQUEST,
            graph(4_242_424, Some(9), "x").to_string().as_bytes(),
        )
        .reason;
        assert!(reason.contains("4242424/9"), "{reason}");
    }

    #[test]
    fn a_code_s_subcode_rows_come_before_its_own() {
        for (index, row) in TABLE.iter().enumerate() {
            let shadowed = TABLE[..index].iter().any(|earlier| {
                earlier.code == row.code
                    && earlier.message.is_none()
                    && matches!((earlier.sub, row.sub), (Any, _) | (Absent, Absent))
            });
            assert!(!shadowed, "row {index} ({}) can never match", row.code);
        }
    }
}
