-- wrk script: the available-seat lookup. Every request asks for the counts and the free ranges of
-- a window of 100 seats, the windows walking through the event:
--   GET /events/EVENT/seats/available?first=F&count=100
--   wrk -s avail.lua URL -- EVENT SEATS
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "common.lua")

local prefix, windows
local n = 0

function init(args)
	prefix = "/events/" .. args[1] .. "/seats/available?count=100&first="
	windows = math.floor(tonumber(args[2]) / 100)
end

function request()
	local first = ((tid * 7919 + n) % windows) * 100
	n = n + 1
	return wrk.format("GET", prefix .. first)
end
