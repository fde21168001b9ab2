#!/usr/bin/env bash
# Messenger webhook benchmark: signed POST /webhooks/messenger at a constant
# rate against GET /healthz at the same rates, then a count of what was
# stored.
#
#   bash bench/load/webhook.sh
#
# Builds the release binary, starts it on a free loopback port with a fresh
# SQLite database in a temporary directory (SANDBOX=on, LOG_FORMAT=json,
# RUST_LOG=warn, MESSENGER_APP_SECRET=bench-secret and JOB_WORKERS=0: no job
# runs, so the bot answers nothing during the load; what is measured is the
# acknowledgement and the storage of the events). For each rate it runs
# GET /healthz, then the webhook, each after an unmeasured warm-up at that
# rate. Every webhook POST is a Meta-shaped text message with its own `mid`,
# signed with HMAC-SHA256 of the body; the bodies are generated beforehand.
# At the end the rows of `messenger_inbox` are counted (sqlite3) and compared
# with the POSTs answered 200. On demand only: not part of the test suite.
#
# wrk keeps a fixed number of requests in flight and cannot send at a fixed
# rate, and Debian has neither wrk2 nor oha, so the load comes from
# bench/load/constant_rate.rs (standard library only, built here as the
# `constant_rate` example): request i is sent at start + i/rate, and its
# latency is measured from that intended time, so a stall counts in full for
# every request it delays.
#
# Settings (environment):
#   RATES        requests per second, one run of each endpoint per rate
#                                                          (default "500 2000")
#   DURATION     length of each measured run, seconds ("20" or "20s")
#                                                          (default 20s)
#   WARMUP       unmeasured run at the same rate before each measured one,
#                seconds                                   (default 3s; 0 = none)
#   CONNECTIONS  connections (one thread each) of the load generator
#                                                          (default 32)
#   SENDERS      distinct sender ids the events cycle through (default 1000)
#   PORT         loopback port                             (default: a free one)
#   BIN          an already built server binary: skips `cargo build`
#   KEEP_DB=1    keep the temporary directory (database, bodies, server log)
#   PERF=1       also count, with `perf stat` on the server during each
#                measured run, the clock_nanosleep calls (in this server with
#                JOB_WORKERS=0 they all come from SQLite's busy handler: a
#                connection waiting for the write lock sleeps 1, 2, 5, 10, …
#                up to 100 ms between tries) and the fsync calls (WAL
#                checkpoints: with synchronous=NORMAL a commit does not sync)
set -euo pipefail

BENCH_NAME=webhook.sh
DURATION="${DURATION:-20s}"
# shellcheck source=bench/load/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RATES="${RATES:-500 2000}"
SENDERS="${SENDERS:-1000}"
SECRET=bench-secret
TARGET_RATIO=3
TARGET_P99_MS=10
ROUTE=/webhooks/messenger

seconds() { printf '%s\n' "${1%s}"; }
MEASURE_S="$(seconds "$DURATION")"
WARMUP_S="$(seconds "$WARMUP")"

require_tools curl python3 sqlite3 cargo
export MESSENGER_APP_SECRET="$SECRET" JOB_WORKERS=0
# The code measured, for the report.
if [ -n "${BIN:-}" ]; then
  CODE="${BIN_COMMIT:-unknown (BIN=$BIN; set BIN_COMMIT)}"
else
  CODE="$(git -C "$ROOT" rev-parse HEAD)"
  git -C "$ROOT" diff --quiet HEAD -- api src entity migration Cargo.toml Cargo.lock 2>/dev/null \
    || CODE="$CODE with uncommitted changes"
fi
build_binary
start_server

say "building the load generator (bench/load/constant_rate.rs)"
(cd "$ROOT" && cargo build --release --example constant_rate)
LOADGEN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/constant_rate"
[ -x "$LOADGEN" ] || die "no load generator at $LOADGEN"

# bodies FILE COUNT TAG: COUNT lines `sha256=<hex>\t<body>`, each a text
# message with its own mid, from SENDERS senders in turn.
bodies() {
  python3 - "$1" "$2" "$3" "$SENDERS" "$SECRET" <<'PY'
import hashlib, hmac, json, sys, time
out, count, tag, senders, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5].encode()
page = "106000000000001"
texts = ["help", "send @alex https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC loud one", "inbox", "hi"]
now = int(time.time() * 1000)
with open(out, "w") as f:
    for i in range(count):
        ts = now + i
        mid = "m_%s-%07d-%s" % (tag, i, hashlib.sha256(b"%s:%d" % (tag.encode(), i)).hexdigest()[:40])
        event = {"sender": {"id": str(7100000000000000 + i % senders)}, "recipient": {"id": page},
                 "timestamp": ts, "message": {"mid": mid, "text": texts[i % len(texts)]}}
        body = json.dumps({"object": "page", "entry": [{"id": page, "time": ts, "messaging": [event]}]},
                          separators=(",", ":"))
        f.write("sha256=%s\t%s\n" % (hmac.new(secret, body.encode(), hashlib.sha256).hexdigest(), body))
PY
}

# ---------------------------------------------------------------- checks
say "check: one signed POST is stored, a wrongly signed one is refused"
bodies "$WORK/check.txt" 1 check
IFS=$'\t' read -r CHECK_SIG CHECK_BODY <"$WORK/check.txt"
answer="$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$BASE$ROUTE" -H 'Content-Type: application/json' \
  -H "X-Hub-Signature-256: $CHECK_SIG" --data-binary "$CHECK_BODY")"
[ "$answer" = 200 ] || { server_log; die "a signed POST answered $answer"; }
answer="$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$BASE$ROUTE" -H 'Content-Type: application/json' \
  -H "X-Hub-Signature-256: sha256=$(printf '0%.0s' $(seq 64))" --data-binary "$CHECK_BODY")"
[ "$answer" = 403 ] || die "a wrongly signed POST answered $answer, expected 403"
stored="$(sqlite3 "$WORK/bench.db" 'SELECT count(*) FROM messenger_inbox')"
[ "$stored" = 1 ] || die "after one signed POST messenger_inbox holds $stored rows"
# Counted from here on: POSTs sent and answered 200 (the check's included).
SENT=1
ACKED=1
# Warnings and errors the server logs from here on (startup and the refused
# POST above logged some).
count_warnings() { grep -c '"level":"\(WARN\|ERROR\)"' "$WORK/server.log" || true; }
WARNINGS_BEFORE="$(count_warnings)"

# ---------------------------------------------------------------- load
# load LABEL ROUTE RATE [BODIES_FILE]: warm-up, measured run. Sets RESULT
# (the BENCH_RESULT line), STATEMENTS_PER_REQUEST, CPU_US_PER_REQUEST.
# Any non-200 answer or load-generator error fails the run.
load() {
  local label="$1" route="$2" rate="$3" file="${4:-}"
  local warm_n=0 before after ticks_before ticks_after
  if [ "$WARMUP_S" != "0" ]; then
    warm_n="$(python3 -c 'import sys; print(round(float(sys.argv[1]) * float(sys.argv[2])))' "$rate" "$WARMUP_S")"
    say "$label at $rate/s: warming up for ${WARMUP_S}s"
    local warm_file=() warm
    if [ -n "$file" ]; then warm_file=("$WORK/warm.txt"); head -n "$warm_n" "$file" >"$WORK/warm.txt"; fi
    warm="$("$LOADGEN" "127.0.0.1:$PORT" "$route" "$rate" "$WARMUP_S" "$CONNECTIONS" "${warm_file[@]}")"
    check_result "$label warm-up" "$warm" "$file"
  fi
  local measured_file=()
  if [ -n "$file" ]; then measured_file=("$WORK/measured.txt"); tail -n +"$((warm_n + 1))" "$file" >"$WORK/measured.txt"; fi
  read -r -a before <<<"$(snapshot "$route")"
  ticks_before="$(server_ticks)"
  local perf_pid=""
  if [ "${PERF:-0}" = "1" ]; then
    perf stat -x, -e syscalls:sys_enter_clock_nanosleep,syscalls:sys_enter_fsync -p "$SERVER_PID" \
      -o "$WORK/perf.csv" -- sleep "$MEASURE_S" &
    perf_pid=$!
  fi
  say "$label at $rate/s for ${MEASURE_S}s, $CONNECTIONS connections (load average $(cut -d' ' -f1 /proc/loadavg))"
  RESULT="$("$LOADGEN" "127.0.0.1:$PORT" "$route" "$rate" "$MEASURE_S" "$CONNECTIONS" "${measured_file[@]}")"
  ticks_after="$(server_ticks)"
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || die "perf stat failed (see $WORK/perf.csv)"
    local sleeps fsyncs
    sleeps="$(awk -F, '/clock_nanosleep/ { print $1 }' "$WORK/perf.csv")"
    fsyncs="$(awk -F, '/sys_enter_fsync/ { print $1 }' "$WORK/perf.csv")"
    PERF_LINES+=("$label at $rate/s: $sleeps SQLite busy-handler sleeps (clock_nanosleep), $fsyncs fsync, in ${MEASURE_S}s")
  fi
  read -r -a after <<<"$(snapshot "$route")"
  printf '%s\n' "$RESULT" >&2
  check_result "$label" "$RESULT" "$file"
  local served=$((after[0] - before[0])) statements=$((after[4] - before[4]))
  [ "$served" -eq "$(field requests "$RESULT")" ] \
    || die "$label: the server counted $served 2xx responses, the load generator $(field requests "$RESULT")"
  read -r STATEMENTS_PER_REQUEST CPU_US_PER_REQUEST <<<"$(python3 -c '
import sys
statements, served, before, after, hz = sys.argv[1:6]
served = int(served)
print("%.2f" % (int(statements) / served), "%.0f" % ((int(after) - int(before)) / int(hz) * 1e6 / served) if before and after else "n/a")' \
    "$statements" "$served" "${ticks_before:-}" "${ticks_after:-}" "$TICKS_PER_S")"
  say "$label: per request $STATEMENTS_PER_REQUEST database statements, $CPU_US_PER_REQUEST µs server CPU"
}

# check_result LABEL LINE BODIES_FILE: every request answered 200; counts
# webhook POSTs.
check_result() {
  local label="$1" line="$2" file="$3" requests ok other errors
  requests="$(field requests "$line")"; ok="$(field status_200 "$line")"
  other="$(field status_other "$line")"; errors="$(field errors "$line")"
  if [ -n "$file" ]; then
    SENT=$((SENT + requests + errors))
    ACKED=$((ACKED + ok))
  fi
  [ "$requests" -gt 0 ] || die "$label: no request completed"
  [ "$errors" -eq 0 ] || die "$label: $errors requests failed (connection, read or write errors)"
  [ "$other" -eq 0 ] || { server_log; die "$label: $other responses were not 200"; }
}

ROWS=()
PERF_LINES=()
if [ "${PERF:-0}" = "1" ]; then require_tools perf; fi
VERDICTS=()
MET=1
index=0
for rate in $RATES; do
  index=$((index + 1))
  warm_n="$(python3 -c 'import sys; print(round(float(sys.argv[1]) * float(sys.argv[2])))' "$rate" "$WARMUP_S")"
  measured_n="$(python3 -c 'import sys; print(round(float(sys.argv[1]) * float(sys.argv[2])))' "$rate" "$MEASURE_S")"
  say "generating $((warm_n + measured_n)) signed webhook bodies for $rate/s"
  bodies "$WORK/bodies-$rate.txt" "$((warm_n + measured_n))" "r$index"

  load "GET /healthz" /healthz "$rate"
  health_p99="$(field p99_ms "$RESULT")"
  ROWS+=("$(printf '| GET /healthz | %s | %.0f | %s | %s | %s | %s | %s | %s | %s |' "$rate" "$(field rps "$RESULT")" \
    "$(field p50_ms "$RESULT")" "$(field p99_ms "$RESULT")" "$(field p999_ms "$RESULT")" "$(field max_ms "$RESULT")" \
    "$(field service_p99_ms "$RESULT")" "$STATEMENTS_PER_REQUEST" "$CPU_US_PER_REQUEST")")

  load "POST $ROUTE" "$ROUTE" "$rate" "$WORK/bodies-$rate.txt"
  hook_p99="$(field p99_ms "$RESULT")"
  ROWS+=("$(printf '| POST %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s |' "$ROUTE" "$rate" "$(field rps "$RESULT")" \
    "$(field p50_ms "$RESULT")" "$(field p99_ms "$RESULT")" "$(field p999_ms "$RESULT")" "$(field max_ms "$RESULT")" \
    "$(field service_p99_ms "$RESULT")" "$STATEMENTS_PER_REQUEST" "$CPU_US_PER_REQUEST")")

  verdict="$(python3 -c '
import sys
hook, health, ratio_target, ms_target = map(float, sys.argv[1:5])
ratio = hook / health if health > 0 else float("inf")
ok = ratio <= ratio_target and hook < ms_target
print("ok" if ok else "missed", "%.2f" % ratio)' "$hook_p99" "$health_p99" "$TARGET_RATIO" "$TARGET_P99_MS")"
  read -r outcome ratio <<<"$verdict"
  [ "$outcome" = ok ] || MET=0
  VERDICTS+=("$rate/s: webhook p99 $hook_p99 ms = ${ratio}× the /healthz p99 ($health_p99 ms): $([ "$outcome" = ok ] && echo "meets" || echo "MISSES") the targets (≤ ${TARGET_RATIO}× and < $TARGET_P99_MS ms)")
done

# ---------------------------------------------------------------- stored
STORED="$(sqlite3 "$WORK/bench.db" 'SELECT count(*) FROM messenger_inbox')"
DISTINCT="$(sqlite3 "$WORK/bench.db" 'SELECT count(DISTINCT mid) FROM messenger_inbox')"
JOBS="$(sqlite3 "$WORK/bench.db" "SELECT count(*) FROM jobs WHERE kind = 'handle_inbox'")"
EXPECTED_JOBS="$(sqlite3 "$WORK/bench.db" 'SELECT count(DISTINCT psid) FROM messenger_inbox')"
LOST=$((ACKED - STORED))
if [ "$LOST" -ne 0 ] || [ "$DISTINCT" -ne "$STORED" ] || [ "$ACKED" -ne "$SENT" ]; then MET=0; fi
WARNINGS=$(($(count_warnings) - WARNINGS_BEFORE))
# The background checkpoints over the whole run (sqlite_checkpoint_seconds):
# a RESTART holds writers back while it runs.
CHECKPOINTS="$(curl -fsS "$BASE/metrics" | python3 -c '
import re, sys
stats = {}
for line in sys.stdin:
    m = re.match(r"sqlite_checkpoint_seconds_(count|sum)\{mode=\"(\w+)\"\} (\S+)", line)
    if m:
        stats.setdefault(m.group(2), {})[m.group(1)] = float(m.group(3))
    m = re.match(r"sqlite_checkpoint_seconds_bucket\{mode=\"(\w+)\",le=\"0.005\"\} (\S+)", line)
    if m:
        stats.setdefault(m.group(1), {})["fast"] = float(m.group(2))
parts = []
for mode in ("passive", "restart"):
    s = stats.get(mode, {})
    n = int(s.get("count", 0))
    if n:
        parts.append("%d %s, mean %.1f ms, %d over 5 ms" % (n, mode, 1000 * s["sum"] / n, n - int(s.get("fast", 0))))
print("; ".join(parts) or "none")')"

cat <<REPORT

Messenger webhook benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg),
code $CODE,
constant rate, ${MEASURE_S}s per run after ${WARMUP_S}s warm-up, $CONNECTIONS connections, JOB_WORKERS=0, $SENDERS senders.
Latencies from the intended send time; "service p99" from the actual send (what wrk would show).

| endpoint | rate/s | achieved/s | p50 ms | p99 ms | p99.9 ms | max ms | service p99 ms | db statements/request | server CPU µs/request |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
$(printf '%s\n' "${ROWS[@]}")

$(printf '%s\n' "${VERDICTS[@]}")
Webhook POSTs sent $SENT, answered 200 $ACKED; rows in messenger_inbox $STORED ($DISTINCT distinct mids); lost $LOST.
handle_inbox jobs: $JOBS (one per sender: $EXPECTED_JOBS senders). Server warnings and errors during the load: $WARNINGS.
SQLite checkpoints (whole run): $CHECKPOINTS.
Targets: $([ "$MET" = 1 ] && echo "met" || echo "NOT met").
REPORT
if [ "${#PERF_LINES[@]}" -gt 0 ]; then printf '%s\n' "${PERF_LINES[@]}"; fi
[ "$LOST" -eq 0 ] || die "$LOST acknowledged events are not in messenger_inbox"
