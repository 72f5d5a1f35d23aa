-- Shared prelude of the holdfast-bench Redis scripts (prepended to each script before SCRIPT LOAD).
--
-- The Redis model of a holdfast event E, all keys in one hash slot ({hf:E}):
--   KEYS[1] {hf:E}:meta   hash: seats, row_width, free, held, booked, holds
--   KEYS[2] {hf:E}:taken  bitmap, bit s = 1 when seat s is held or booked (MSB first, Redis order)
--   KEYS[3] {hf:E}:holds  hash: hold id -> "S|deadline_ms|user|s1,s2,..." with S = H(eld),
--                          B(ooked), R(eleased), X (expired)
--   KEYS[4] {hf:E}:exp    sorted set: live hold ids by deadline_ms
-- Holds expire lazily: every script first ends up to SWEEP_MAX holds whose deadline passed, and a
-- hold found past its deadline is treated as expired on the spot. Answers use holdfast's status codes
-- (0 OK, 16 NO_EVENT, 19 SEAT_TAKEN, 20 NOT_ENOUGH, 22 NO_HOLD, 23 HOLD_EXPIRED, 24 HOLD_RELEASED,
-- 28 HOLD_CONFIRMED, 18 SEAT_RANGE, 29 DUPLICATE_SEAT). Hold ids stay strings: Lua numbers are
-- doubles and ids use 62 bits.
local K_META, K_TAKEN, K_HOLDS, K_EXP = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local SWEEP_MAX = 8

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function parse_hold(rec)
  local state, deadline, user, seats = string.match(rec, '^(%a)|(%d+)|(%d+)|(.*)$')
  local list = {}
  for s in string.gmatch(seats, '%d+') do
    list[#list + 1] = tonumber(s)
  end
  return state, tonumber(deadline), user, list
end

local function put_hold(id, state, deadline, user, list)
  redis.call('HSET', K_HOLDS, id, state .. '|' .. deadline .. '|' .. user .. '|' .. table.concat(list, ','))
end

-- Returns the seats of a held hold to sale and marks it with end_state (X or R).
local function end_hold(id, deadline, user, list, end_state)
  for i = 1, #list do
    redis.call('SETBIT', K_TAKEN, list[i], 0)
  end
  redis.call('HINCRBY', K_META, 'held', -#list)
  redis.call('HINCRBY', K_META, 'free', #list)
  redis.call('HINCRBY', K_META, 'holds', -1)
  redis.call('ZREM', K_EXP, id)
  put_hold(id, end_state, deadline, user, list)
end

local function sweep(now)
  local ids = redis.call('ZRANGEBYSCORE', K_EXP, '-inf', now, 'LIMIT', 0, SWEEP_MAX)
  for i = 1, #ids do
    local rec = redis.call('HGET', K_HOLDS, ids[i])
    if rec then
      local state, deadline, user, list = parse_hold(rec)
      if state == 'H' then
        end_hold(ids[i], deadline, user, list, 'X')
      else
        redis.call('ZREM', K_EXP, ids[i])
      end
    else
      redis.call('ZREM', K_EXP, ids[i])
    end
  end
end

-- The hold that CONFIRM or RELEASE names, after expiring what is due. Returns the answer the
-- script must give at once (no event, no such hold, or a hold whose deadline has just passed, which
-- it expires), or nil followed by the hold's state, deadline, user and seat list.
local function named_hold(id)
  if redis.call('EXISTS', K_META) == 0 then
    return {16, 0}
  end
  local now = now_ms()
  sweep(now)
  local rec = redis.call('HGET', K_HOLDS, id)
  if not rec then
    return {22, 0}
  end
  local state, deadline, user, list = parse_hold(rec)
  if state == 'H' and deadline <= now then
    end_hold(id, deadline, user, list, 'X')
    return {23, 0}
  end
  return nil, state, deadline, user, list
end
