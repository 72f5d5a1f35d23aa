# Shared helpers of the comparison scripts (sourced, not run): build, install, free ports, start and
# stop holdfastd and redis-server on loopback. Every wait is bounded; every server started here is
# recorded in SERVER_PIDS and stopped by cleanup_servers (the callers trap it on exit).

SERVER_PIDS=()
STARTED_PID=
WAIT_TRIES_MAX=300 # x 0.1 s

log() { echo "compare: $*" >&2; }

# ensure_build DIR: a release build of holdfastd and holdfast-bench in DIR (set up when missing).
ensure_build() {
	local dir=$1
	if [ ! -f "$dir/build.ninja" ]; then
		log "setting up $dir (release)"
		meson setup "$dir" -Dbuildtype=release -Dtests=false >/dev/null
	fi
	ninja -C "$dir" engine/holdfastd bench/holdfast-bench >/dev/null
}

# ensure_redis: redis-server from Debian's package when it is missing (the machine is root).
ensure_redis() {
	if command -v redis-server >/dev/null 2>&1; then
		return 0
	fi
	log "installing redis-server"
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends redis-server >/dev/null
}

port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_ports N: prints a base port B such that B .. B+N-1 are free on loopback. Ports are taken
# below the kernel's ephemeral range, so that no client connection can grab one between the check
# and the server's bind.
free_ports() {
	local n=$1 tries base i busy low=32768
	if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
		read -r low _ </proc/sys/net/ipv4/ip_local_port_range
	fi
	if [ "$low" -le $((10000 + n + 100)) ]; then
		low=$((10000 + n + 1000))
	fi
	for tries in $(seq 1 200); do
		base=$((10000 + RANDOM % (low - 10000 - n)))
		busy=0
		for ((i = 0; i < n; i++)); do
			if port_in_use $((base + i)); then
				busy=1
				break
			fi
		done
		if [ $busy -eq 0 ]; then
			echo "$base"
			return 0
		fi
	done
	log "no free port range found"
	return 1
}

wait_port() {
	local port=$1 pid=$2 i
	for ((i = 0; i < WAIT_TRIES_MAX; i++)); do
		port_in_use "$port" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# start_redis PORT DIR DURABILITY: sets STARTED_PID (call it directly, not in $(...), so the
# server is this shell's child and is recorded for cleanup).
start_redis() {
	local port=$1 dir=$2 durability=$3
	local persist=(--save "" --appendonly no)
	case $durability in
	none) ;;
	wal) persist=(--save "" --appendonly yes --appendfsync everysec) ;;
	fsync) persist=(--save "" --appendonly yes --appendfsync always) ;;
	*) log "unknown durability $durability"; return 1 ;;
	esac
	mkdir -p "$dir"
	redis-server --port "$port" --bind 127.0.0.1 --protected-mode no --dir "$dir" \
		--daemonize no --logfile "$dir/redis.log" "${persist[@]}" >/dev/null 2>&1 &
	local pid=$!
	SERVER_PIDS+=("$pid")
	if ! wait_port "$port" "$pid"; then
		log "redis-server did not start (see $dir/redis.log)"
		return 1
	fi
	STARTED_PID=$pid
}

# start_holdfastd BUILD PORT SHARDS DIR DURABILITY [extra flags]: sets STARTED_PID.
start_holdfastd() {
	local build=$1 port=$2 shards=$3 dir=$4 durability=$5
	shift 5
	mkdir -p "$dir"
	"$build/engine/holdfastd" --listen "127.0.0.1:$port" --shards "$shards" --data-dir "$dir/data" \
		--durability "$durability" --log-level warn "$@" >"$dir/holdfastd.log" 2>&1 &
	local pid=$!
	SERVER_PIDS+=("$pid")
	local i
	for ((i = 0; i < shards; i++)); do
		if ! wait_port $((port + i)) "$pid"; then
			log "holdfastd did not start (see $dir/holdfastd.log)"
			return 1
		fi
	done
	STARTED_PID=$pid
}

# stop_pid PID: TERM, then KILL after 5 s.
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

cleanup_servers() {
	local pid
	for pid in "${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}"; do
		stop_pid "$pid"
	done
	SERVER_PIDS=()
}

# cpu_ticks PID: user + system CPU time of the process so far, in clock ticks (getconf CLK_TCK).
cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$1/stat"
}

rss_kib() {
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}
