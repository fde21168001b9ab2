-- POST /graphql with the signed-in `me { friends }` query.
-- BENCH_TOKEN (an access token) comes from bench/foundation.sh.
local token = os.getenv("BENCH_TOKEN")
if token == nil or token == "" then
  error("graphql.lua: set BENCH_TOKEN to an access token")
end

wrk.method = "POST"
wrk.body = '{"query":"query { me { handle friends { user { handle } } } }"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

-- The same done() as the /healthz run, from the file next to this one.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")
