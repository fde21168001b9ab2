#!/usr/bin/env bash
# Foundation benchmark: GET /healthz against the signed-in GraphQL query
# `me { handle friends { user { handle } } }` for a user with 10 friends.
#
#   bash bench/foundation.sh
#
# Builds the release binary, starts it on a free loopback port with a fresh
# SQLite database in a temporary directory, seeds the data over GraphQL,
# runs wrk against both endpoints with the same settings, checks that no
# response was an error, prints a markdown table and stops the server.
# On demand only: not part of the test suite.
#
# Settings (environment):
#   DURATION     length of each measured run, wrk syntax    (default 15s)
#   CONNECTIONS  open connections                           (default 32)
#   THREADS      wrk threads                                (default 2)
#   WARMUP       unmeasured run before each measured one    (default 3s; 0 = none)
#   PORT         loopback port                              (default: a free one)
#   BREAKDOWN=1  also time the query built up step by step: anonymous
#                `{ __typename }`, signed-in `{ __typename }`, `me`,
#                `me { friends }`, the full query; one row each
#   KEEP_DB=1    keep the temporary directory (database and server log)
set -euo pipefail

DURATION="${DURATION:-15s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
WARMUP="${WARMUP:-3s}"
# wrk needs at least one connection per thread.
if [ "$THREADS" -gt "$CONNECTIONS" ]; then THREADS="$CONNECTIONS"; fi
FRIENDS=10
TARGET_RATIO=0.15
PASSWORD="bench-password-123"
QUERY='query { me { handle friends { user { handle } } } }'

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'foundation.sh: %s\n' "$*" >&2; exit 1; }

for tool in curl python3 cargo; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

# wrk, from Debian/Ubuntu if missing.
if ! command -v wrk >/dev/null; then
  say "installing wrk"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "wrk is missing and there is no sudo: install the wrk package"
    SUDO="sudo"
  fi
  $SUDO apt-get update
  $SUDO apt-get install -y wrk
fi

# ---------------------------------------------------------------- build
say "building the release binary"
(cd "$ROOT" && cargo build --release --bin sendsongs)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/sendsongs"
[ -x "$BIN" ] || die "no binary at $BIN"

# ---------------------------------------------------------------- server
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sendsongs-bench.XXXXXX")"
SERVER_PID=""
cleanup() {
  local status=$?
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "${KEEP_DB:-0}" = "1" ]; then
    say "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
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

server_log() { tail -n 20 "$WORK/server.log" >&2 || true; }

for _ in $(seq 1 150); do
  if curl -fsS "$BASE/healthz" >/dev/null 2>&1; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { server_log; die "the server exited"; }
  sleep 0.2
done
curl -fsS "$BASE/healthz" >/dev/null || { server_log; die "/healthz did not answer within 30 s"; }

# ---------------------------------------------------------------- seed
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
# shellcheck disable=SC2016
ADD_FRIEND='mutation($h: String!) { addFriend(handle: $h) { status } }'

sign_up() {
  local handle="$1"
  gql "" "$SIGN_UP" \
    "{\"input\":{\"email\":\"$handle@example.com\",\"password\":\"$PASSWORD\",\"handle\":\"$handle\",\"displayName\":\"$handle\"}}" \
    | pick data.signUp.accessToken
}

add_friend() {
  local token="$1" handle="$2" expected="$3" status
  status="$(gql "$token" "$ADD_FRIEND" "{\"h\":\"$handle\"}" | pick data.addFriend.status)"
  [ "$status" = "$expected" ] || die "addFriend($handle) answered $status, expected $expected"
}

say "seeding: user bench with $FRIENDS accepted friends"
TOKEN="$(sign_up bench)"
for i in $(seq -w 1 "$FRIENDS"); do
  handle="friend$i"
  friend_token="$(sign_up "$handle")"
  add_friend "$TOKEN" "$handle" REQUESTED
  add_friend "$friend_token" bench ACCEPTED
done

# The exact request the load generator sends, checked once.
BODY="$(curl -fsS -X POST "$BASE/graphql" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $TOKEN" --data-binary "{\"query\":\"$QUERY\"}")"
python3 -c '
import json, sys
body, count = json.loads(sys.argv[1]), int(sys.argv[2])
if body.get("errors"):
    sys.exit("the benchmark query answered errors: %s" % json.dumps(body))
me = (body.get("data") or {}).get("me") or {}
handles = sorted(f["user"]["handle"] for f in me.get("friends") or [])
expected = ["friend%0*d" % (len(str(count)), i) for i in range(1, count + 1)]
if me.get("handle") != "bench" or handles != expected:
    sys.exit("the benchmark query did not answer bench with %d friends: %s" % (count, json.dumps(body)))
' "$BODY" "$FRIENDS" || die "check of the GraphQL body failed"
say "check: me { friends } answers bench with $FRIENDS friends"

# ---------------------------------------------------------------- load
# snapshot ROUTE: from /metrics, prints
#   <2xx responses> <other responses> <GraphQL ops ok> <GraphQL ops not ok> <db statements>
# for requests on ROUTE (all methods).
snapshot() {
  curl -fsS "$BASE/metrics" | python3 -c '
import re, sys
route = sys.argv[1]
ok = bad = ops_ok = ops_bad = statements = 0
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
print(ok, bad, ops_ok, ops_bad, statements)' "$1"
}

# field NAME LINE: the value of NAME=... in a BENCH_RESULT line.
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# The server's CPU time so far, in clock ticks (Linux; empty elsewhere).
server_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat" 2>/dev/null || true; }
TICKS_PER_S="$(getconf CLK_TCK 2>/dev/null || echo 100)"

# run LABEL ROUTE URL [wrk args...]: warm-up, measured run, checks.
# Sets RESULT (the BENCH_RESULT line), STATEMENTS_PER_REQUEST and
# CPU_US_PER_REQUEST (server CPU time, user + system, per request served).
run() {
  local label="$1" route="$2" url="$3"
  shift 3
  if [ "$WARMUP" != "0" ]; then
    say "$label: warming up for $WARMUP"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$@" "$url" >/dev/null
  fi
  local before after output ticks_before ticks_after
  read -r -a before <<<"$(snapshot "$route")"
  ticks_before="$(server_ticks)"
  say "$label: wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
  output="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url")"
  ticks_after="$(server_ticks)"
  read -r -a after <<<"$(snapshot "$route")"
  printf '%s\n' "$output" >&2
  RESULT="$(printf '%s\n' "$output" | grep '^BENCH_RESULT ' || true)"
  [ -n "$RESULT" ] || die "$label: wrk printed no BENCH_RESULT line"

  local served=$((after[0] - before[0])) refused=$((after[1] - before[1]))
  local ops_bad=$((after[3] - before[3])) statements=$((after[4] - before[4]))
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

run "GET /healthz" /healthz "$BASE/healthz" -s "$BENCH_DIR/report.lua"
health_rps="$(field rps "$RESULT")"
HEALTH_ROW="$(row "GET /healthz")"

export BENCH_TOKEN="$TOKEN"
unset BENCH_QUERY
run "POST /graphql" /graphql "$BASE/graphql" -s "$BENCH_DIR/graphql.lua"
graphql_rps="$(field rps "$RESULT")"
GRAPHQL_ROW="$(row "POST /graphql \`me { handle friends { user { handle } } }\` ($FRIENDS friends)")"

# BREAKDOWN=1: the query built up one step at a time, to see what each step
# costs (each signed-in step adds one database statement).
BREAKDOWN_ROWS=""
if [ "${BREAKDOWN:-0}" = "1" ]; then
  while IFS='|' read -r who query; do
    label="\`$query\`"
    if [ "$who" = "anonymous" ]; then
      label="$label, no token"
      export BENCH_TOKEN=anonymous
    else
      export BENCH_TOKEN="$TOKEN"
    fi
    export BENCH_QUERY="$query"
    run "breakdown: $query" /graphql "$BASE/graphql" -s "$BENCH_DIR/graphql.lua"
    BREAKDOWN_ROWS+="$(row "$label")"$'\n'
  done <<'STEPS'
anonymous|{ __typename }
signed|{ __typename }
signed|{ me { handle } }
signed|{ me { handle friends { since } } }
signed|{ me { handle friends { user { handle } } } }
STEPS
  unset BENCH_QUERY
fi

# ---------------------------------------------------------------- report
ratio="$(python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) / float(sys.argv[1])))' "$health_rps" "$graphql_rps")"
verdict="$(python3 -c 'import sys; print("meets" if float(sys.argv[1]) >= float(sys.argv[2]) else "BELOW")' "$ratio" "$TARGET_RATIO")"
HEADER='| endpoint | requests/s | p99 ms | db statements/request | server CPU µs/request |
|---|---:|---:|---:|---:|'

cat <<REPORT

Foundation benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d$DURATION (warm-up $WARMUP)

$HEADER
$HEALTH_ROW
$GRAPHQL_ROW

GraphQL / healthz rate: $ratio ($verdict the target of $TARGET_RATIO)
REPORT
if [ -n "$BREAKDOWN_ROWS" ]; then
  cat <<REPORT

Breakdown (POST /graphql, same settings):

$HEADER
${BREAKDOWN_ROWS%$'\n'}
REPORT
fi
