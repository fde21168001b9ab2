//! What the benchmarks' fake providers share: serving, the bare rate of a
//! fake under closed-loop callers, and waiting for a fake to have seen every
//! request.
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// Serves `router` on a loopback port from a thread and single-threaded
/// runtime of its own, as a service elsewhere would run; answers its URL.
pub fn serve_on_own_thread(router: axum::Router) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.set_nonblocking(true).expect("non-blocking listener");
    let address = listener.local_addr().expect("a bound address");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            axum::serve(listener, router).await.expect("serving");
        });
    });
    format!("http://{address}")
}

/// A reqwest client for calling a fake directly (10 s timeout).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// `concurrency` callers, each making one call after another until `total`
/// calls are made between them; `call(n)` makes one, `n` the calls left with
/// this one (from `total` down to 1). Answers how long they took.
pub async fn closed_loop<F, Fut>(concurrency: usize, total: usize, call: F) -> Duration
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let remaining = Arc::new(AtomicU64::new(total as u64));
    let started = Instant::now();
    let callers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (call, remaining) = (call.clone(), remaining.clone());
            tokio::spawn(async move {
                let take = |n: u64| n.checked_sub(1);
                while let Ok(left) = remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, take) {
                    call(left).await;
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    started.elapsed()
}

/// Sleeps 2 ms at a time until `seen()` reaches `expected` or `timeout` has
/// passed since `started`. A counter in memory costs nothing to watch, where
/// counting rows every few milliseconds would cost as much CPU as a worker.
pub async fn wait_for(seen: impl Fn() -> u64, expected: u64, started: Instant, timeout: Duration) {
    while seen() < expected && started.elapsed() < timeout {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
