-- wrk script: POST a fixed JSON body and print a JSON summary line at the end.
--
-- Environment:
--   BENCH_BODY_FILE  path of the request body (required)
--   BENCH_HEADERS    extra request headers, one "Name: value" a line (optional)
-- The summary line starts with "BENCH_RESULT " so that bench/run.py can find it. Its
-- latencies are in microseconds.

local function read_file(path)
   local file = assert(io.open(path, "rb"), "cannot open BENCH_BODY_FILE " .. tostring(path))
   local data = file:read("*a")
   file:close()
   return data
end

function init(args)
   wrk.method = "POST"
   wrk.body = read_file(os.getenv("BENCH_BODY_FILE"))
   wrk.headers["Content-Type"] = "application/json"
   for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
      local name, value = string.match(line, "^([^:]+):%s*(.*)$")
      if name then
         wrk.headers[name] = value
      end
   end
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"mean": %.2f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max))
end
