-- The after-run check of one event: rebuilds held and booked seats from the hold records and
-- compares them with the bitmap and the counters. Returns
-- {0, seats, free, held, booked, bitcount, double_owned, bit_mismatches, id, state, n, seat..., ...}
-- where the tail lists every live hold (state 1) and booking (state 2) with its seats.
if redis.call('EXISTS', K_META) == 0 then
  return {16, 0}
end
local m = redis.call('HMGET', K_META, 'seats', 'free', 'held', 'booked')
local seats = tonumber(m[1])
local owner = {}
local double_owned, bit_mismatches, held, booked = 0, 0, 0, 0
local tail = {}
local all = redis.call('HGETALL', K_HOLDS)
for i = 1, #all, 2 do
  local state, _, _, list = parse_hold(all[i + 1])
  if state == 'H' or state == 'B' then
    tail[#tail + 1] = all[i]
    tail[#tail + 1] = state == 'H' and 1 or 2
    tail[#tail + 1] = #list
    for j = 1, #list do
      local s = list[j]
      tail[#tail + 1] = s
      if owner[s] then double_owned = double_owned + 1 end
      owner[s] = true
      if redis.call('GETBIT', K_TAKEN, s) ~= 1 then bit_mismatches = bit_mismatches + 1 end
      if state == 'H' then held = held + 1 else booked = booked + 1 end
    end
  end
end
local bitcount = redis.call('BITCOUNT', K_TAKEN)
if held ~= tonumber(m[3]) or booked ~= tonumber(m[4]) then
  bit_mismatches = bit_mismatches + 1
end
local out = {0, seats, tonumber(m[2]), tonumber(m[3]), tonumber(m[4]), bitcount, double_owned, bit_mismatches}
for i = 1, #tail do out[#out + 1] = tail[i] end
return out
