-- wrk driver for the compare scripts (LOADGEN=wrk, bench/lib.sh compare_run_wrk): the same keys, values and
-- requests as the bench tool's raw clients (AspireCache.Bench/KvClient.cs), from a load generator written in C.
--
--   WRK_SYSTEM      aspirecache | etcd
--   WRK_TARGETS     space-separated base URLs; wrk's threads take them in turn (etcd: one member per thread)
--   WRK_MIX         read percentage, 0..100 (100 = reads only, 0 = writes only)
--   WRK_CONSISTENT  true | false   (AspireCache ?consistent=…, etcd "serializable": not …)
--   WRK_KEYS        key count; keys are WRK_PREFIX .. index, zero-padded to max(6, digits of the count)
--   WRK_PREFIX      key prefix (bench/)
--   WRK_VALUE_SIZE  value bytes (256)
--   WRK_TOKEN       AspireCache only: sent as Authorization: Bearer
--   WRK_OUT         where done() writes the result as JSON (the tool's --json fields the summaries read)
--
-- Every request is built once per thread in init(); request() only picks one, so the generator's cost per
-- request is wrk's own. A response that is not 2xx/3xx counts as an error (summary.errors.status).

local env = os.getenv
local system = env("WRK_SYSTEM") or "aspirecache"
local mix = tonumber(env("WRK_MIX") or "100")
local consistent = (env("WRK_CONSISTENT") or "true") == "true"
local keys = tonumber(env("WRK_KEYS") or "10000")
local prefix = env("WRK_PREFIX") or "bench/"
local value_size = tonumber(env("WRK_VALUE_SIZE") or "256")
local token = env("WRK_TOKEN")

local digits = math.max(6, #tostring(keys))
local function key_at(i) return prefix .. string.format("%0" .. digits .. "d", i) end

-- base64 (etcd's JSON gateway takes keys and values base64-encoded)
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end

local targets = {}
for t in (env("WRK_TARGETS") or ""):gmatch("%S+") do targets[#targets + 1] = t end

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  if #targets > 0 then
    local url = targets[(counter - 1) % #targets + 1]
    local host, port = url:match("^https?://([^:/]+):(%d+)")
    thread.addr = wrk.lookup(host, port)[1]
  end
  threads[#threads + 1] = thread
end

local reads, writes = {}, {}

function init(args)
  math.randomseed(os.time() * 1000 + (id or 0))
  local value = {}
  for i = 1, value_size do value[i] = string.char(math.random(97, 122)) end
  value = table.concat(value)
  if system == "etcd" then
    local headers = { ["Content-Type"] = "application/json" }
    local v64 = base64(value)
    local suffix = consistent and '","serializable":false}' or '","serializable":true}'
    for i = 0, keys - 1 do
      local k64 = base64(key_at(i))
      reads[i + 1] = wrk.format("POST", "/v3/kv/range", headers, '{"key":"' .. k64 .. suffix)
      writes[i + 1] = wrk.format("POST", "/v3/kv/put", headers, '{"key":"' .. k64 .. '","value":"' .. v64 .. '"}')
    end
  else
    local auth = token and { ["Authorization"] = "Bearer " .. token } or {}
    local query = consistent and "?consistent=true" or "?consistent=false"
    local put_headers = { ["Content-Type"] = "application/octet-stream" }
    if token then put_headers["Authorization"] = "Bearer " .. token end
    for i = 0, keys - 1 do
      local path = "/cache/" .. key_at(i)
      reads[i + 1] = wrk.format("GET", path .. query, auth, nil)
      writes[i + 1] = wrk.format("PUT", path, put_headers, value)
    end
  end
end

function request()
  local i = math.random(keys)
  if mix >= 100 or (mix > 0 and math.random(100) <= mix) then
    return reads[i]
  end
  return writes[i]
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local ok = summary.requests - e.status
  local function ms(p) return latency:percentile(p) / 1000 end
  local out = io.open(env("WRK_OUT") or "/dev/stdout", "w")
  out:write(string.format(
    '{"loadGenerator":"wrk","throughput":%.1f,"elapsedSeconds":%.3f,"totalOperations":%d,"totalErrors":%d,' ..
    '"errors":{%s},"clientCpuPercent":0,' ..
    '"total":{"p50Ms":%.3f,"p90Ms":%.3f,"p99Ms":%.3f,"p999Ms":%.3f,"maxMs":%.3f},' ..
    '"options":{"warmupSeconds":0,"preload":false,"keys":%d,"connections":%d,"threads":%d}}\n',
    ok / seconds, seconds, ok, errors,
    table.concat((function()
      local parts = {}
      for _, name in ipairs({ "connect", "read", "write", "status", "timeout" }) do
        if e[name] > 0 then parts[#parts + 1] = string.format('"%s":%d', name, e[name]) end
      end
      return parts
    end)(), ","),
    ms(50), ms(90), ms(99), ms(99.9), latency.max / 1000,
    keys, tonumber(env("WRK_CONNECTIONS") or "0"), #threads))
  out:close()
end
