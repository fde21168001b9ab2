//! A real browser for the tests: Debian's Chromium, headless, driven over
//! WebDriver by chromedriver. Every connection it opens goes through a SOCKS5
//! proxy of the test's own that records where it went and lets only loopback
//! through: nothing leaves the machine. What the page itself asked for
//! (documents, scripts, `fetch`, WebSockets), blocked or not, comes from
//! Chrome's DevTools network events ([`Browser::page_requests`]); the
//! browser's own calls home (update checks, the search engine's preconnect),
//! which the proxy refuses, are not the page's.
//!
//! Without `/usr/bin/chromedriver` the browser tests are skipped with a
//! message, unless `REQUIRE_BROWSER=1` (set by `.ci/run`, which installs
//! `chromium` and `chromium-driver`): then they fail.
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator, wd::WebDriverCompatibleCommand};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Where the browser connected: `host:port` for each connection, in order.
#[derive(Clone, Default)]
pub struct Network(Arc<Mutex<Vec<String>>>);

impl Network {
    pub fn destinations(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub struct Browser {
    pub client: Client,
    pub network: Network,
    driver: Child,
    profile: PathBuf,
}

/// Starts Chromium, or answers `None` (after saying why) where there is none
/// and the run does not require one.
pub async fn launch() -> Option<Browser> {
    if !(Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists()) {
        let why = format!("{CHROMEDRIVER} or {CHROMIUM} is missing (apt-get install chromium chromium-driver)");
        if std::env::var("REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!("REQUIRE_BROWSER=1 and {why}");
        }
        eprintln!("skipping a browser test: {why}; .ci/run installs them and sets REQUIRE_BROWSER=1");
        return None;
    }
    let network = Network::default();
    let proxy = socks_proxy(network.clone()).await;

    let port = free_port().await;
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = std::env::temp_dir().join(format!("sendsongs-chromium-{}", uuid::Uuid::new_v4().simple()));
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        // The browser's own calls home (search preconnect, sign-in,
        // autofill, updates): not the page's, and not wanted either.
        "--disable-default-apps".to_owned(),
        "--disable-extensions".to_owned(),
        "--disable-domain-reliability".to_owned(),
        "--disable-client-side-phishing-detection".to_owned(),
        "--no-pings".to_owned(),
        "--no-default-browser-check".to_owned(),
        "--disable-search-engine-choice-screen".to_owned(),
        "--disable-features=AutofillServerCommunication,OptimizationHints,OptimizationHintsFetching,\
         OptimizationGuideModelDownloading,Translate,MediaRouter,DialMediaRouteProvider,\
         SearchEnginePreconnector,SearchEnginePreconnect2,SignInProfileCreation,\
         CertificateTransparencyComponentUpdater,AccountConsistency"
            .to_owned(),
        "--window-size=1400,900".to_owned(),
        format!("--user-data-dir={}", profile.display()),
        format!("--proxy-server=socks5://127.0.0.1:{proxy}"),
        // Loopback too goes through the proxy, so the record is complete.
        "--proxy-bypass-list=<-loopback>".to_owned(),
    ];
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert("goog:chromeOptions".into(), json!({ "binary": CHROMIUM, "args": args }));
    capabilities.insert(
        "goog:loggingPrefs".into(),
        json!({ "browser": "ALL", "performance": "ALL" }),
    );

    let url = format!("http://127.0.0.1:{port}");
    let mut last_error = String::new();
    for _ in 0..100 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
        {
            Ok(client) => {
                return Some(Browser {
                    client,
                    network,
                    driver,
                    profile,
                });
            }
            Err(err) => last_error = err.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no WebDriver session: {last_error}");
}

async fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

impl Browser {
    /// The element `css` matches, waiting up to 20 s for it.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("{css}: {err}"))
    }

    /// Waits up to `wait` for the text of `css` to satisfy `test`; answers it.
    pub async fn text_until(&self, css: &str, wait: Duration, test: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let text = self.find(css).await.text().await.unwrap_or_default();
            if test(&text) {
                return Some(text);
            }
            if tokio::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every address the page asked for since the last call: documents,
    /// scripts, styles, `fetch`, WebSockets, including requests that were
    /// blocked or failed.
    pub async fn page_requests(&self) -> Vec<String> {
        let entries = self
            .client
            .issue_cmd(Log("performance"))
            .await
            .expect("the performance log");
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| serde_json::from_str::<Value>(entry["message"].as_str()?).ok())
            .filter_map(|event| {
                let event = &event["message"];
                match event["method"].as_str()? {
                    "Network.requestWillBeSent" => event["params"]["request"]["url"].as_str().map(str::to_owned),
                    "Network.webSocketCreated" => event["params"]["url"].as_str().map(str::to_owned),
                    _ => None,
                }
            })
            .collect()
    }

    /// What the page logged to its console at warning level or above.
    pub async fn console_problems(&self) -> Vec<String> {
        let entries = self.client.issue_cmd(Log("browser")).await.expect("the browser log");
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| matches!(entry["level"].as_str(), Some("SEVERE" | "WARNING")))
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

/// chromedriver's log endpoint for one log (`goog:loggingPrefs` turns them on).
#[derive(Debug)]
struct Log(&'static str);

impl WebDriverCompatibleCommand for Log {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "type": self.0 }).to_string()))
    }
}

/// A SOCKS5 proxy (RFC 1928, CONNECT without authentication) on a random
/// loopback port: records every destination, connects loopback ones and
/// refuses the rest ("not allowed by ruleset"). Answers its port.
async fn socks_proxy(network: Network) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let network = network.clone();
            tokio::spawn(async move {
                let _ = relay(client, network).await;
            });
        }
    });
    port
}

async fn relay(mut client: TcpStream, network: Network) -> std::io::Result<()> {
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting).await?;
    let mut methods = vec![0u8; greeting[1] as usize];
    client.read_exact(&mut methods).await?;
    client.write_all(&[5, 0]).await?;

    let mut request = [0u8; 4];
    client.read_exact(&mut request).await?;
    let host = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await?;
            Ipv4Addr::from(ip).to_string()
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).await?;
            format!("[{}]", Ipv6Addr::from(ip))
        }
        _ => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len).await?;
            let mut name = vec![0u8; len[0] as usize];
            client.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port).await?;
    let destination = format!("{host}:{}", u16::from_be_bytes(port));
    network.0.lock().unwrap().push(destination.clone());

    let refused = [5, 2, 0, 1, 0, 0, 0, 0, 0, 0];
    if request[1] != 1 || !is_loopback(&host) {
        return client.write_all(&refused).await;
    }
    let target = host.trim_start_matches('[').trim_end_matches(']');
    let target = if target.eq_ignore_ascii_case("localhost") {
        "127.0.0.1"
    } else {
        target
    };
    let Ok(mut upstream) = TcpStream::connect((target, u16::from_be_bytes(port))).await else {
        return client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await;
    };
    client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// The JSON a page script keeps in `window.__sent`: each WebSocket message
/// the page sent (the tests install the recorder).
pub async fn sent_messages(browser: &Browser) -> Vec<Value> {
    let value = browser
        .client
        .execute("return window.__sent || [];", vec![])
        .await
        .unwrap();
    let texts: Vec<String> = serde_json::from_value(value).unwrap();
    texts.iter().filter_map(|t| serde_json::from_str(t).ok()).collect()
}

/// Records what the page sends on WebSockets from now on.
pub const RECORD_WEBSOCKET_MESSAGES: &str = "window.__sent = []; \
    var send = WebSocket.prototype.send; \
    WebSocket.prototype.send = function (data) { window.__sent.push(String(data)); return send.call(this, data); };";
