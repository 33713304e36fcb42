-- wrk script: every request asks for one of BENCH_OBJECTS objects of BENCH_SIZE bytes, chosen
-- at random (uniformly). Requests are formatted once in init(), so the client spends its time
-- on the network rather than in Lua. The Host header comes from wrk's -H 'Host: bench.local'.
-- At the end one line `BENCH_JSON {...}` carries the numbers the runner reads
-- (latencies in microseconds).
local requests = {}
local count = 0

function init(args)
  count = tonumber(os.getenv("BENCH_OBJECTS") or "1000")
  local size = os.getenv("BENCH_SIZE") or "1024"
  local prefix = os.getenv("BENCH_PREFIX") or "/obj/"
  -- BENCH_QUERY: more of the query (the compression rows ask for "&type=text").
  local query = os.getenv("BENCH_QUERY") or ""
  for i = 1, count do
    requests[i] = wrk.format("GET", prefix .. (i - 1) .. "?size=" .. size .. query)
  end
  local seed = tonumber(os.getenv("BENCH_SEED") or "1")
  -- Each wrk thread has its own Lua state: mix the thread's address in so threads differ.
  local ok, salt = pcall(function() return tonumber(tostring(wrk.thread):match("(%x+)$"), 16) or 0 end)
  math.randomseed(seed + ((ok and salt or 0) % 1000003))
end

function request()
  return requests[math.random(count)]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"mean_us":%.1f,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99), latency.max,
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
