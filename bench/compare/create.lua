-- CREATE_EVENT: ARGV seats, row_width. Idempotent: the same parameters answer 0, others 17.
local seats, row_width = tonumber(ARGV[1]), tonumber(ARGV[2])
local have = redis.call('HGET', K_META, 'seats')
if have then
  if tonumber(have) == seats and tonumber(redis.call('HGET', K_META, 'row_width')) == row_width then
    return {0}
  end
  return {17}
end
redis.call('HSET', K_META, 'seats', seats, 'row_width', row_width, 'free', seats, 'held', 0,
  'booked', 0, 'holds', 0)
-- Allocate the whole bitmap now, as holdfast allocates its seat array at create.
redis.call('SETBIT', K_TAKEN, seats - 1, 0)
return {0}
