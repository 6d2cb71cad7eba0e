-- wrk script for the API benchmarks (bench/api.py, bench/migrations_load.py).
--
--   wrk -t2 -c32 -d10s -s bench/wrk/api.lua http://127.0.0.1:8000 -- SCENARIO USERS_FILE
--
-- SCENARIO: me | agent | messages | post | bare
-- USERS_FILE: one line per user, "TOKEN AGENT_ID CONVERSATION_ID" (written by the benchmark).
-- Every request of a thread is built once in init() and then cycled, so the generator spends
-- its CPU (which it shares with the API and PostgreSQL) on sending, not on Lua.
-- done() prints one line "BENCH_JSON {...}" with counts, errors and latency percentiles (us).

local requests = {}
local position = 1
local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

local function read_users(path)
  local users = {}
  for line in io.lines(path) do
    local token, agent, conversation = line:match("^(%S+)%s+(%S+)%s+(%S+)")
    if token then
      users[#users + 1] = { token = token, agent = agent, conversation = conversation }
    end
  end
  return users
end

local function build(scenario, user, n)
  local auth = { ["Authorization"] = "Bearer " .. user.token }
  if scenario == "me" then
    return wrk.format("GET", "/api/v1/users/me", auth)
  elseif scenario == "agent" then
    return wrk.format("GET", "/api/v1/agents/" .. user.agent, auth)
  elseif scenario == "messages" then
    return wrk.format("GET", "/api/v1/conversations/" .. user.conversation .. "/messages?limit=50", auth)
  elseif scenario == "post" then
    local headers = { ["Authorization"] = auth["Authorization"], ["Content-Type"] = "application/json" }
    local body = '{"role": "user", "content": "benchmark message ' .. n .. ': where is my refund?"}'
    return wrk.format("POST", "/api/v1/conversations/" .. user.conversation .. "/messages", headers, body)
  elseif scenario == "bare" then
    return wrk.format("GET", "/bare/" .. user.agent)
  end
  error("unknown scenario " .. scenario)
end

function init(args)
  local scenario = args[1]
  local users = read_users(args[2])
  if #users == 0 then
    error("no users in " .. args[2])
  end
  -- Threads start at different users, and each request goes to the next user.
  local offset = (thread_index or 0) * 7919
  for i = 1, #users do
    local user = users[(offset + i - 1) % #users + 1]
    requests[#requests + 1] = build(scenario, user, i)
  end
end

function request()
  local r = requests[position]
  position = position % #requests + 1
  return r
end

function done(summary, latency, requests_)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
