//! GraphiQL, whole inside the binary: the page a browser gets at
//! `/graphql`, and its scripts and styles under `/graphiql/<hash>/<file>`.
//!
//! GraphiQL and React are the production builds vendored in
//! `api/vendor/graphiql/` (versions, sources and checksums in its README);
//! `graphiql/start.js` and `graphiql/page.css` are ours. Nothing is loaded
//! from anywhere else, and the page's Content-Security-Policy allows
//! nothing else: with no internet, GraphiQL works the same.
//!
//! Each file's address carries a hash of its content, so browsers may keep
//! it for a year (`immutable`); a new build brings new addresses. The page
//! itself is never cached: it names the current files and carries a fresh
//! style nonce.
use std::sync::LazyLock;

use axum::{
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// One file the page loads.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// The first 16 hex digits of the body's SHA-256: its address.
    hash: String,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    let files: [(&'static str, &'static str, &'static [u8]); 9] = [
        (
            "react.production.min.js",
            JS,
            include_bytes!("../../vendor/graphiql/react.production.min.js"),
        ),
        (
            "react-dom.production.min.js",
            JS,
            include_bytes!("../../vendor/graphiql/react-dom.production.min.js"),
        ),
        (
            "graphiql.min.js",
            JS,
            include_bytes!("../../vendor/graphiql/graphiql.min.js"),
        ),
        (
            "graphiql.min.css",
            CSS,
            include_bytes!("../../vendor/graphiql/graphiql.min.css"),
        ),
        ("start.js", JS, include_bytes!("graphiql/start.js")),
        ("page.css", CSS, include_bytes!("graphiql/page.css")),
        (
            "LICENSE-graphiql",
            TEXT,
            include_bytes!("../../vendor/graphiql/LICENSE-graphiql"),
        ),
        (
            "LICENSE-react",
            TEXT,
            include_bytes!("../../vendor/graphiql/LICENSE-react"),
        ),
        (
            "LICENSE-react-dom",
            TEXT,
            include_bytes!("../../vendor/graphiql/LICENSE-react-dom"),
        ),
    ];
    files
        .into_iter()
        .map(|(name, content_type, body)| {
            let digest = Sha256::digest(body);
            let hash = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            Asset {
                name,
                content_type,
                body,
                hash,
            }
        })
        .collect()
});

/// Where the page finds `name`: `/graphiql/<hash>/<name>`.
fn href(name: &str) -> String {
    ASSETS
        .iter()
        .find(|asset| asset.name == name)
        .map(|asset| format!("/graphiql/{}/{}", asset.hash, asset.name))
        .unwrap_or_default()
}

/// The page. With introspection off it says so above GraphiQL, and GraphiQL
/// does not ask for the schema.
pub fn page(introspection: bool) -> Response {
    let mut nonce = [0u8; 18];
    rand::rng().fill_bytes(&mut nonce);
    let nonce = base64::engine::general_purpose::STANDARD.encode(nonce);
    let notice = if introspection {
        ""
    } else {
        "<p class=\"notice\" role=\"status\">Introspection is turned off on this server \
         (<code>GRAPHQL_INTROSPECTION=false</code>): GraphiQL has no schema, so no documentation \
         or completion. Operations still run.</p>\n"
    };
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Send Songs · GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{graphiql_css}">
<link rel="stylesheet" href="{page_css}">
<!-- GraphiQL {graphiql_licence}, React {react_licence} and {react_dom_licence}: MIT -->
</head>
<body>
{notice}<div id="graphiql" data-endpoint="/graphql" data-introspection="{introspection}" data-style-nonce="{nonce}">Loading GraphiQL…</div>
<script src="{react}"></script>
<script src="{react_dom}"></script>
<script src="{graphiql}"></script>
<script src="{start}"></script>
</body>
</html>
"#,
        graphiql_css = href("graphiql.min.css"),
        page_css = href("page.css"),
        graphiql_licence = href("LICENSE-graphiql"),
        react_licence = href("LICENSE-react"),
        react_dom_licence = href("LICENSE-react-dom"),
        introspection = if introspection { "on" } else { "off" },
        react = href("react.production.min.js"),
        react_dom = href("react-dom.production.min.js"),
        graphiql = href("graphiql.min.js"),
        start = href("start.js"),
    );
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; \
         font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
        .into_response();
    if let Ok(policy) = HeaderValue::from_str(&policy) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// `GET /graphiql/{hash}/{file}`: a file of the current build, cached for
/// a year; any other hash is not found.
pub async fn asset(Path((hash, name)): Path<(String, String)>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name && a.hash == hash) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.body,
    )
        .into_response()
}
