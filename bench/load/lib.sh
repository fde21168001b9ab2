# shellcheck shell=bash
# Shared by the load-test scripts in bench/load/ (foundation.sh, now_playing.sh,
# webhook.sh).
# Source it; it defines functions and settings, and runs nothing. The
# variables it sets are read by the scripts that source it.
# shellcheck disable=SC2034
#
#   BENCH_NAME=foundation.sh
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   require_tools curl python3; ensure_wrk; build_binary; start_server
#   ... seed over GraphQL with gql / pick / sign_up ...
#   run "GET /healthz" /healthz "$BASE/healthz" -s "$BENCH_DIR/report.lua"
#
# Settings (environment), for every script:
#   DURATION     length of each measured run, wrk syntax    (default 15s)
#   CONNECTIONS  open connections                           (default 32)
#   THREADS      wrk threads                                (default 2)
#   WARMUP       unmeasured run before each measured one    (default 3s; 0 = none)
#   PORT         loopback port                              (default: a free one)
#   BIN          an already built server binary: skips `cargo build`
#                (for measuring an exact commit built elsewhere)
#   KEEP_DB=1    keep the temporary directory (database and server log)

DURATION="${DURATION:-15s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
WARMUP="${WARMUP:-3s}"
# wrk needs at least one connection per thread.
if [ "$THREADS" -gt "$CONNECTIONS" ]; then THREADS="$CONNECTIONS"; fi
PASSWORD="bench-password-123"

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/../.." && pwd)"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "${BENCH_NAME:-bench}" "$*" >&2; exit 1; }

# require_tools TOOL...: each TOOL is on the PATH (every script needs curl
# and python3).
require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool is required"
  done
}

# wrk, from Debian/Ubuntu if missing.
ensure_wrk() {
  command -v wrk >/dev/null && return 0
  say "installing wrk"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "wrk is missing and there is no sudo: install the wrk package"
    sudo="sudo"
  fi
  $sudo apt-get update
  $sudo apt-get install -y wrk
}

# ---------------------------------------------------------------- build
# Sets BIN: the given one, else a fresh release build of this checkout.
build_binary() {
  if [ -n "${BIN:-}" ]; then
    [ -x "$BIN" ] || die "BIN=$BIN is not an executable"
    say "using $BIN (no build)"
    return 0
  fi
  command -v cargo >/dev/null || die "cargo is required (or set BIN)"
  say "building the release binary"
  (cd "$ROOT" && cargo build --release --bin sendsongs)
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/sendsongs"
  [ -x "$BIN" ] || die "no binary at $BIN"
}

# ---------------------------------------------------------------- server
# start_server: the binary on a free loopback port with a fresh SQLite
# database in a temporary directory, SANDBOX=on; waits for /healthz.
# Sets WORK, SERVER_PID, PORT, BASE. The server is stopped on exit.
WORK=""
SERVER_PID=""
cleanup() {
  local status=$?
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ -n "$WORK" ]; then
    if [ "${KEEP_DB:-0}" = "1" ]; then
      say "kept $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$status"
}

server_log() { tail -n 20 "$WORK/server.log" >&2 || true; }

start_server() {
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/sendsongs-bench.XXXXXX")"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  if [ -z "${PORT:-}" ]; then
    PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  fi
  BASE="http://127.0.0.1:$PORT"

  say "starting the server on $BASE (database in $WORK)"
  DATABASE_URL="sqlite://$WORK/bench.db?mode=rwc" \
  LISTEN_ADDR="127.0.0.1:$PORT" \
  SANDBOX=on \
  LOG_FORMAT=json \
  RUST_LOG=warn \
    "$BIN" serve >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!

  local _
  for _ in $(seq 1 150); do
    if curl -fsS "$BASE/healthz" >/dev/null 2>&1; then break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { server_log; die "the server exited"; }
    sleep 0.2
  done
  curl -fsS "$BASE/healthz" >/dev/null || { server_log; die "/healthz did not answer within 30 s"; }
}

# ---------------------------------------------------------------- GraphQL
# gql TOKEN QUERY [VARIABLES_JSON]: POSTs an operation, prints the JSON body.
gql() {
  local token="$1" query="$2" variables="${3:-{\}}"
  local body
  body="$(python3 -c 'import json, sys; print(json.dumps({"query": sys.argv[1], "variables": json.loads(sys.argv[2])}))' \
    "$query" "$variables")"
  local auth=()
  if [ -n "$token" ]; then auth=(-H "Authorization: Bearer $token"); fi
  curl -fsS -X POST "$BASE/graphql" -H 'Content-Type: application/json' "${auth[@]}" --data-binary "$body"
}

# pick PATH: reads JSON on stdin, prints the value at a dotted path
# (e.g. data.signUp.accessToken); fails, printing the body, if absent.
pick() {
  python3 -c '
import json, sys
body = json.load(sys.stdin)
value = body
for key in sys.argv[1].split("."):
    if not isinstance(value, dict) or value.get(key) is None:
        sys.exit("unexpected response (no %s): %s" % (sys.argv[1], json.dumps(body)))
    value = value[key]
print(value)' "$1"
}

# shellcheck disable=SC2016 # GraphQL variables, not shell ones
SIGN_UP='mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }'

# sign_up HANDLE: creates HANDLE@example.com, prints an access token.
sign_up() {
  local handle="$1"
  gql "" "$SIGN_UP" \
    "{\"input\":{\"email\":\"$handle@example.com\",\"password\":\"$PASSWORD\",\"handle\":\"$handle\",\"displayName\":\"$handle\"}}" \
    | pick data.signUp.accessToken
}

# ---------------------------------------------------------------- load
# snapshot ROUTE: from /metrics, prints
#   <2xx responses> <other responses> <GraphQL ops ok> <GraphQL ops not ok>
#   <db statements> <Spotify currently-playing calls> <Spotify recently-played calls>
#   <Spotify calls to those two that did not answer 2xx>
# for requests on ROUTE (all methods; the route template, e.g.
# /v1/users/{handle}/now-playing). Spotify calls are counted per attempt,
# whatever the outcome.
snapshot() {
  curl -fsS "$BASE/metrics" | python3 -c '
import re, sys
route = sys.argv[1]
ok = bad = ops_ok = ops_bad = statements = current = recent = upstream_bad = 0
line_re = re.compile(r"^(\w+)\{(.*)\}\s+(\S+)$")
for line in sys.stdin:
    if line.startswith("sendsongs_db_statements_total "):
        statements = int(float(line.split()[1]))
        continue
    m = line_re.match(line.strip())
    if not m:
        continue
    name, labels, value = m.group(1), dict(re.findall(r"(\w+)=\"([^\"]*)\"", m.group(2))), int(float(m.group(3)))
    if name == "http_requests_total" and labels.get("route") == route:
        if labels.get("status", "").startswith("2"):
            ok += value
        else:
            bad += value
    elif name == "graphql_operations_total":
        if labels.get("outcome") == "ok":
            ops_ok += value
        else:
            ops_bad += value
    elif name == "spotify_requests_total" and labels.get("endpoint") in ("currently-playing", "recently-played"):
        if labels["endpoint"] == "currently-playing":
            current += value
        else:
            recent += value
        # outcome: the HTTP status, or timeout / network.
        if not labels.get("outcome", "").startswith("2"):
            upstream_bad += value
print(ok, bad, ops_ok, ops_bad, statements, current, recent, upstream_bad)' "$1"
}

# field NAME LINE: the value of NAME=... in a BENCH_RESULT line.
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# The server's CPU time so far, in clock ticks (Linux; empty elsewhere).
server_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat" 2>/dev/null || true; }
TICKS_PER_S="$(getconf CLK_TCK 2>/dev/null || echo 100)"

# run LABEL ROUTE URL [wrk args...]: warm-up, measured run, checks.
# Fails if wrk saw any error, if the server answered any non-2xx on ROUTE,
# or if any GraphQL operation answered an error. Sets
#   RESULT                  the BENCH_RESULT line (bench/load/report.lua)
#   STATEMENTS_PER_REQUEST  database statements per request served
#   CPU_US_PER_REQUEST      server CPU time, user + system, per request served
#   SERVED                  requests the server answered on ROUTE
#   UPSTREAM_CURRENT, UPSTREAM_RECENT, UPSTREAM_BAD
#                           Spotify currently-playing / recently-played
#                           calls (and those not ok) during the measured run
#   WINDOW_S                wall-clock seconds between the two snapshots
run() {
  local label="$1" route="$2" url="$3"
  shift 3
  if [ "$WARMUP" != "0" ]; then
    say "$label: warming up for $WARMUP"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$@" "$url" >/dev/null
  fi
  local before after output ticks_before ticks_after start end
  read -r -a before <<<"$(snapshot "$route")"
  ticks_before="$(server_ticks)"
  start="$(date +%s.%N)"
  say "$label: wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
  output="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url")"
  ticks_after="$(server_ticks)"
  read -r -a after <<<"$(snapshot "$route")"
  end="$(date +%s.%N)"
  printf '%s\n' "$output" >&2
  RESULT="$(printf '%s\n' "$output" | grep '^BENCH_RESULT ' || true)"
  [ -n "$RESULT" ] || die "$label: wrk printed no BENCH_RESULT line"

  local served=$((after[0] - before[0])) refused=$((after[1] - before[1]))
  local ops_bad=$((after[3] - before[3])) statements=$((after[4] - before[4]))
  SERVED="$served"
  UPSTREAM_CURRENT=$((after[5] - before[5]))
  UPSTREAM_RECENT=$((after[6] - before[6]))
  UPSTREAM_BAD=$((after[7] - before[7]))
  WINDOW_S="$(python3 -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$start" "$end")"
  local errors
  errors=$(( $(field status_errors "$RESULT") + $(field connect_errors "$RESULT") + $(field read_errors "$RESULT") \
    + $(field write_errors "$RESULT") + $(field timeouts "$RESULT") ))
  [ "$(field requests "$RESULT")" -gt 0 ] || die "$label: no requests completed"
  [ "$errors" -eq 0 ] || die "$label: wrk counted $errors errors (status >= 400, socket errors or timeouts)"
  [ "$refused" -eq 0 ] || die "$label: the server answered $refused non-2xx responses"
  [ "$ops_bad" -eq 0 ] || die "$label: $ops_bad GraphQL operations answered errors"
  read -r STATEMENTS_PER_REQUEST CPU_US_PER_REQUEST <<<"$(python3 -c '
import sys
statements, served, before, after, hz = sys.argv[1:6]
served = int(served)
per_request = "%.2f" % (int(statements) / served) if served else "n/a"
cpu = "%.0f" % ((int(after) - int(before)) / int(hz) * 1e6 / served) if served and before and after else "n/a"
print(per_request, cpu)' "$statements" "$served" "${ticks_before:-}" "${ticks_after:-}" "$TICKS_PER_S")"
  say "$label: server answered $served requests, all 2xx; per request: $STATEMENTS_PER_REQUEST database statements, $CPU_US_PER_REQUEST µs server CPU"
}

# row LABEL: a markdown table row from the last run.
row() {
  printf '| %s | %.0f | %s | %s | %s |\n' "$1" "$(field rps "$RESULT")" "$(field p99_ms "$RESULT")" \
    "$STATEMENTS_PER_REQUEST" "$CPU_US_PER_REQUEST"
}

TABLE_HEADER='| endpoint | requests/s | p99 ms | db statements/request | server CPU µs/request |
|---|---:|---:|---:|---:|'

# ratio A B: B / A to three places.
ratio() { python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) / float(sys.argv[1])))' "$1" "$2"; }

# verdict VALUE TARGET: "meets" when VALUE >= TARGET, else "BELOW".
verdict() { python3 -c 'import sys; print("meets" if float(sys.argv[1]) >= float(sys.argv[2]) else "BELOW")' "$1" "$2"; }
