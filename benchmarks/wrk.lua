-- Replays pre-signed requests (benchmarks/load.py writes them), each once, in order.
-- Arguments: the request path, the file (header names, then one request per line).
local threads = {}
local rows = {}
local n = 0
i = 0
wraps = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local path = args[1]
  local f = assert(io.open(args[2], "r"))
  local names = {}
  for name in string.gmatch(f:read("*l"), "[^\t]+") do
    names[#names + 1] = name
  end
  for line in f:lines() do
    local headers = {}
    local pos = 1
    for k = 1, #names do
      local tab = string.find(line, "\t", pos, true)
      headers[names[k]] = string.sub(line, pos, tab - 1)
      pos = tab + 1
    end
    n = n + 1
    rows[n] = wrk.format("POST", path, headers, string.sub(line, pos))
  end
  f:close()
end

function request()
  i = i + 1
  if i > n then
    i = 1
    wraps = wraps + 1
  end
  return rows[i]
end

function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do
    w = w + (t:get("wraps") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"wraps":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, w))
end
