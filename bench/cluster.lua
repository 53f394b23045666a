-- wrk script of bench/cluster.py: each request is the next of the three API paths, with the
-- next bearer token of the file named after "--" (one per line), so that every user's token
-- is checked and cached as real clients' are. Prints its figures as JSON when done.
local paths = {"/api/detainees", "/api/me", "/api/labs/alerts"}
local tokens = {}
local n = 0

function init(args)
   for line in io.lines(args[1]) do
      tokens[#tokens + 1] = line
   end
   n = math.random(0, 10000)  -- threads start at different places in the rotation
end

function request()
   n = n + 1
   local token = tokens[math.floor(n / #paths) % #tokens + 1]
   return wrk.format("GET", paths[n % #paths + 1], {["Authorization"] = "Bearer " .. token})
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format('{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
                          '"bad_status": %d, "socket_errors": %d}\n', summary.requests, summary.duration,
                          latency:percentile(50), latency:percentile(99), e.status,
                          e.connect + e.read + e.write + e.timeout))
end
