-- creates.lua - wrk script: POST /v1/sessions with a fresh pair of parties
-- per request (so every create allocates, and none is refused).
local counter = 0
local tid = 0
local token = os.getenv("MASKD_TOKEN") or "bench-token-000001"
-- several wrk at once (bench_cluster_api.py: one per node) each give
-- their own base, so their parties never meet
local base = tonumber(os.getenv("MASKD_PARTY_BASE") or "0")

setup = function(thread)
	thread:set("tid", tid)
	tid = tid + 1
end

init = function(args)
	wrk.method = "POST"
	wrk.headers["Content-Type"] = "application/json"
	wrk.headers["Authorization"] = "Bearer " .. token
end

request = function()
	counter = counter + 1
	-- parties unique across threads: +1 2TT CCCCCCC
	local n = base + tid * 10000000 + counter
	local body = string.format(
		'{"party_a":"+12%09d","party_b":"+13%09d","ttl":3600}', n, n)
	return wrk.format(nil, "/v1/sessions", nil, body)
end

local codes = {}
response = function(status, headers, body)
	codes[status] = (codes[status] or 0) + 1
end

done = function(summary, latency, requests)
	io.write(string.format("creates/s %.0f  p50 %.2f ms  p99 %.2f ms  errors %d  non2xx %d\n",
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50) / 1000, latency:percentile(99) / 1000,
		summary.errors.connect + summary.errors.read + summary.errors.write +
		summary.errors.timeout, summary.errors.status))
end
