-- wrk script: POST one body per request, rotating over the lines of a file, and count the
-- answers that are not clean GraphQL successes.
--   wrk ... -s bench/lua/rotate.lua <url> -- <bodies.jsonl> <threads> [<x-api-key>]
-- Thread i of n sends bodies i+1, i+1+n, i+1+2n, ... so threads never share a body (nor,
-- for add-to-cart, a cart when the cart count is a multiple of n).
-- done() prints one line: BENCH_RESULT {json}, the latency histogram included.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  for line in io.lines(args[1]) do
    if #line > 0 then table.insert(bodies, line) end
  end
  stride = tonumber(args[2]) or 1
  nextbody = id + 1
  failed = 0       -- HTTP status other than 200, or a top-level "errors" entry
  usererrors = 0   -- a non-empty "userErrors" list
  answered = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[3] then wrk.headers["x-api-key"] = args[3] end
end

function request()
  local body = bodies[nextbody]
  nextbody = nextbody + stride
  if nextbody > #bodies then nextbody = (nextbody - 1) % stride + 1 end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    failed = failed + 1
  end
  if string.find(body, '"userErrors"', 1, true)
      and not string.find(body, '"userErrors"%s*:%s*%[%s*%]') then
    usererrors = usererrors + 1
  end
end

function done(summary, latency, requests)
  local failed_total, user_total, answered_total = 0, 0, 0
  for _, thread in ipairs(threads) do
    failed_total = failed_total + thread:get("failed")
    user_total = user_total + thread:get("usererrors")
    answered_total = answered_total + thread:get("answered")
  end
  -- The whole latency histogram, so that slices of one measurement merge exactly.
  local histogram = {}
  for i = 1, #latency do
    local value, count = latency(i)
    histogram[#histogram + 1] = string.format("[%d,%d]", value, count)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"answered":%d,"failed":%d,' ..
    '"user_errors":%d,"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"bad_status":%d,"latency_us":[%s]}\n',
    summary.requests, summary.duration, answered_total, failed_total, user_total,
    e.connect, e.read, e.write, e.timeout, e.status, table.concat(histogram, ",")))
end
