#!/usr/bin/env bash
# Idempotent set-up shared by `make test`, `make demo`, CI and developers:
# a Python 3.8 venv with Sentry 23.7.1 + this project (the plugin), a Python 3.11+ venv with
# the gateway extra and no Sentry (.venv-gateway), PostgreSQL + Redis on loopback, and the real
# PuppetDB that answers the tests' PQL queries (scripts/puppetdb.sh).
# A warm machine takes seconds: every step checks before it acts.
# It never stops or kills a process it did not start.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAR="$ROOT/.var"            # ignored: database files, logs, pid files
VENV="$ROOT/.venv"
PG_PORT=5432
REDIS_PORT=6379
PG_BIN=${PG_BIN:-$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}

say() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$VAR"

first_python() { # CONDITION CANDIDATE...: the first interpreter for which the Python CONDITION holds
    # A pyenv shim (python3.8) may refuse to run when that version is not selected:
    # the candidates include pyenv's own interpreter directories.
    local condition=$1 candidate; shift
    for candidate in "$@"; do
        if "$candidate" -c "import sys; assert $condition" >/dev/null 2>&1; then
            command -v "$candidate"; return 0
        fi
    done
    return 1
}

find_python38() {
    first_python 'sys.version_info[:2] == (3, 8)' python3.8 \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.8*/bin/python3.8 /usr/bin/python3.8 /usr/local/bin/python3.8
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }

as_postgres() {
    # PostgreSQL refuses to run as root.
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

setup_venv() {
    local stamp_file="$VENV/.autodiag-stamp" stamp py
    stamp=$(cat "$ROOT/setup.py" "$ROOT/requirements-test.txt" | sha256sum | cut -c1-16)
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then
        return 0
    fi
    py=$(find_python38) || die "Python 3.8 not found (Sentry 23.7.1 needs it). Install it, e.g. 'pyenv install 3.8', and re-run."
    say "creating $VENV with $py (Sentry 23.7.1 takes about two minutes the first time)"
    [ -x "$VENV/bin/python" ] || "$py" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade "pip<24.1" wheel
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements-test.txt"
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e "$ROOT"
    # The test tools may pull a newer typing-extensions than Sentry pins.
    "$VENV/bin/pip" install -q --disable-pip-version-check "typing-extensions==4.5.0"
    echo "$stamp" > "$stamp_file"
}

find_python_gateway() {
    # The gateway runs on Python 3.11+ without Sentry: its own venv, as in production.
    first_python 'sys.version_info[:2] >= (3, 11)' python3.11 python3.12 python3.13 \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[1-9]*/bin/python3 /usr/bin/python3
}

setup_gateway_venv() {
    local venv="$ROOT/.venv-gateway" stamp_file stamp py
    stamp_file="$venv/.autodiag-stamp"
    stamp=$(cat "$ROOT/setup.py" "$ROOT/requirements-gateway-test.txt" | sha256sum | cut -c1-16)
    if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then
        return 0
    fi
    py=$(find_python_gateway) || die "Python 3.11 or newer not found (the gateway needs it). Install it, e.g. 'pyenv install 3.11', and re-run."
    say "creating $venv with $py (the webhook gateway: no Sentry inside)"
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -e "${ROOT}[gateway]" -r "$ROOT/requirements-gateway-test.txt"
    if "$venv/bin/python" -c 'import sentry' >/dev/null 2>&1; then die "the gateway venv must not contain sentry"; fi
    echo "$stamp" > "$stamp_file"
}

apt_install() {
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]} (run as root or install them)"
    say "installing ${missing[*]} with apt"
    if [ ! -f "$VAR/apt-updated" ]; then apt-get update -qq >/dev/null && touch "$VAR/apt-updated"; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    INSTALLED_NOW+=("${missing[@]}")
}

quiet_new_services() {
    # Debian starts prometheus and node_exporter on all interfaces when systemd runs; the
    # tests start their own on loopback. Only services this run just installed are stopped.
    local pkg
    [ -d /run/systemd/system ] || return 0
    for pkg in "${INSTALLED_NOW[@]}"; do
        case "$pkg" in
            prometheus|prometheus-node-exporter)
                say "disabling the $pkg service Debian started (the tests run their own on loopback)"
                systemctl disable --now "$pkg" >/dev/null 2>&1 || true ;;
            openssh-server)
                say "disabling the ssh service Debian started (the Bolt tests run their own sshd on loopback)"
                systemctl disable --now ssh >/dev/null 2>&1 || true ;;
        esac
    done
}

start_redis() {
    if port_open "$REDIS_PORT"; then return 0; fi
    command -v redis-server >/dev/null || die "redis-server not found after install"
    say "starting Redis on 127.0.0.1:$REDIS_PORT"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
        --pidfile "$VAR/redis.pid" --logfile "$VAR/redis.log" --dir "$VAR" \
        --save '' --appendonly no
    for _ in $(seq 50); do port_open "$REDIS_PORT" && return 0; sleep 0.1; done
    die "Redis did not start; see $VAR/redis.log"
}

start_postgres() {
    local data="$VAR/pgdata"
    [ -x "$PG_BIN/pg_ctl" ] || die "PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)"
    if ! port_open "$PG_PORT"; then
        if [ ! -f "$data/PG_VERSION" ]; then
            say "initialising PostgreSQL data directory $data"
            mkdir -p "$data"
            [ "$(id -u)" = 0 ] && chown postgres: "$data"
            chmod 700 "$data"
            as_postgres "$PG_BIN/initdb" -A trust -U postgres -D "$data" >"$VAR/initdb.log" 2>&1 \
                || die "initdb failed; see $VAR/initdb.log"
        fi
        say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
        as_postgres "$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$data -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >/dev/null || die "PostgreSQL did not start; see $data/server.log"
    fi
    if ! "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "select 1 from pg_database where datname='sentry'" | grep -q 1; then
        say "creating database sentry"
        "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres sentry
    fi
}

INSTALLED_NOW=()
apt_install redis-server shellcheck strace prometheus prometheus-node-exporter
# Puppet (puppet module install); OpenSSH: the Bolt runner's tests run the Bolt stand-in over
# their own loopback sshd with Debian's ssh/scp (Bolt itself is not packaged in Debian).
apt_install puppet openssh-server openssh-client
quiet_new_services
# For the browser test only: when it cannot be installed that test says so and skips.
if ! apt_install chromium chromium-driver fonts-noto-color-emoji 2>/dev/null; then
    say "warning: chromium could not be installed; the browser test will be skipped"
fi
# tests/test_dist.py installs the Puppet module archives with Debian's `puppet module install`.
apt_install puppet
setup_venv
setup_gateway_venv
start_postgres
start_redis
"$ROOT/scripts/puppetdb.sh"
say "ready: venv $VENV, PostgreSQL 127.0.0.1:$PG_PORT, Redis 127.0.0.1:$REDIS_PORT, PuppetDB 127.0.0.1:${AUTODIAG_PUPPETDB_PORT:-8080}"
