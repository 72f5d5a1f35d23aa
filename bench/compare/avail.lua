-- AVAIL: ARGV first, count (0 = counts only). Returns {0, seats, free} or, for a range,
-- {0, seats, free, bitmap bytes from byte first/8 to byte (first+count-1)/8} (bit = 1: taken).
local first, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local seats = tonumber(redis.call('HGET', K_META, 'seats'))
if not seats then
  return {16, 0}
end
sweep(now_ms())
local free = tonumber(redis.call('HGET', K_META, 'free'))
if count == 0 then
  return {0, seats, free}
end
if first + count > seats then
  return {18, first + count - 1}
end
return {0, seats, free, redis.call('GETRANGE', K_TAKEN, math.floor(first / 8), math.floor((first + count - 1) / 8))}
