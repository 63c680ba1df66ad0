# scripts/services.d/common.sh — helpers: logging, locks, pids, detached processes, waiting; free ports; DIR/state and DIR/env.
# Sourced by scripts/services (which sets the shell options, PATH and the
# constants); not run on its own.
# shellcheck shell=bash

# ---------------------------------------------------------------- helpers ---

log() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

usage() {
	cat >&2 <<'EOF'
usage: scripts/services install
       scripts/services start DIR [--ports free|standard] [--watch-pid PID]
       scripts/services stop DIR
       scripts/services purge DIR     (stop, then delete DIR and its data)
       scripts/services env DIR
       scripts/services kill DIR nats|clickhouse|postgres     (fault injection)
       scripts/services revive DIR nats|clickhouse|postgres   (back on its ports)
       scripts/services which nats-server   (path of the nats-server in use)
EOF
	exit 2
}

is_root() { [[ $(id -u) -eq 0 ]]; }

now_ms() { date +%s%3N; }

# Print the last lines of each given log file that exists (for error reports).
show_logs() {
	local f
	for f in "$@"; do
		[[ -e $f ]] || continue
		printf -- '---- last lines of %s ----\n' "$f" >&2
		tail -n 30 "$f" >&2 || true
	done
}

# Open (creating if needed, world-writable so root and users can share it) a
# lock file on the given fd number and take an exclusive flock on it.
take_lock() { # fd file
	local fd=$1 file=$2
	if [[ ! -e $file ]]; then
		(umask 000 && : >>"$file") 2>/dev/null || true
	fi
	eval "exec $fd<\"\$file\"" || die "cannot open lock file $file"
	flock -w 300 "$fd" || die "timed out waiting for lock $file"
}

release_lock() { # fd
	eval "exec $1<&-"
}

# True if PID is a live (non-zombie) process.
pid_alive() {
	local pid=$1 state
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -r /proc/$pid/stat ]] || return 1
	state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
	[[ -n $state && $state != Z && $state != X ]]
}

# Start time (in clock ticks since boot) of PID — guards against pid reuse.
pid_starttime() {
	sed -E 's/^.*\) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'
}

# True if the pid in FILE is alive and its command line contains PATTERN
# (so a stale pid file never makes us signal an unrelated process).
pidfile_alive() { # file pattern
	local pid
	[[ -s $1 ]] || return 1
	pid=$(<"$1")
	pid_alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"
}

# Poll CMD... every 0.1 s until it succeeds or SECONDS elapse.
wait_for() { # seconds cmd...
	local deadline=$(($(now_ms) + $1 * 1000))
	shift
	until "$@" >/dev/null 2>&1; do
		(($(now_ms) < deadline)) || return 1
		sleep 0.1
	done
}

# Close every fd above 2 in the current (sub)shell. Used right before
# starting long-lived processes so they cannot inherit a caller's pipe (which
# would keep e.g. Rust's Command::output() waiting forever) or our lock fds.
close_extra_fds() {
	local fd
	for fd in /proc/"$BASHPID"/fd/*; do
		fd=${fd##*/}
		if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then
			eval "exec $fd>&-" 2>/dev/null || true
		fi
	done
}

# Start CMD... detached: own session, stdin /dev/null, stdout+stderr appended
# to LOG, no other inherited fds. Sets SPAWNED_PID (setsid does not fork here:
# the subshell is not a process-group leader, so the pid is CMD's own).
SPAWNED_PID=''
spawn_detached() { # log cmd...
	local log=$1
	shift
	(
		close_extra_fds
		exec setsid "$@" </dev/null >>"$log" 2>&1
	) &
	SPAWNED_PID=$!
}

# Wait until CHECK succeeds; fail early (with the logs) if the process in
# PIDFILE exits, or after $TIMEOUT seconds.
wait_service() { # name pidfile pattern check logs...
	local name=$1 pidfile=$2 pattern=$3 check=$4
	shift 4
	local deadline=$(($(now_ms) + TIMEOUT * 1000))
	until "$check" >/dev/null 2>&1; do
		if ! pidfile_alive "$pidfile" "$pattern"; then
			show_logs "$@"
			die "$name exited during start-up"
		fi
		if (($(now_ms) >= deadline)); then
			show_logs "$@"
			die "$name not ready after ${TIMEOUT}s"
		fi
		sleep 0.1
	done
}

tcp_open() { # port
	timeout 1 bash -c ": </dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# ------------------------------------------------------------------ ports ---

# Pick N distinct free loopback ports. Ports come from below the kernel's
# ephemeral range when possible, so outgoing connections (which use the
# ephemeral range) cannot grab one between our check and the server's bind.
pick_free_ports() { # n
	python3 - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
try:
    lo_eph = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except Exception:
    lo_eph = 32768
held, ports = [], []
def try_bind(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    held.append(s)
    return s.getsockname()[1]
lo, hi = 20000, lo_eph - 1
if hi - lo > 1000:
    for _ in range(2000):
        if len(ports) == n:
            break
        p = random.randint(lo, hi)
        if p not in ports and try_bind(p):
            ports.append(p)
while len(ports) < n:  # fallback: let the kernel choose
    p = try_bind(0)
    if p and p not in ports:
        ports.append(p)
print(" ".join(map(str, ports)))
EOF
}

# Print the ones among the given ports that cannot be bound on 127.0.0.1.
ports_in_use() { # ports...
	python3 - "$@" <<'EOF'
import socket, sys
for p in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", int(p)))
    except OSError:
        print(p)
    finally:
        s.close()
EOF
}

# ------------------------------------------------------------------- state ---

# Variables persisted in DIR/state.
NATS_PORT='' NATS_MON_PORT='' PG_PORT='' CH_HTTP_PORT='' CH_TCP_PORT=''
PG_BASE='' PG_OWNER='' PG_BIN='' PG_SOCK=''

load_state() { # dir
	# shellcheck disable=SC1091
	[[ -f $1/state ]] && source "$1/state"
	return 0
}

save_state() { # dir
	local v
	{
		for v in NATS_PORT NATS_MON_PORT PG_PORT CH_HTTP_PORT CH_TCP_PORT PG_BASE PG_OWNER PG_BIN PG_SOCK; do
			printf '%s=%q\n' "$v" "${!v}"
		done
	} >"$1/state.tmp"
	mv "$1/state.tmp" "$1/state"
}

write_env() { # dir
	cat >"$1/env.tmp" <<EOF
export STATUSHAWK_NATS_URL=nats://127.0.0.1:$NATS_PORT
export STATUSHAWK_DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/statushawk
export STATUSHAWK_CLICKHOUSE_URL=http://127.0.0.1:$CH_HTTP_PORT
export STATUSHAWK_CLICKHOUSE_DATABASE=statushawk
export STATUSHAWK_TEST_NATS_URL=nats://127.0.0.1:$NATS_PORT
export STATUSHAWK_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres
export STATUSHAWK_TEST_CLICKHOUSE_URL=http://127.0.0.1:$CH_HTTP_PORT
EOF
	mv "$1/env.tmp" "$1/env"
}
