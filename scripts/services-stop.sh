#!/usr/bin/env bash
# Stops the PuppetDB, PostgreSQL and Redis that scripts/bootstrap.sh started (and nothing else).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAR="$ROOT/.var"
"$ROOT/scripts/puppetdb.sh" stop
PG_BIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if [ -f "$VAR/pgdata/postmaster.pid" ]; then
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$VAR/pgdata" -m fast stop
    else "$PG_BIN/pg_ctl" -D "$VAR/pgdata" -m fast stop; fi
fi
if [ -f "$VAR/redis.pid" ] && kill -0 "$(cat "$VAR/redis.pid")" 2>/dev/null; then
    kill "$(cat "$VAR/redis.pid")"
fi
