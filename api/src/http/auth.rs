//! `/auth/spotify/start` and `/auth/spotify/callback`: the browser side of
//! linking Spotify, answered with small, plain HTML pages.
//!
//! The page that shows a link code also offers, when `MESSENGER_PAGE_ID`
//! is set, a button that opens the page in Messenger with the code as the
//! m.me link's `ref` (Messenger hands it to the bot, which links the
//! person as if they had typed it), and a button that copies the code.
//! Every page is served under a Content-Security-Policy that allows only
//! its own inline style and script, by a nonce made for that response.
use axum::{
    extract::{Query, State},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use base64::Engine as _;
use serde::Deserialize;

use crate::{
    accounts::link_codes,
    app::AppState,
    bot,
    linking::{
        messenger::verify_personal_link,
        spotify::{self as linking, ClientId, Failure, Origin, Outcome},
    },
};

#[derive(Deserialize)]
pub struct StartParams {
    /// A personal link from the Messenger bot.
    m: Option<String>,
    /// The Client ID of the person's own Spotify app (32 hexadecimal
    /// characters); the host's app when absent.
    client_id: Option<String>,
}

/// The public registration link, or a personal link from the bot: sends
/// the browser to Spotify's consent page.
/// A query string that cannot be read (a parameter given twice, or one
/// that is not text) gets the same kind of page as every other refusal.
pub async fn start(
    State(app): State<AppState>,
    params: Result<Query<StartParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(params)) = params else {
        return page(
            StatusCode::BAD_REQUEST,
            "This link is not right",
            "<p>Part of this link is missing, repeated or cannot be read. Open the link exactly as you were \
             given it: from the app, from Send Songs on Messenger (send <b>connect</b> for a new one), or \
             with one <code>client_id</code> for your own Spotify app.</p>",
        );
    };
    let own = match params.client_id.as_deref().map(|raw| ClientId::parse("client_id", raw)) {
        None => None,
        Some(Ok(own)) => Some(own),
        Some(Err(_)) => {
            return page(
                StatusCode::BAD_REQUEST,
                "This Client ID is not right",
                &format!("<p>{}.</p>", escape(&sentence(ClientId::RULE))),
            );
        }
    };
    let origin = match params.m.as_deref() {
        None => Origin::Public,
        Some(token) => match verify_personal_link(&app, token) {
            Some(psid) => Origin::Messenger(psid),
            None => {
                return page(
                    StatusCode::BAD_REQUEST,
                    "This link has expired",
                    "<p>Personal links work for 15 minutes. Send <b>connect</b> to Send Songs on Messenger for a new one.</p>",
                );
            }
        },
    };
    match linking::start(&app, origin, own.as_ref()).await {
        Ok(started) => Redirect::to(&started.url).into_response(),
        Err(err) => {
            err.log();
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>We could not start connecting Spotify. Please try again in a moment.</p>",
            )
        }
    }
}

#[derive(Deserialize)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub async fn callback(State(app): State<AppState>, Query(params): Query<CallbackParams>) -> Response {
    let outcome = linking::finish(
        &app,
        params.code.as_deref(),
        params.state.as_deref(),
        params.error.as_deref(),
        &bot::LINK_WORDS,
    )
    .await;
    match outcome {
        Outcome::Linked { handle, via_messenger } => {
            let next = if via_messenger {
                "You can close this page and head back to Messenger."
            } else {
                "You can close this page and go back to the app."
            };
            page(
                StatusCode::OK,
                "Spotify connected",
                &format!("<p>You're connected as <b>@{}</b>. {next}</p>", escape(&handle)),
            )
        }
        Outcome::CodeIssued {
            handle,
            created,
            code,
            expires_at,
        } => {
            let greeting = if created {
                format!("Welcome to Send Songs, <b>@{}</b>!", escape(&handle))
            } else {
                format!("Welcome back, <b>@{}</b>.", escape(&handle))
            };
            let minutes = (expires_at - app.clock.now()).num_minutes().max(1);
            let code = link_codes::normalize(&code).unwrap_or(code);
            let open = match &app.settings.messenger.page_id {
                Some(page) => format!(
                    "<p><a class=\"button\" href=\"https://m.me/{}?ref={code}\">Open Send Songs in Messenger</a></p>\
                     <p>It links this account in one tap. Or send this code to Send Songs on Messenger:</p>",
                    escape(page)
                ),
                None => "<p>Send this code to Send Songs on Messenger to finish:</p>".to_owned(),
            };
            page(
                StatusCode::OK,
                "Spotify connected",
                &format!(
                    "<p>{greeting}</p>{open}<p id=\"code\" class=\"code\">{}</p>\
                     <p><button type=\"button\" id=\"copy\" data-code=\"{code}\" hidden>Copy the code</button></p>\
                     <p>It works once, for the next {minutes} minutes.</p>{COPY_SCRIPT}",
                    link_codes::grouped(&code)
                ),
            )
        }
        Outcome::Denied => page(
            StatusCode::OK,
            "Spotify not connected",
            "<p>You didn't allow access, so nothing changed. Send Songs needs to see what you play to tell \
             your friends when you've listened to their songs. You can connect whenever you like.</p>",
        ),
        Outcome::BadState => page(
            StatusCode::BAD_REQUEST,
            "This link has expired",
            "<p>This sign-in link was already used or is more than 10 minutes old, so nothing changed. \
             Please start connecting Spotify again.</p>",
        ),
        Outcome::AccountTaken => page(
            StatusCode::CONFLICT,
            "Spotify account already in use",
            "<p>This Spotify account is already connected to another Send Songs account, so nothing changed. \
             Disconnect it there first, or log in to Spotify with a different account.</p>",
        ),
        Outcome::Failed(failure) => {
            let reason = match failure {
                Failure::NotOnAllowlist => {
                    return page(
                        StatusCode::FORBIDDEN,
                        "Spotify said no to this account",
                        "<p>Spotify let you agree, but it does not let Send Songs read your listening yet: this \
                         Send Songs server runs a Spotify app in development mode, which only works for people \
                         its host has added.</p><p><b>Ask the host to add your Spotify e-mail under Users and \
                         Access</b> in Spotify's developer dashboard, then connect again. Nothing was saved.</p>",
                    );
                }
                Failure::Refused => "Spotify did not accept this authorization: please start again",
                Failure::Unavailable => "Spotify is not answering right now: please try again",
                Failure::Internal => "something went wrong on our side: please try again",
            };
            page(
                StatusCode::BAD_GATEWAY,
                "Spotify not connected",
                &format!("<p>{reason}. Nothing changed.</p>"),
            )
        }
    }
}

/// Shows the copy button where the browser can copy (the clipboard API
/// needs https, or 127.0.0.1), and copies the code when it is pressed.
/// `{nonce}` is filled in by [`page`].
const COPY_SCRIPT: &str = "<script nonce=\"{nonce}\">\
    const copy = document.getElementById('copy');\
    if (navigator.clipboard && window.isSecureContext) {\
      copy.hidden = false;\
      copy.addEventListener('click', () => navigator.clipboard.writeText(copy.dataset.code).then(\
        () => { copy.textContent = 'Copied'; },\
        () => { copy.textContent = 'Could not copy: select the code instead'; }));\
    }\
    </script>";

/// A page, with a nonce of its own that its inline style and script carry
/// and its Content-Security-Policy allows: nothing else runs or loads
/// (`body` is HTML the caller escaped); the tracked links' pages use it too.
pub(super) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let nonce = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let body = body.replace("{nonce}", &nonce);
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Send Songs</title><style nonce=\"{nonce}\">\
         body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#222}}\
         h1{{font-size:1.4rem}}.code{{font:600 1.8rem ui-monospace,monospace;letter-spacing:.1em}}\
         .button{{display:inline-block;padding:.7rem 1.2rem;border-radius:.5rem;background:#0866ff;color:#fff;\
         text-decoration:none;font-weight:600}}button{{font:inherit;padding:.4rem .9rem}}\
         </style></head><body><h1>{title}</h1>{body}</body></html>"
    );
    let policy = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    );
    (status, [(header::CONTENT_SECURITY_POLICY, policy)], Html(html)).into_response()
}

/// `text` with its first letter upper-case.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
