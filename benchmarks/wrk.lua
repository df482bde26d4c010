-- Replays pre-signed requests (benchmarks/load.py writes them), each once, in order.
-- Arguments: the request path, the file (header names, then one request per line).
-- With BENCH_EXPECT set, responses whose body contains it are counted ("matched"); without
-- it no response callback is defined, so wrk does not read bodies into Lua.
local threads = {}
local rows = {}
n = 0
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

local expect = os.getenv("BENCH_EXPECT")
if expect and expect ~= "" then
  matched = 0
  function response(status, headers, body)
    if body and string.find(body, expect, 1, true) then
      matched = matched + 1
    end
  end
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
  local w, sent, m = 0, 0, -1
  for _, t in ipairs(threads) do
    w = w + (t:get("wraps") or 0)
    sent = sent + (t:get("i") or 0) + (t:get("wraps") or 0) * (t:get("n") or 0)
    if t:get("matched") then
      m = math.max(m, 0) + t:get("matched")
    end
  end
  -- The latency histogram (`latency(i)`: the i-th distinct value in microseconds and how
  -- many requests took it), so that turns of one row combine into exact percentiles.
  local hist = {}
  for k = 1, #latency do
    local value, count = latency(k)
    hist[#hist + 1] = string.format("[%d,%d]", value, count)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"wraps":%d,"sent":%d,"matched":%d,' ..
    '"hist":[%s]}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, w, sent, m,
    table.concat(hist, ",")))
end
