# scripts/services.d/nats.sh — nats-server with JetStream: start and readiness.
# Sourced by scripts/services (which sets the shell options, PATH and the
# constants); not run on its own.
# shellcheck shell=bash

# ------------------------------------------------------------------- nats ---

start_nats() { # dir nats-binary
	local dir=$1 bin=$2
	mkdir -p "$dir/nats"
	spawn_detached "$dir/nats.log" \
		"$bin" -js -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MON_PORT" -sd "$dir/nats"
	echo "$SPAWNED_PID" >"$dir/nats.pid"
}

nats_ready() {
	tcp_open "$NATS_PORT" &&
		curl -sf --max-time 2 "http://127.0.0.1:$NATS_MON_PORT/healthz?js-enabled-only=true" >/dev/null
}
