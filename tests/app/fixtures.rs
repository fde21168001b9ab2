//! Provider answers from `tests/fixtures/`: the body of a file, with the
//! HTTP status and headers its folder's `manifest.json` gives it, for the
//! local fakes to send unchanged.
use axum::{
    http::{HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::Value;

/// One canned answer.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn folder(provider: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(provider)
}

/// `provider/file` as its manifest describes it (the first entry for the
/// file).
pub fn canned(provider: &str, file: &str) -> Canned {
    variant(provider, file, |_| true)
}

/// `provider/file` as the manifest entry that `pick` chooses describes it
/// (a file can be listed with several `Retry-After` variants).
pub fn variant(provider: &str, file: &str, pick: impl Fn(&Value) -> bool) -> Canned {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(folder(provider).join("manifest.json")).unwrap()).unwrap();
    let entry = manifest
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file"] == file && pick(e))
        .unwrap_or_else(|| panic!("{provider}/{file} is in the manifest"));
    let headers = entry["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    Canned {
        status: StatusCode::from_u16(entry["http_status"].as_u64().unwrap() as u16).unwrap(),
        headers,
        body: body(provider, file),
    }
}

/// The bytes of `provider/file`.
pub fn body(provider: &str, file: &str) -> Vec<u8> {
    std::fs::read(folder(provider).join(file)).unwrap_or_else(|e| panic!("{provider}/{file}: {e}"))
}

/// The JSON of `provider/file`.
pub fn json(provider: &str, file: &str) -> Value {
    serde_json::from_slice(&body(provider, file)).unwrap()
}

impl Canned {
    /// The same answer with another body (a fixture's JSON, adapted: times
    /// moved to the test's clock).
    pub fn with_json(mut self, body: &Value) -> Self {
        self.body = serde_json::to_vec(body).unwrap();
        self
    }

    /// The same answer with a header set (or replaced).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

impl IntoResponse for Canned {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        for (name, value) in &self.headers {
            response.headers_mut().insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        response
    }
}
