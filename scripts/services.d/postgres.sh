# scripts/services.d/postgres.sh — Postgres 15: base dir, initdb, start, readiness, stop (as the postgres user when root).
# Sourced by scripts/services (which sets the shell options, PATH and the
# constants); not run on its own.
# shellcheck shell=bash

# --------------------------------------------------------------- postgres ---

# Run a command as the owner of the Postgres data (postgres when we are root),
# from / so an untraversable cwd (e.g. /root) does not produce warnings.
as_pg() {
	if is_root && [[ $PG_OWNER != root ]]; then
		(cd / && runuser -u "$PG_OWNER" -- "$@")
	else
		(cd / && "$@")
	fi
}

# Choose (and create) the Postgres base dir: DIR/pg if the postgres user can
# reach it, otherwise a postgres-owned dir under /tmp (see header comment).
prepare_pg_base() { # dir
	local dir=$1
	if is_root; then
		PG_OWNER=postgres
		getent passwd postgres >/dev/null || die "user 'postgres' does not exist (is postgresql-$PG_MAJOR installed?)"
	else
		PG_OWNER=$(id -un)
	fi
	if [[ -n $PG_BASE && -d $PG_BASE ]]; then
		: # reuse the base recorded by a previous start in this DIR
	else
		PG_BASE=$dir/pg
		mkdir -p "$PG_BASE"
		if is_root; then
			chown "$PG_OWNER": "$PG_BASE"
			chmod 755 "$PG_BASE"
			if ! as_pg test -w "$PG_BASE" -a -x "$PG_BASE"; then
				rmdir "$PG_BASE"
				PG_BASE=$(mktemp -d "$LOCK_DIR/statushawk-pg.XXXXXX")
				chown "$PG_OWNER": "$PG_BASE"
				chmod 755 "$PG_BASE"
				log "postgres user cannot traverse $dir; Postgres data lives in $PG_BASE (removed by 'purge')"
			fi
		fi
	fi
	[[ $PG_BASE != *"'"* ]] || die "Postgres dir must not contain a single quote: $PG_BASE"
	as_pg mkdir -p "$PG_BASE/sock"
	as_pg touch "$PG_BASE/postgres.log"
	ln -sfn "$PG_BASE/postgres.log" "$dir/postgres.log"
}

init_pg() {
	[[ -f $PG_BASE/data/PG_VERSION ]] && return 0
	log "initdb $PG_BASE/data"
	as_pg "$PG_BIN/initdb" -D "$PG_BASE/data" --auth=trust -U postgres -E UTF8 --locale=C \
		--no-sync --no-instructions >"$PG_BASE/initdb.log" 2>&1 ||
		{ show_logs "$PG_BASE/initdb.log"; die "initdb failed"; }
}

start_pg() {
	# Unix socket paths are limited to 107 bytes; fall back to TCP only.
	PG_SOCK=$PG_BASE/sock
	((${#PG_SOCK} + 20 < 107)) || PG_SOCK=''
	rm -f "$PG_BASE/data/postmaster.pid" # stale after an unclean shutdown
	local opts="-p $PG_PORT -k '$PG_SOCK' -c listen_addresses=127.0.0.1"
	opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
	# setsid -w: own session (no SIGINT/SIGHUP from the caller's terminal or
	# process group) while still waiting for pg_ctl's own readiness wait.
	if ! (
		close_extra_fds
		as_pg setsid -w "$PG_BIN/pg_ctl" start -w -t "$TIMEOUT" -D "$PG_BASE/data" \
			-l "$PG_BASE/postgres.log" -o "$opts" </dev/null >>"$PG_BASE/pg_ctl.log" 2>&1
	); then
		show_logs "$PG_BASE/pg_ctl.log" "$PG_BASE/postgres.log"
		die "postgres did not start"
	fi
}

pg_ready() {
	"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres
}

psql_admin() { # sql
	PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 \
		-h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "$1"
}

# MODE: fast (clean shutdown, keeps the last commits: synchronous_commit=off
# means an immediate stop can lose the last ~200 ms) or immediate (for purge,
# where the data is thrown away anyway). fast falls back to immediate.
stop_pg() { # mode
	local mode=${1:-fast}
	[[ -n $PG_BASE && -f $PG_BASE/data/postmaster.pid ]] || return 0
	[[ -n $PG_BIN ]] || PG_BIN=$(find_pg_bin) || true
	local pid
	pid=$(head -n1 "$PG_BASE/data/postmaster.pid" 2>/dev/null) || true
	if ! pid_alive "$pid"; then
		rm -f "$PG_BASE/data/postmaster.pid"
		return 0
	fi
	if [[ $mode == fast ]]; then
		as_pg "$PG_BIN/pg_ctl" stop -m fast -w -t 10 -D "$PG_BASE/data" </dev/null >/dev/null 2>&1 || true
	fi
	if pid_alive "$pid"; then
		as_pg "$PG_BIN/pg_ctl" stop -m immediate -w -t 30 -D "$PG_BASE/data" </dev/null >/dev/null 2>&1 || true
	fi
	if pid_alive "$pid"; then
		log "postgres ($pid) ignored pg_ctl stop; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
}
