-- Shared by every run of bench/load/foundation.sh: done() prints one line that
-- the script parses. wrk reports latencies in microseconds.
--
--   BENCH_RESULT requests=N duration_s=S rps=R p50_ms=A p99_ms=B max_ms=C
--                status_errors=N connect_errors=N read_errors=N
--                write_errors=N timeouts=N
--
-- status_errors is wrk's own count of responses with a status above 399;
-- the script also checks the server's /metrics for any non-2xx status.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_s=%.3f rps=%.2f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
      .. "status_errors=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests,
    summary.duration / 1e6,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    latency.max / 1000,
    e.status, e.connect, e.read, e.write, e.timeout))
end
