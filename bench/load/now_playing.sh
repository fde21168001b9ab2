#!/usr/bin/env bash
# Spotify "now playing" benchmark: GET /healthz against the public
# GET /v1/users/{handle}/now-playing for one user whose Spotify is linked to
# the sandbox stand-in, and how often the server calls Spotify meanwhile.
#
#   bash bench/load/now_playing.sh
#
# Builds the release binary and starts it (SANDBOX=on: the Spotify stand-in
# is served by the binary itself under /sandbox/spotify) with a fresh SQLite
# database. Signs up `bench`, links Spotify by following connectSpotify's
# URL with curl -L (sandbox account `bench-spot`), records a play of one
# track on the stand-in, makes now-playing public and checks once that the
# route answers that track. Then runs wrk against both routes with the same
# settings, reads Spotify's currently-playing and recently-played call
# counts from /metrics before and after, prints a markdown table and stops
# the server. On demand only: not part of the test suite.
#
# Settings (environment): DURATION, CONNECTIONS, THREADS, WARMUP, PORT, BIN,
# KEEP_DB, as in bench/load/lib.sh.
set -euo pipefail

BENCH_NAME=now_playing.sh
# shellcheck source=bench/load/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TARGET_RATIO=0.5
# At most this many upstream calls per user per 15 s.
TARGET_CALLS_PER_15S=1
HANDLE=bench
SPOTIFY_ACCOUNT=bench-spot
TRACK=4uLU6hMCjMI75M1A2tKUQC

require_tools curl python3
ensure_wrk
build_binary
start_server

# ---------------------------------------------------------------- seed
say "seeding: user $HANDLE, Spotify linked to the sandbox account $SPOTIFY_ACCOUNT"
TOKEN="$(sign_up "$HANDLE")"

# Linking: the authorize URL, approved by the stand-in for our account, which
# redirects to /auth/spotify/callback; curl follows it to the final page.
CONNECT_URL="$(gql "$TOKEN" 'mutation { connectSpotify { url } }' | pick data.connectSpotify.url)"
curl -fsSL -o "$WORK/linked.html" "$CONNECT_URL&sandbox_account=$SPOTIFY_ACCOUNT" \
  || die "following the Spotify authorization URL failed"

curl -fsS -X POST "$BASE/sandbox/spotify/play" -H 'Content-Type: application/json' \
  --data-binary "{\"account\":\"$SPOTIFY_ACCOUNT\",\"track\":\"$TRACK\"}" >/dev/null \
  || die "recording a play on the sandbox failed"

gql "$TOKEN" 'mutation { updateSettings(input: { nowPlayingPublic: true }) { id } }' \
  | pick data.updateSettings.id >/dev/null

NOW_PLAYING_ROUTE='/v1/users/{handle}/now-playing'
NOW_PLAYING_URL="$BASE/v1/users/$HANDLE/now-playing"

# Upstream calls so far (the link itself calls only token and me).
read -r -a at_start <<<"$(snapshot "$NOW_PLAYING_ROUTE")"
start_s="$(date +%s.%N)"

# Warms the cache, and is the check that the link and the play worked.
BODY="$(curl -fsS "$NOW_PLAYING_URL")" || die "GET $NOW_PLAYING_URL failed"
python3 -c '
import json, sys
body, track = json.loads(sys.argv[1]), sys.argv[2]
if not body.get("isPlaying") or (body.get("track") or {}).get("id") != track:
    sys.exit("now-playing did not answer track %s playing: %s" % (track, json.dumps(body)))
' "$BODY" "$TRACK" || { cat "$WORK/linked.html" >&2; die "check of the now-playing body failed"; }
say "check: now-playing answers: $(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["text"])' "$BODY")"

# ---------------------------------------------------------------- load
run "GET now-playing" "$NOW_PLAYING_ROUTE" "$NOW_PLAYING_URL" -s "$BENCH_DIR/report.lua"
np_rps="$(field rps "$RESULT")"
NP_ROW="$(row "GET /v1/users/{handle}/now-playing (1 user, cached)")"
np_calls=$((UPSTREAM_CURRENT + UPSTREAM_RECENT))
np_window="$WINDOW_S"
np_served="$SERVED"
np_current="$UPSTREAM_CURRENT"
np_recent="$UPSTREAM_RECENT"

read -r -a at_end <<<"$(snapshot "$NOW_PLAYING_ROUTE")"
end_s="$(date +%s.%N)"
total_calls=$(( (at_end[5] - at_start[5]) + (at_end[6] - at_start[6]) ))
total_bad=$((at_end[7] - at_start[7]))
total_served=$((at_end[0] - at_start[0]))
[ "$total_bad" -eq 0 ] || die "$total_bad Spotify calls did not answer 2xx"

# /healthz last, so the upstream count above covers now-playing load only.
run "GET /healthz" /healthz "$BASE/healthz" -s "$BENCH_DIR/report.lua"
health_rps="$(field rps "$RESULT")"
HEALTH_ROW="$(row "GET /healthz")"

# ---------------------------------------------------------------- report
ratio="$(ratio "$health_rps" "$np_rps")"
ratio_verdict="$(verdict "$ratio" "$TARGET_RATIO")"
# A cadence of one call per 15 s allows floor(window / 15) + 1 calls in a
# window; per 15 s figures from short windows are rounded up by that + 1.
read -r total_s per15_run per15_total allowed calls_verdict <<<"$(python3 -c '
import math, sys
start, end, run_calls, run_window, total_calls, target = sys.argv[1:7]
total = float(end) - float(start)
per15_run = int(run_calls) / (float(run_window) / 15)
per15_total = int(total_calls) / (total / 15)
allowed = (math.floor(total / 15) + 1) * int(target)
print("%.1f" % total, "%.2f" % per15_run, "%.2f" % per15_total, allowed,
      "meets" if int(total_calls) <= allowed else "ABOVE")
' "$start_s" "$end_s" "$np_calls" "$np_window" "$total_calls" "$TARGET_CALLS_PER_15S")"

cat <<REPORT

Now-playing benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d$DURATION (warm-up $WARMUP)

$TABLE_HEADER
$HEALTH_ROW
$NP_ROW

now-playing / healthz rate: $ratio ($ratio_verdict the target of $TARGET_RATIO)

Spotify calls (currently-playing + recently-played), one user:
- measured now-playing run: $np_calls ($np_current + $np_recent) for $np_served requests in ${np_window} s = $per15_run per 15 s
- from the first GET to the end of the measured run (warm-up included): $total_calls for $total_served requests in ${total_s} s = $per15_total per 15 s
- target at most $TARGET_CALLS_PER_15S per user per 15 s (here at most $allowed calls in ${total_s} s): $calls_verdict
REPORT
