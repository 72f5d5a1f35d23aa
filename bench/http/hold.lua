-- wrk script: the seat-reservation API. Every request holds one seat nobody else asks for:
--   POST /events/EVENT/holds  {"user": U, "seats": [S]}   Idempotency-Key: RUN-THREAD-N
-- Seats are dealt round robin over the threads (thread t takes t, t + THREADS, ...), so no two
-- requests of a run collide; past SEATS the run wraps and the conflicts show as errors (size the
-- event for the run). Every key is unique to its run, thread and request.
--   wrk -s hold.lua URL -- EVENT SEATS THREADS RUN
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "common.lua")

local path, seats, threads, run
local n = 0

function init(args)
	path = "/events/" .. args[1] .. "/holds"
	seats = tonumber(args[2])
	threads = tonumber(args[3])
	run = args[4]
end

function request()
	local seat = (tid + n * threads) % seats
	n = n + 1
	local body = '{"user":' .. (seat % 100000 + 1) .. ',"seats":[' .. seat .. '],"ttl":600}'
	return wrk.format("POST", path, {
		["Content-Type"] = "application/json",
		["Idempotency-Key"] = run .. "-" .. tid .. "-" .. n,
	}, body)
end
