-- Shared by hold.lua and avail.lua (loaded with dofile): per-thread ids, and the result line.
--
-- wrk runs setup() once per thread in its main Lua state, then each thread's own state runs
-- init(args), request() per request and, in the main state, done() once at the end. done()
-- prints one machine-readable line that replay.sh parses:
--   RESULT requests=N seconds=S rps=R avg_ms=A p50_ms=M p99_ms=P max_ms=X errors=E non2xx=H
--          connect=C read=D write=W timeout=T
-- where errors = non2xx + connect + read + write + timeout (every request that did not succeed).

local threads_count = 0

function setup(thread)
	thread:set("tid", threads_count)
	threads_count = threads_count + 1
end

function done(summary, latency, requests)
	local e = summary.errors
	local errors = e.status + e.connect + e.read + e.write + e.timeout
	local seconds = summary.duration / 1e6
	io.write(string.format(
		"RESULT requests=%d seconds=%.3f rps=%.2f avg_ms=%.3f p50_ms=%.3f p99_ms=%.3f " ..
		"max_ms=%.3f errors=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
		summary.requests, seconds, summary.requests / seconds, latency.mean / 1000,
		latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
		errors, e.status, e.connect, e.read, e.write, e.timeout))
end
