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

/// One entry of a folder's `manifest.json`: a file, the HTTP status and
/// headers it is answered with, the endpoint that answers it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub provider: &'static str,
    /// Its place in the manifest (a file can be listed more than once).
    pub index: usize,
    pub file: String,
    pub endpoint: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Entry {
    /// The answer this entry describes.
    pub fn canned(&self) -> Canned {
        Canned {
            status: StatusCode::from_u16(self.status).unwrap(),
            headers: self.headers.clone(),
            body: body(self.provider, &self.file),
        }
    }

    /// The value of a header of this entry.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How failures name it: the file, and its headers when a file is
    /// listed more than once.
    pub fn label(&self) -> String {
        format!("{}/{} #{} {:?}", self.provider, self.file, self.index, self.headers)
    }
}

/// Every entry of `provider`'s manifest, in order.
pub fn entries(provider: &'static str) -> Vec<Entry> {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(folder(provider).join("manifest.json")).unwrap()).unwrap();
    manifest
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(index, entry)| Entry {
            provider,
            index,
            file: entry["file"].as_str().unwrap().to_owned(),
            endpoint: entry["endpoint"].as_str().unwrap_or_default().to_owned(),
            status: entry["http_status"].as_u64().unwrap() as u16,
            headers: entry["headers"]
                .as_object()
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// `provider/file` as its manifest describes it (the first entry for the
/// file).
pub fn canned(provider: &'static str, file: &str) -> Canned {
    variant(provider, file, |_| true)
}

/// `provider/file` as the manifest entry that `pick` chooses describes it
/// (a file can be listed with several `Retry-After` variants).
pub fn variant(provider: &'static str, file: &str, pick: impl Fn(&Entry) -> bool) -> Canned {
    entries(provider)
        .into_iter()
        .find(|e| e.file == file && pick(e))
        .unwrap_or_else(|| panic!("{provider}/{file} is in the manifest"))
        .canned()
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
