-- RELEASE: ARGV hold_id. Returns {0} or {status, detail}. Releasing twice answers 0 again.
local id = ARGV[1]
local answer, state, deadline, user, list = named_hold(id)
if answer then
  return answer
end
if state == 'H' then
  end_hold(id, deadline, user, list, 'R')
  return {0}
end
if state == 'R' then return {0} end
if state == 'B' then return {28, 0} end
return {23, 0}
