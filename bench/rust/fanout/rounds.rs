//! Driving the subscribers' process from the server: letting it connect, then
//! one round at a time, publishing and collecting when each event arrived.
use std::{
    io::Write as _,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use tokio::sync::mpsc;

use crate::{
    CHILD_ENV, Kind, ROUND_TIMEOUT,
    common::{
        cpu::{load_average, own_cpu_ticks},
        stats::percentile,
    },
    lines_of, now_ns, status_kib,
};

pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Of nanosecond values, in milliseconds.
fn percentiles(mut values_ns: Vec<u64>) -> Percentiles {
    values_ns.sort_unstable();
    let at = |q: f64| percentile(&values_ns, q) as f64 / 1e6;
    Percentiles {
        p50: at(0.50),
        p99: at(0.99),
        max: at(1.0),
    }
}

async fn expect_line(lines: &mut mpsc::UnboundedReceiver<String>, prefix: &str, wait: Duration) -> Vec<String> {
    loop {
        let line = tokio::time::timeout(wait, lines.recv())
            .await
            .unwrap_or_else(|_| panic!("no `{prefix}` from the clients within {wait:?}"))
            .unwrap_or_else(|| panic!("the client process ended before `{prefix}`"));
        let mut words = line.split_whitespace().map(str::to_owned);
        match words.next().as_deref() {
            Some(word) if word == prefix => return words.collect(),
            Some("fail") => panic!("client process: {line}"),
            _ => eprintln!("client: {line}"),
        }
    }
}

/// The server's side of the client process: its stdout as lines, its stdin.
pub struct Clients {
    child: std::process::Child,
    to_child: std::process::ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Clients {
    pub fn spawn(port: u16, tokens_file: &std::path::Path, kind: Kind) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .env(CHILD_ENV, "1")
            .env("FANOUT_PORT", port.to_string())
            .env("FANOUT_TOKENS", tokens_file)
            .env("FANOUT_QUERY", kind.query())
            .env("FANOUT_FIELD", kind.field())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let to_child = child.stdin.take().unwrap();
        let lines = lines_of(child.stdout.take().unwrap());
        Ok(Self { child, to_child, lines })
    }

    fn tell(&mut self, line: &str) {
        writeln!(self.to_child, "{line}").expect("the client process listens");
        self.to_child.flush().unwrap();
    }

    async fn expect(&mut self, prefix: &str, wait: Duration) -> Vec<String> {
        expect_line(&mut self.lines, prefix, wait).await
    }

    pub fn quit(mut self) {
        self.tell("quit");
        let _ = self.child.wait();
    }
}

/// Memory as the connections were opened.
pub struct Connected {
    pub half: usize,
    pub rss_half: u64,
    pub rss_full: u64,
    pub client_idle_kib: u64,
    pub client_full_kib: u64,
    pub seconds: f64,
}

/// Lets the client process open its connections, in two halves.
pub async fn connect_all(clients: &mut Clients) -> anyhow::Result<Connected> {
    let idle = clients.expect("started", Duration::from_secs(30)).await;
    let started = Instant::now();
    let half = clients.expect("half", Duration::from_secs(300)).await;
    let first_half = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_half = status_kib("VmRSS");
    clients.tell("go");
    let resumed = Instant::now();
    let ready = clients.expect("ready", Duration::from_secs(300)).await;
    let seconds = (first_half + resumed.elapsed()).as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(Connected {
        half: half[0].parse()?,
        rss_half,
        rss_full: status_kib("VmRSS"),
        client_idle_kib: idle[0].parse()?,
        client_full_kib: ready[1].parse()?,
        seconds,
    })
}

/// One measured (or warm-up) round.
pub struct Round {
    pub delivered: usize,
    pub bad: usize,
    pub publishing_ms: f64,
    pub per_event: Percentiles,
    pub from_start: Percentiles,
    pub server_cpu_us: f64,
    pub client_cpu_us: f64,
    pub statements: f64,
    pub rss_after: u64,
}

/// Arms the clients for `round`, publishes with `publish` (which answers
/// each user's publication time) and collects the arrivals.
pub async fn round<F, Fut>(
    clients: &mut Clients,
    number: usize,
    count: usize,
    statements: impl Fn() -> u64,
    publish: F,
) -> anyhow::Result<Round>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Vec<u64>>,
{
    clients.tell(&format!("round {number}"));
    clients.expect("armed", Duration::from_secs(30)).await;
    let (cpu_before, statements_before) = (own_cpu_ticks(), statements());
    let started = now_ns();
    let published = publish().await;
    let publishing_ms = (now_ns() - started) as f64 / 1e6;
    let done = clients.expect("done", ROUND_TIMEOUT + Duration::from_secs(30)).await;
    let (cpu_after, statements_after) = (own_cpu_ticks(), statements());
    let (delivered, bad, client_ticks): (usize, usize, u64) = (done[1].parse()?, done[2].parse()?, done[3].parse()?);
    let received: Vec<u64> = done[4..].iter().map(|v| v.parse().unwrap()).collect();
    let mut per_event = Vec::with_capacity(count);
    let mut from_start = Vec::with_capacity(count);
    for (i, at) in received.iter().enumerate() {
        if *at > 0 {
            per_event.push(at.saturating_sub(published[i]));
            from_start.push(at.saturating_sub(started));
        }
    }
    let delivered_f = delivered.max(1) as f64;
    Ok(Round {
        delivered,
        bad,
        publishing_ms,
        per_event: percentiles(per_event),
        from_start: percentiles(from_start),
        server_cpu_us: (cpu_after - cpu_before) as f64 * 10_000.0 / delivered_f,
        client_cpu_us: client_ticks as f64 * 10_000.0 / delivered_f,
        statements: (statements_after - statements_before) as f64 / delivered_f,
        rss_after: status_kib("VmRSS"),
    })
}

pub fn print_round(label: &str, number: usize, count: usize, r: &Round) {
    println!(
        "{label} round {number}{}: {}/{count} delivered ({} with errors); published in {:.1} ms; \
         publication->delivery p50 {:.1} ms, p99 {:.1} ms, last {:.1} ms (from the first publication: {:.1} / {:.1} / {:.1}); \
         CPU per delivery: server {:.0} us, clients {:.0} us; {:.2} statements per delivery; server VmRSS {:.1} MiB",
        if number == 0 { " (warm-up)" } else { "" },
        r.delivered,
        r.bad,
        r.publishing_ms,
        r.per_event.p50,
        r.per_event.p99,
        r.per_event.max,
        r.from_start.p50,
        r.from_start.p99,
        r.from_start.max,
        r.server_cpu_us,
        r.client_cpu_us,
        r.statements,
        r.rss_after as f64 / 1024.0,
    );
}

/// The memory table and the latency table of every measured round, the
/// app's and the transport floor's.
pub fn print_summary(
    count: usize,
    rss_before: u64,
    connected: &Connected,
    load_after_app: &str,
    measured: &[(usize, Round)],
    floor: &[(usize, Round)],
) {
    let kib = |from: u64, to: u64, n: usize| to.saturating_sub(from) as f64 / n as f64;
    println!();
    println!(
        "connected {count} in {:.1} s; load average {} after the app rounds, {} at the end",
        connected.seconds,
        load_after_app,
        load_average()
    );
    println!();
    println!("| server VmRSS | MiB | KiB per connection |");
    println!("|---|---:|---:|");
    println!("| before connections | {:.1} | |", rss_before as f64 / 1024.0);
    println!(
        "| after {} connections | {:.1} | {:.1} |",
        connected.half,
        connected.rss_half as f64 / 1024.0,
        kib(rss_before, connected.rss_half, connected.half)
    );
    println!(
        "| after {count} connections | {:.1} | {:.1} (second half alone: {:.1}) |",
        connected.rss_full as f64 / 1024.0,
        kib(rss_before, connected.rss_full, count),
        kib(connected.rss_half, connected.rss_full, count - connected.half)
    );
    for (number, r) in measured {
        println!(
            "| after measured round {number} | {:.1} | {:.1} |",
            r.rss_after as f64 / 1024.0,
            kib(rss_before, r.rss_after, count)
        );
    }
    println!(
        "| client process, for comparison | {:.1} | {:.1} |",
        connected.client_full_kib as f64 / 1024.0,
        kib(connected.client_idle_kib, connected.client_full_kib, count)
    );
    println!();
    println!(
        "| server | round | delivered | published in | p50 | p99 | last | from first publication p50 / p99 / last | server CPU per delivery | client CPU per delivery | statements per delivery |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|");
    for (label, rows) in [("app", measured), ("bare WebSocket + EventBus", floor)] {
        for (number, r) in rows.iter() {
            println!(
                "| {label} | {number} | {}/{count}{} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} / {:.1} / {:.1} ms | {:.0} µs | {:.0} µs | {:.2} |",
                r.delivered,
                if r.bad > 0 {
                    format!(" ({} errors)", r.bad)
                } else {
                    String::new()
                },
                r.publishing_ms,
                r.per_event.p50,
                r.per_event.p99,
                r.per_event.max,
                r.from_start.p50,
                r.from_start.p99,
                r.from_start.max,
                r.server_cpu_us,
                r.client_cpu_us,
                r.statements,
            );
        }
    }
}
