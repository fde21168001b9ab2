//! A constant-rate (open-loop) HTTP/1.1 load generator, standard library only,
//! for bench/load/webhook.sh. wrk keeps a fixed number of requests in flight, so a
//! slow response delays the next request and the delay is never measured; this
//! sends request `i` at `start + i / rate` whatever happened before, and
//! measures each latency from that intended time (as wrk2 does), so stalls
//! count in full.
//!
//!   cargo build --release --example constant_rate
//!   target/release/examples/constant_rate ADDR PATH RATE SECONDS CONNECTIONS [REQUESTS_FILE]
//!
//! Without REQUESTS_FILE: `GET PATH`, RATE × SECONDS times. With it: one
//! `POST PATH` per line of the file, `SIGNATURE<TAB>JSON_BODY`, sent with
//! `Content-Type: application/json` and `X-Hub-Signature-256: SIGNATURE`; the
//! file must hold at least RATE × SECONDS lines and each is sent once.
//!
//! CONNECTIONS threads each hold one keep-alive connection and take the next
//! due request in turn; with all of them waiting on responses, due requests
//! wait too, and that wait is part of their latency. Prints one line:
//!
//!   BENCH_RESULT requests=N duration_s=S rps=R p50_ms=… p90_ms=… p99_ms=…
//!                p999_ms=… max_ms=… service_p50_ms=… service_p99_ms=…
//!                send_late_p99_ms=… status_200=N status_other=N errors=N
//!
//! p*_ms: from the intended send time to the end of the response.
//! service_*: from the actual send to the end of the response (what wrk
//! would report). send_late: how far behind schedule requests were sent,
//! the generator's own lag included. errors: connection, read or write
//! failures and responses that could not be parsed (10 s read timeout).
#[path = "../rust/common/stats.rs"]
mod stats;

use std::{
    env, fs,
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

struct Sample {
    /// Intended send → response read, µs.
    latency: u64,
    /// Actual send → response read, µs.
    service: u64,
    /// Intended → actual send, µs.
    late: u64,
    status: u16,
}

#[derive(Default)]
struct Tally {
    samples: Vec<Sample>,
    errors: usize,
    last_done: Option<Instant>,
}

fn usage() -> ! {
    eprintln!("usage: constant_rate ADDR PATH RATE SECONDS CONNECTIONS [REQUESTS_FILE]");
    process::exit(2);
}

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    if args.len() < 5 || args.len() > 6 {
        usage();
    }
    let addr = args[0].clone();
    let path = &args[1];
    let rate: f64 = args[2].parse().unwrap_or_else(|_| usage());
    let seconds: f64 = args[3].parse().unwrap_or_else(|_| usage());
    let connections: usize = args[4].parse().unwrap_or_else(|_| usage());
    if rate <= 0.0 || seconds <= 0.0 || connections == 0 {
        usage();
    }
    let total = (rate * seconds).round() as usize;

    // Every request is built before the clock starts.
    let requests: Vec<Vec<u8>> = match args.get(5) {
        None => vec![format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes()],
        Some(file) => {
            let text = fs::read_to_string(file).unwrap_or_else(|e| {
                eprintln!("constant_rate: cannot read {file}: {e}");
                process::exit(2);
            });
            let built: Vec<Vec<u8>> = text
                .lines()
                .filter(|l| !l.is_empty())
                .take(total)
                .map(|line| {
                    let (signature, body) = line.split_once('\t').unwrap_or_else(|| {
                        eprintln!("constant_rate: a line of {file} has no tab");
                        process::exit(2);
                    });
                    let mut request = format!(
                        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                         X-Hub-Signature-256: {signature}\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    request.extend_from_slice(body.as_bytes());
                    request
                })
                .collect();
            if built.len() < total {
                eprintln!("constant_rate: {file} has {} requests, {total} needed", built.len());
                process::exit(2);
            }
            built
        }
    };
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let period = Duration::from_secs_f64(1.0 / rate);
    // Connect first, then start the clock a little later for everyone.
    let streams: Vec<TcpStream> = (0..connections)
        .map(|_| {
            connect(&addr).unwrap_or_else(|e| {
                eprintln!("constant_rate: cannot connect to {addr}: {e}");
                process::exit(1);
            })
        })
        .collect();
    let start = Instant::now() + Duration::from_millis(20);

    let workers: Vec<_> = streams
        .into_iter()
        .map(|stream| {
            let (requests, next, addr) = (requests.clone(), next.clone(), addr.clone());
            thread::spawn(move || {
                let mut tally = Tally {
                    samples: Vec::with_capacity(total / connections + 16),
                    ..Tally::default()
                };
                let mut conn = Some(BufReader::with_capacity(16 * 1024, stream));
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let due = start + period.mul_f64(i as f64);
                    let now = Instant::now();
                    if due > now {
                        thread::sleep(due - now);
                    }
                    let request = &requests[if requests.len() == 1 { 0 } else { i }];
                    let sent = Instant::now();
                    let outcome = match conn.take() {
                        Some(c) => Ok(c),
                        None => connect(&addr).map(|s| BufReader::with_capacity(16 * 1024, s)),
                    }
                    .and_then(|mut c| exchange(&mut c, request).map(|r| (c, r)));
                    let done = Instant::now();
                    match outcome {
                        Ok((c, (status, keep_alive))) => {
                            tally.samples.push(Sample {
                                latency: micros(done - due),
                                service: micros(done - sent),
                                late: micros(sent.saturating_duration_since(due)),
                                status,
                            });
                            tally.last_done = Some(done);
                            if keep_alive {
                                conn = Some(c);
                            }
                        }
                        Err(_) => tally.errors += 1,
                    }
                }
                tally
            })
        })
        .collect();

    let mut all = Tally::default();
    for worker in workers {
        let tally = worker.join().expect("a worker panicked");
        all.samples.extend(tally.samples);
        all.errors += tally.errors;
        all.last_done = all.last_done.max(tally.last_done);
    }
    report(&all, start);
}

fn connect(addr: &str) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    Ok(stream)
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

/// Writes one request and reads its response: (status, connection reusable).
fn exchange(conn: &mut BufReader<TcpStream>, request: &[u8]) -> std::io::Result<(u16, bool)> {
    conn.get_mut().write_all(request)?;
    let mut line = String::new();
    if conn.read_line(&mut line)? == 0 {
        return Err(bad("connection closed"));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let (mut length, mut chunked, mut keep_alive) = (None, false, true);
    loop {
        line.clear();
        if conn.read_line(&mut line)? == 0 {
            return Err(bad("connection closed in the headers"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_ascii_lowercase());
            match name.as_str() {
                "content-length" => length = Some(value.parse::<usize>().map_err(|_| bad("bad length"))?),
                "transfer-encoding" => chunked = value.contains("chunked"),
                "connection" => keep_alive = !value.contains("close"),
                _ => {}
            }
        }
    }
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad("bad chunk size"))?;
            let mut chunk = vec![0; size + 2];
            conn.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
        }
    } else if let Some(length) = length {
        let mut body = vec![0; length];
        conn.read_exact(&mut body)?;
    } else {
        // Delimited by the end of the connection.
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest)?;
        keep_alive = false;
    }
    Ok((status, keep_alive))
}

/// The `p`th percentile (0 to 100) of µs values, in ms.
fn percentile(sorted: &[u64], p: f64) -> f64 {
    stats::percentile(sorted, p / 100.0) as f64 / 1000.0
}

fn report(all: &Tally, start: Instant) {
    let mut latency: Vec<u64> = all.samples.iter().map(|s| s.latency).collect();
    let mut service: Vec<u64> = all.samples.iter().map(|s| s.service).collect();
    let mut late: Vec<u64> = all.samples.iter().map(|s| s.late).collect();
    latency.sort_unstable();
    service.sort_unstable();
    late.sort_unstable();
    let ok = all.samples.iter().filter(|s| s.status == 200).count();
    let duration = all
        .last_done
        .map_or(0.0, |d| d.saturating_duration_since(start).as_secs_f64());
    let requests = all.samples.len();
    println!(
        "BENCH_RESULT requests={requests} duration_s={duration:.3} rps={:.2} p50_ms={:.3} p90_ms={:.3} \
         p99_ms={:.3} p999_ms={:.3} max_ms={:.3} service_p50_ms={:.3} service_p99_ms={:.3} \
         send_late_p99_ms={:.3} status_200={ok} status_other={} errors={}",
        if duration > 0.0 {
            requests as f64 / duration
        } else {
            0.0
        },
        percentile(&latency, 50.0),
        percentile(&latency, 90.0),
        percentile(&latency, 99.0),
        percentile(&latency, 99.9),
        latency.last().copied().unwrap_or(0) as f64 / 1000.0,
        percentile(&service, 50.0),
        percentile(&service, 99.0),
        percentile(&late, 99.0),
        requests - ok,
        all.errors,
    );
}
