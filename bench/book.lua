-- book.lua: the wrk script bench/bench.py drives the gateway with.
--
-- Every request is one booking: POST /orders with a valid JSON body (basic
-- package, center 1, card payment). The checkup date comes from the script
-- arguments (bench.py computes tomorrow + 7 days in Asia/Seoul):
--
--   wrk -t2 -c32 -d10s --latency -s bench/book.lua http://127.0.0.1:PORT -- 2026-12-03 TOKEN
--
-- TOKEN is the bearer token of the customer 010-1234-5678 (`healthcenter token
-- --phone 010-1234-5678`; HC_BENCH_TOKEN in the environment otherwise).
-- (HC_BENCH_DATE in the environment is used when no argument is given.)
-- Each wrk thread counts the answers by HTTP status and keeps a few bodies of
-- answers other than 201; done() adds them up and prints ONE line
--   HCBENCH {"requests":...,"statuses":{"201":...},"latency_us":{...},...}
-- on stdout, which bench.py parses (wrk's own report is printed too).

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local date = args[1] or os.getenv("HC_BENCH_DATE")
   if date == nil or not string.match(date, "^%d%d%d%d%-%d%d%-%d%d$") then
      error("book.lua: pass the checkupDate (YYYY-MM-DD) after --, got " .. tostring(date))
   end
   wrk.method = "POST"
   wrk.path = "/orders"
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["User-Agent"] = "hc-bench/wrk"
   local token = args[2] or os.getenv("HC_BENCH_TOKEN")
   if token ~= nil and token ~= "" then
      wrk.headers["Authorization"] = "Bearer " .. token
   end
   wrk.body = '{"name":"Bench","phone":"010-1234-5678","orderType":"basic",'
      .. '"checkupDate":"' .. date .. '","centerId":1,'
      .. '"payMethod":"card","cardNo":"4111111111111111"}'
   statuses = {}   -- status code (string) -> count, per thread
   samples = {}    -- a few "status body" strings of non-201 answers
end

function response(status, headers, body)
   local k = tostring(status)
   statuses[k] = (statuses[k] or 0) + 1
   if status ~= 201 and #samples < 3 then
      samples[#samples + 1] = k .. " " .. string.sub(body or "", 1, 300)
   end
end

-- Minimal JSON encoding for strings, numbers and flat tables.
local function jstr(s)
   s = string.gsub(s, '[%c"\\]', function(c)
      if c == '"' then return '\\"' end
      if c == "\\" then return "\\\\" end
      return string.format("\\u%04x", string.byte(c))
   end)
   return '"' .. s .. '"'
end

local function jnum(n)
   if n ~= n or n == math.huge or n == -math.huge then return "null" end
   if n == math.floor(n) and math.abs(n) < 1e15 then return string.format("%d", n) end
   return string.format("%.3f", n)
end

local function jobj(t)
   local parts = {}
   for k, v in pairs(t) do
      local val
      if type(v) == "number" then val = jnum(v)
      elseif type(v) == "table" then val = jobj(v)
      else val = jstr(tostring(v)) end
      parts[#parts + 1] = jstr(tostring(k)) .. ":" .. val
   end
   return "{" .. table.concat(parts, ",") .. "}"
end

local function jarr(t)
   local parts = {}
   for _, v in ipairs(t) do parts[#parts + 1] = jstr(tostring(v)) end
   return "[" .. table.concat(parts, ",") .. "]"
end

function done(summary, latency, requests)
   local total, non201 = {}, 0
   local all_samples = {}
   for _, t in ipairs(threads) do
      local s = t:get("statuses") or {}
      for k, v in pairs(s) do
         total[k] = (total[k] or 0) + v
         if k ~= "201" then non201 = non201 + v end
      end
      for _, b in ipairs(t:get("samples") or {}) do
         if #all_samples < 5 then all_samples[#all_samples + 1] = b end
      end
   end
   local e = summary.errors
   local out = "HCBENCH {"
      .. '"requests":' .. jnum(summary.requests)
      .. ',"duration_us":' .. jnum(summary.duration)
      .. ',"bytes":' .. jnum(summary.bytes)
      .. ',"statuses":' .. jobj(total)
      .. ',"non201":' .. jnum(non201)
      .. ',"socket_errors":' .. jobj({connect = e.connect, read = e.read, write = e.write,
                                      timeout = e.timeout})
      .. ',"latency_us":' .. jobj({min = latency.min, max = latency.max, mean = latency.mean,
                                   stdev = latency.stdev,
                                   p50 = latency:percentile(50.0),
                                   p90 = latency:percentile(90.0),
                                   p99 = latency:percentile(99.0),
                                   p999 = latency:percentile(99.9)})
      .. ',"samples":' .. jarr(all_samples)
      .. "}\n"
   io.write(out)
end
