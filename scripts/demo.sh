#!/usr/bin/env bash
# `make demo`: a real Sentry 23.7.1 on loopback with the plugin configured against the
# local orchestrator running the real diagnostics::collect on this machine; sends one
# error event and prints the note Sentry's worker wrote. Second runs reuse everything.
# `make demo-stop` (scripts/demo.sh stop) stops what this script started, nothing else.
# `scripts/demo.sh prepare` only sets up the instance (database, users, project).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAR="$ROOT/.var/demo"
WEB_PORT=${DEMO_WEB_PORT:-9000}
ORCH_PORT=${DEMO_ORCH_PORT:-8143}
NODE=${DEMO_NODE:-web01.example.com}
LOG_DIR=/var/log/autodiag-demo
export SENTRY_CONF="$VAR/conf"
export PYTHONPATH="$ROOT/demo${PYTHONPATH:+:$PYTHONPATH}"
SENTRY="$ROOT/.venv/bin/sentry"
PY="$ROOT/.venv/bin/python"

say() { printf '[demo] %s\n' "$*"; }
die() { printf '[demo] ERROR: %s\n' "$*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }
alive() { [ -f "$VAR/$1.pid" ] && kill -0 "$(cat "$VAR/$1.pid")" 2>/dev/null; }

# Starts "$@" in the background as service $1 (pid and log under .var/demo), unless running.
start_service() {
    local name=$1; shift
    if alive "$name"; then return 0; fi
    setsid "$@" >>"$VAR/$name.log" 2>&1 < /dev/null &
    echo $! >"$VAR/$name.pid"
}

wait_port() { # port what seconds
    for _ in $(seq $(($3 * 10))); do port_open "$1" && return 0; sleep 0.1; done
    die "$2 did not start in $3 s; see $VAR/*.log"
}

stop() {
    for name in worker web orchestrator; do
        if alive "$name"; then
            say "stopping $name"
            kill -TERM -- "-$(cat "$VAR/$name.pid")" 2>/dev/null || kill -TERM "$(cat "$VAR/$name.pid")"
        fi
        rm -f "$VAR/$name.pid"
    done
}

if [ "${1:-}" = stop ]; then stop; exit 0; fi

say "setting up Python 3.8 + Sentry 23.7.1, PostgreSQL and Redis (scripts/bootstrap.sh)"
"$ROOT/scripts/bootstrap.sh"
mkdir -p "$VAR"
PG_BIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if ! "$PG_BIN/psql" -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='sentry_demo'" | grep -q 1; then
    "$PG_BIN/createdb" -h 127.0.0.1 -U postgres sentry_demo
fi
"$PY" -m autodiag_demo.conf "$SENTRY_CONF" "$WEB_PORT"

if [ ! -f "$VAR/upgraded" ]; then
    say "creating the Sentry database (sentry upgrade; the first run takes a few minutes)"
    "$SENTRY" upgrade --noinput >"$VAR/upgrade.log" 2>&1 || die "sentry upgrade failed; see $VAR/upgrade.log"
    touch "$VAR/upgraded"
fi
say "admin user, team 'ops', project 'checkout', API token"
DEMO_STATE="$VAR/state.json" "$SENTRY" exec "$ROOT/demo/autodiag_demo/setup_instance.py" >>"$VAR/setup.log" 2>&1 \
    || die "instance set-up failed; see $VAR/setup.log"

# `scripts/demo.sh prepare`: the instance only (used by the browser test), no services.
if [ "${1:-}" = prepare ]; then exit 0; fi

# A service started before the plugin's code last changed would run old code: restart it.
for name in web worker orchestrator; do
    if alive "$name" && [ -n "$(find "$ROOT/src" "$ROOT/demo" "$ROOT/puppet" -newer "$VAR/$name.pid" -type f -print -quit)" ]; then
        say "restarting $name (the code changed since it started)"
        kill -TERM -- "-$(cat "$VAR/$name.pid")" 2>/dev/null || true
        for _ in $(seq 100); do alive "$name" || break; sleep 0.1; done
        rm -f "$VAR/$name.pid"
    fi
done

say "application log on this 'node': $LOG_DIR/app.log"
mkdir -p "$LOG_DIR"
{
    printf '%s INFO  [checkout.views] GET /api/orders/81721/total 200 in 12ms\n' "$(date -u -d '-2 min' '+%Y-%m-%d %H:%M:%S')"
    printf '%s WARN  [checkout.db] slow query (812 ms): SELECT ... FROM order_items WHERE order_id = 81723\n' "$(date -u -d '-1 min' '+%Y-%m-%d %H:%M:%S')"
    printf '%s INFO  [checkout.payments] calling https://payments:s3cr3t-pw@pay.internal/api with api_key=sk_live_4242demo\n' "$(date -u '+%Y-%m-%d %H:%M:%S')"
    printf '%s ERROR [checkout.views] order 81723 has no items; total=0\n' "$(date -u '+%Y-%m-%d %H:%M:%S')"
    printf 'Traceback (most recent call last):\n  File "checkout/views.py", line 58, in order_total\n    average = total / len(order.items)\nZeroDivisionError: division by zero\n'
} >"$LOG_DIR/app.log"

say "local PE orchestrator on https://localhost:$ORCH_PORT (generated CA, real task runs on this machine)"
if ! alive orchestrator; then
    rm -f "$VAR/orch-ready"
    port_open "$ORCH_PORT" && die "port $ORCH_PORT is taken by another program (set DEMO_ORCH_PORT)"
    start_service orchestrator "$PY" -m sentry_autodiag.localorch --port "$ORCH_PORT" --nodes "$NODE" \
        --token-file "$VAR/orch-token" --ca-out "$VAR/orch-ca.pem" --ready-file "$VAR/orch-ready"
    wait_port "$ORCH_PORT" "the local orchestrator" 30
fi

say "Sentry web on http://127.0.0.1:$WEB_PORT and Sentry's Celery worker (Redis broker)"
if ! alive web; then
    port_open "$WEB_PORT" && die "port $WEB_PORT is taken by another program (set DEMO_WEB_PORT)"
    start_service web "$SENTRY" run web
fi
# Celery refuses root while Sentry's pickle content type is accepted; the demo runs as
# root on loopback only. A real self-hosted worker runs as an unprivileged user.
C_FORCE_ROOT=1 start_service worker "$SENTRY" run worker -c 2 -l INFO
wait_port "$WEB_PORT" "Sentry web" 120
for _ in $(seq 600); do
    curl -fsS -o /dev/null "http://127.0.0.1:$WEB_PORT/_health/" 2>/dev/null && break
    sleep 0.2
done

DEMO_VAR="$VAR" DEMO_WEB="http://127.0.0.1:$WEB_PORT" DEMO_ORCH_URL="https://localhost:$ORCH_PORT" \
    DEMO_NODE="$NODE" DEMO_LOG="$LOG_DIR/app.log" SENTRY_BIN="$SENTRY" "$PY" -m autodiag_demo.driver
