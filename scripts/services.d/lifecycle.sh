# scripts/services.d/lifecycle.sh — `stop`, `purge`, the --watch-pid watchdog, `start` and `env`.
# Sourced by scripts/services (which sets the shell options, PATH and the
# constants); not run on its own.
# shellcheck shell=bash

# ------------------------------------------------------------------- stop ---

# TERM the processes in the given pid files (if alive and matching), wait up
# to SECONDS, then KILL whatever is left.
term_then_kill() { # seconds file:pattern...
	local secs=$1 spec file pattern pids=() pid
	shift
	for spec in "$@"; do
		file=${spec%%:*} pattern=${spec#*:}
		pidfile_alive "$file" "$pattern" || continue
		pid=$(<"$file")
		kill -TERM "$pid" 2>/dev/null || true
		pids+=("$pid")
	done
	((${#pids[@]})) || return 0
	local deadline=$(($(now_ms) + secs * 1000)) left
	while :; do
		left=()
		for pid in "${pids[@]}"; do pid_alive "$pid" && left+=("$pid"); done
		((${#left[@]})) || return 0
		(($(now_ms) < deadline)) || break
		sleep 0.1
	done
	log "killing ${left[*]} after ${secs}s"
	kill -KILL "${left[@]}" 2>/dev/null || true
}

cmd_stop() { # dir [pg-stop-mode [keep-watchdog]]
	local dir=$1 pg_mode=${2:-fast} keep_watchdog=${3:-}
	[[ -d $dir ]] || return 0
	load_state "$dir"
	# The watchdog first, unless we are the watchdog.
	if [[ -z $keep_watchdog ]] && [[ -s $dir/watchdog.pid && $(<"$dir/watchdog.pid") != "$$" ]]; then
		term_then_kill 5 "$dir/watchdog.pid:__watchdog"
		rm -f "$dir/watchdog.pid"
	fi
	# TERM nats and clickhouse first so they shut down while postgres stops.
	local p
	for p in "$dir/nats.pid:nats-server" "$dir/clickhouse.pid:clickhouse"; do
		pidfile_alive "${p%%:*}" "${p#*:}" && kill -TERM "$(<"${p%%:*}")" 2>/dev/null
	done
	stop_pg "$pg_mode"
	term_then_kill 15 "$dir/nats.pid:nats-server" "$dir/clickhouse.pid:clickhouse"
	rm -f "$dir/nats.pid" "$dir/clickhouse.pid"
	log "stopped services in $dir"
}

cmd_purge() { # dir
	local dir=$1
	[[ -d $dir ]] || return 0
	cmd_stop "$dir" immediate
	load_state "$dir"
	# An external Postgres base (see header) is ours only if it looks like one.
	if [[ -n $PG_BASE && $PG_BASE != "$dir/pg" && ${PG_BASE##*/} == statushawk-pg.* ]]; then
		rm -rf -- "$PG_BASE"
	fi
	rm -rf -- "$dir"
	log "removed $dir"
}

# --------------------------------------------------------------- watchdog ---

# Runs detached: once PID is gone (or reused by another process), purge DIR.
cmd_watchdog() { # dir pid starttime
	local dir=$1 pid=$2 start=$3
	local nap=''
	echo $$ >"$dir/watchdog.pid"
	# Sleep in the background and `wait`, so a TERM from `stop` ends us at once.
	trap '[[ -z $nap ]] || kill "$nap" 2>/dev/null; exit 0' TERM
	while [[ -d $dir ]]; do
		if ! pid_alive "$pid" || [[ $(pid_starttime "$pid") != "$start" ]]; then
			log "watched pid $pid is gone; purging $dir"
			trap - TERM
			cmd_purge "$dir"
			exit 0
		fi
		sleep 1 &
		nap=$!
		wait "$nap" || true
		nap=''
	done
}

start_watchdog() { # dir pid
	local dir=$1 pid=$2 start
	pid_alive "$pid" || die "--watch-pid $pid: no such process"
	start=$(pid_starttime "$pid")
	spawn_detached "$dir/watchdog.log" "$SELF" __watchdog "$dir" "$pid" "$start"
	echo "$SPAWNED_PID" >"$dir/watchdog.pid"
}

# ------------------------------------------------------------------ start ---

STARTED_DIR='' WATCH_PID=''
on_start_exit() {
	local rc=$?
	if ((rc != 0)) && [[ -n $STARTED_DIR ]]; then
		if [[ -n $WATCH_PID ]] && ! pid_alive "$WATCH_PID"; then
			cmd_purge "$STARTED_DIR" || true
		else
			# With --watch-pid the watchdog stays: it still removes DIR (and
			# the logs kept for diagnosis) once the watched process exits.
			log "start failed; stopping what was started in $STARTED_DIR (logs kept)"
			cmd_stop "$STARTED_DIR" fast keep-watchdog || true
		fi
	fi
	exit "$rc"
}

cmd_start() {
	local dir='' ports=free watch_pid=''
	while (($#)); do
		case $1 in
		--ports) ports=${2:-}; shift 2 || usage ;;
		--ports=*) ports=${1#*=}; shift ;;
		--watch-pid) watch_pid=${2:-}; shift 2 || usage ;;
		--watch-pid=*) watch_pid=${1#*=}; shift ;;
		-*) usage ;;
		*) [[ -z $dir ]] || usage; dir=$1; shift ;;
		esac
	done
	[[ -n $dir ]] || usage
	[[ $ports == free || $ports == standard ]] || die "--ports must be 'free' or 'standard'"
	[[ -z $watch_pid || $watch_pid =~ ^[0-9]+$ ]] || die "--watch-pid needs a numeric pid"
	[[ -z $watch_pid ]] || pid_alive "$watch_pid" || die "--watch-pid $watch_pid: no such process"

	local t0
	t0=$(now_ms)
	# Starting installs nothing: that is `install`'s job (scripts/test and
	# scripts/dev run it first; on a machine that has everything it only looks).
	local missing=()
	mapfile -t missing < <(missing_packages)
	((${#missing[@]} == 0)) || die "missing: ${missing[*]}; run scripts/services install first"
	local nats_bin
	nats_bin=$(find_nats) || die "no nats-server >= 2.10 found"
	PATH="$(dirname "$nats_bin"):$PATH"
	export PATH
	PG_BIN=$(find_pg_bin) || die "postgresql-$PG_MAJOR binaries not found"

	mkdir -p "$dir"
	dir=$(readlink -f "$dir")
	[[ $dir != *"'"* ]] || die "DIR must not contain a single quote"
	# Postgres runs as another user when we are root: it must traverse DIR.
	chmod 755 "$dir" 2>/dev/null || true

	load_state "$dir"
	if pidfile_alive "$dir/nats.pid" nats-server || pidfile_alive "$dir/clickhouse.pid" clickhouse ||
		{ [[ -n $PG_BASE && -f $PG_BASE/data/postmaster.pid ]] && pid_alive "$(head -n1 "$PG_BASE/data/postmaster.pid")"; }; then
		die "services are already running in $dir (run: scripts/services stop $dir)"
	fi
	PG_BIN=$(find_pg_bin)
	rm -f "$dir/env" # never leave a stale env behind if this start fails

	STARTED_DIR=$dir WATCH_PID=$watch_pid
	trap on_start_exit EXIT
	# Start the watchdog first, so that DIR is cleaned up even if this script
	# is killed half-way (e.g. a test harness timing out).
	# A watchdog left by an earlier failed start watches the wrong pid.
	if pidfile_alive "$dir/watchdog.pid" __watchdog; then
		kill -TERM "$(<"$dir/watchdog.pid")" 2>/dev/null || true
	fi
	rm -f "$dir/watchdog.pid"
	[[ -z $watch_pid ]] || start_watchdog "$dir" "$watch_pid"

	if [[ $ports == standard && -n $(ports_in_use 4222 8222 5432 8123 9000) ]]; then
		die "standard port(s) already in use on 127.0.0.1: $(ports_in_use 4222 8222 5432 8123 9000 | tr '\n' ' ')"
	fi

	# Slow, port-independent preparation first, outside the port lock.
	prepare_pg_base "$dir"
	save_state "$dir"
	init_pg

	# Pick ports and get every server listening on them under one lock, so
	# concurrent starts never pick the same free port.
	take_lock 9 "$PORT_LOCK"
	if [[ $ports == standard ]]; then
		NATS_PORT=4222 NATS_MON_PORT=8222 PG_PORT=5432 CH_HTTP_PORT=8123 CH_TCP_PORT=9000
		local busy
		busy=$(ports_in_use 4222 8222 5432 8123 9000 | tr '\n' ' ')
		[[ -z $busy ]] || die "standard port(s) already in use on 127.0.0.1: $busy"
	else
		read -r NATS_PORT NATS_MON_PORT PG_PORT CH_HTTP_PORT CH_TCP_PORT < <(pick_free_ports 5)
		[[ -n $CH_TCP_PORT ]] || die "could not pick free ports"
	fi
	save_state "$dir"

	write_clickhouse_config "$dir"
	rm -f "$dir/clickhouse/data/status" # 18.16 leaves it behind after a KILL
	start_nats "$dir" "$nats_bin"
	start_clickhouse "$dir"
	start_pg
	save_state "$dir"

	wait_service "nats-server (127.0.0.1:$NATS_PORT)" "$dir/nats.pid" nats-server nats_ready \
		"$dir/nats.log"
	wait_service "clickhouse-server (127.0.0.1:$CH_HTTP_PORT)" "$dir/clickhouse.pid" clickhouse \
		clickhouse_ready "$dir/clickhouse.err.log" "$dir/clickhouse.log" "$dir/clickhouse.stdout.log"
	wait_for "$TIMEOUT" pg_ready ||
		{ show_logs "$PG_BASE/postgres.log"; die "postgres not ready on 127.0.0.1:$PG_PORT after ${TIMEOUT}s"; }
	release_lock 9

	# Application databases (tests create their own, via the admin URLs).
	if [[ -z $(psql_admin "SELECT 1 FROM pg_database WHERE datname = 'statushawk'") ]]; then
		psql_admin "CREATE DATABASE statushawk" >&2 || die "cannot create postgres database statushawk"
	fi
	clickhouse_query "CREATE DATABASE IF NOT EXISTS statushawk" >&2 ||
		die "cannot create clickhouse database statushawk"

	write_env "$dir"
	# The watched process may have died while we were starting, and the
	# watchdog's purge may have raced with our spawns: make sure.
	if [[ -n $watch_pid ]] && ! pid_alive "$watch_pid"; then
		die "watched pid $watch_pid exited during start"
	fi
	trap - EXIT
	log "all services up in $dir ($(($(now_ms) - t0)) ms): nats :$NATS_PORT (monitor :$NATS_MON_PORT)," \
		"postgres :$PG_PORT, clickhouse http :$CH_HTTP_PORT tcp :$CH_TCP_PORT"
	cat "$dir/env"
}

cmd_env() { # dir
	[[ -f $1/env ]] || die "no env file in $1 (run: scripts/services start $1)"
	cat "$1/env"
}

# ------------------------------------------------------------ kill, revive ---
# For fault injection: one server dies (SIGKILL; Postgres an immediate stop,
# its crash-like shutdown) and later comes back on the same ports and data.

cmd_kill() { # dir service
	local dir=$1 service=$2 pid
	load_state "$dir"
	case $service in
	nats | clickhouse)
		local file=$dir/$service.pid pattern=$service
		[[ $service == nats ]] && pattern=nats-server
		pidfile_alive "$file" "$pattern" || die "$service is not running in $dir"
		pid=$(<"$file")
		kill -KILL "$pid"
		wait_for 15 bash -c "! kill -0 $pid 2>/dev/null" || die "$service ($pid) survived SIGKILL"
		;;
	postgres) stop_pg immediate ;;
	*) usage ;;
	esac
	log "killed $service in $dir"
}

cmd_revive() { # dir service
	local dir=$1 service=$2
	load_state "$dir"
	PATH="$(dirname "$(find_nats)"):$PATH"
	case $service in
	nats)
		start_nats "$dir" "$(find_nats)"
		wait_service "nats-server (127.0.0.1:$NATS_PORT)" "$dir/nats.pid" nats-server nats_ready "$dir/nats.log"
		;;
	clickhouse)
		rm -f "$dir/clickhouse/data/status" # 18.16 leaves it behind after a KILL
		start_clickhouse "$dir"
		wait_service "clickhouse-server (127.0.0.1:$CH_HTTP_PORT)" "$dir/clickhouse.pid" clickhouse \
			clickhouse_ready "$dir/clickhouse.err.log" "$dir/clickhouse.log" "$dir/clickhouse.stdout.log"
		;;
	postgres)
		PG_BIN=$(find_pg_bin)
		start_pg
		wait_for "$TIMEOUT" pg_ready || { show_logs "$PG_BASE/postgres.log"; die "postgres not ready"; }
		;;
	*) usage ;;
	esac
	log "revived $service in $dir"
}
