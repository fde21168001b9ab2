#!/usr/bin/env bash
# Foundation benchmark: GET /healthz against the signed-in GraphQL query
# `me { handle friends { user { handle } } }` for a user with 10 friends.
#
#   bash bench/load/foundation.sh
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
#   BIN          an already built server binary: skips `cargo build`
#   BREAKDOWN=1  also time the query built up step by step: anonymous
#                `{ __typename }`, signed-in `{ __typename }`, `me`,
#                `me { friends }`, the full query; one row each
#   KEEP_DB=1    keep the temporary directory (database and server log)
set -euo pipefail

BENCH_NAME=foundation.sh
# shellcheck source=bench/load/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FRIENDS=10
TARGET_RATIO=0.15
QUERY='query { me { handle friends { user { handle } } } }'

require_tools curl python3
ensure_wrk
build_binary
start_server

# ---------------------------------------------------------------- seed
# shellcheck disable=SC2016
ADD_FRIEND='mutation($h: String!) { addFriend(handle: $h) { status } }'

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
run "GET /healthz" /healthz "$BASE/healthz" -s "$BENCH_DIR/report.lua"
health_rps="$(field rps "$RESULT")"
HEALTH_ROW="$(row "GET /healthz")"

export BENCH_TOKEN="$TOKEN"
unset BENCH_QUERY
run "POST /graphql" /graphql "$BASE/graphql" -s "$BENCH_DIR/graphql.lua"
graphql_rps="$(field rps "$RESULT")"
GRAPHQL_ROW="$(row "POST /graphql \`me { handle friends { user { handle } } }\` ($FRIENDS friends)")"

# BREAKDOWN=1: the query built up one step at a time, to see what each step
# costs.
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
ratio="$(ratio "$health_rps" "$graphql_rps")"
verdict="$(verdict "$ratio" "$TARGET_RATIO")"
HEADER="$TABLE_HEADER"

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
