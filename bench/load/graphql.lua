-- POST /graphql with the signed-in `me { friends }` query.
-- BENCH_TOKEN (an access token) comes from bench/load/foundation.sh;
-- BENCH_TOKEN=anonymous sends no Authorization header.
local token = os.getenv("BENCH_TOKEN")
if token == nil or token == "" then
  error("graphql.lua: set BENCH_TOKEN to an access token (or to anonymous)")
end

-- BENCH_QUERY replaces the query (foundation.sh's BREAKDOWN=1 uses it).
local query = os.getenv("BENCH_QUERY")
if query == nil or query == "" then
  query = "query { me { handle friends { user { handle } } } }"
end

wrk.method = "POST"
wrk.body = '{"query":"' .. query:gsub('[\\"]', '\\%0') .. '"}'
wrk.headers["Content-Type"] = "application/json"
if token ~= "anonymous" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

-- The same done() as the /healthz run, from the file next to this one.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")
