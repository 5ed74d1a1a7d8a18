#!/usr/bin/env bash
# The real PuppetDB (Debian 12's `puppetdb` 7.12.1) that answers every PQL query of the tests
# and the demo: its own database and user in the shared PostgreSQL (with pg_trgm), its own
# config, data and log under .var/puppetdb, HTTP on 127.0.0.1 only. Idempotent: when a PuppetDB
# already answers on the port it is reused, so one instance serves the whole test run.
#
#   scripts/puppetdb.sh          install if needed, start if needed, wait until it answers
#   scripts/puppetdb.sh stop     stop the instance this script started (and nothing else)
#
# Cleartext HTTP on loopback: PE's PuppetDB takes TLS and RBAC tokens on port 8081, and the
# client under test meets that side in the local orchestrator (HTTPS + token), which forwards
# to this PuppetDB over 127.0.0.1 like any PuppetDB's own localhost listener.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAR="$ROOT/.var"
DIR="$VAR/puppetdb"
PDB_PORT=${AUTODIAG_PUPPETDB_PORT:-8080}
PG_PORT=${PG_PORT:-5432}
PG_BIN=${PG_BIN:-$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}
DB=autodiag_puppetdb          # database and role, apart from any PuppetDB of the machine's own
HEAP=${AUTODIAG_PUPPETDB_HEAP:-512m}
START_TIMEOUT=${AUTODIAG_PUPPETDB_START_TIMEOUT:-240}

say() { printf '[puppetdb] %s\n' "$*" >&2; }
die() { printf '[puppetdb] ERROR: %s\n' "$*" >&2; exit 1; }

status_url="http://127.0.0.1:$PDB_PORT/status/v1/services/puppetdb-status"
running() { # PuppetDB itself answers, fully started (not merely something on the port)
    curl -fsS --max-time 3 "$status_url" 2>/dev/null | grep -q '"state" *: *"running"'
}
ours_alive() { [ -f "$DIR/puppetdb.pid" ] && kill -0 "$(cat "$DIR/puppetdb.pid")" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }
psql_pg() { "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }

stop() {
    local pid
    [ -f "$DIR/puppetdb.pid" ] || { say "not started by this script: nothing to stop"; return 0; }
    pid=$(cat "$DIR/puppetdb.pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    rm -f "$DIR/puppetdb.pid"
}

install() {
    if dpkg -s puppetdb >/dev/null 2>&1 && command -v curl >/dev/null; then return 0; fi
    [ "$(id -u)" = 0 ] || die "the Debian package puppetdb is missing (apt-get install puppetdb as root)"
    say "installing Debian's puppetdb with apt (once; about a minute)"
    # The package's own database set-up (dbconfig-common) is declined: this script makes its own.
    echo "puppetdb puppetdb/dbconfig-install boolean false" | debconf-set-selections
    if [ ! -f "$VAR/apt-updated" ]; then apt-get update -qq >/dev/null && touch "$VAR/apt-updated"; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq puppetdb curl >/dev/null
    if [ -d /run/systemd/system ]; then
        # Debian's own service reads /etc/puppetdb and has no database: it must not run beside this one.
        say "disabling the puppetdb service Debian installed (this project runs its own on loopback)"
        systemctl disable --now puppetdb >/dev/null 2>&1 || true
    fi
}

database() {
    local share
    share=$("$PG_BIN/pg_config" --sharedir 2>/dev/null || echo "/usr/share/postgresql/$(basename "$(dirname "$PG_BIN")")")
    if [ ! -f "$share/extension/pg_trgm.control" ]; then
        [ "$(id -u)" = 0 ] || die "PostgreSQL's pg_trgm extension is missing (apt-get install postgresql-contrib)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-contrib >/dev/null
    fi
    port_open "$PG_PORT" || die "PostgreSQL does not answer on 127.0.0.1:$PG_PORT (run scripts/bootstrap.sh)"
    if [ "$(psql_pg -c "select 1 from pg_roles where rolname='$DB'")" != 1 ]; then
        say "creating PostgreSQL role $DB"
        psql_pg -c "create role $DB login"
    fi
    if [ "$(psql_pg -c "select 1 from pg_database where datname='$DB'")" != 1 ]; then
        say "creating database $DB"
        psql_pg -c "create database $DB owner $DB encoding 'UTF8' template template0"
    fi
    PGOPTIONS="-c client_min_messages=warning" psql_pg -d "$DB" -c "create extension if not exists pg_trgm"
}

configure() {
    mkdir -p "$DIR/conf.d" "$DIR/data"
    cat > "$DIR/conf.d/config.ini" <<EOF
[global]
vardir = $DIR/data
logging-config = $DIR/logback.xml

[command-processing]
threads = 1
EOF
    # PostgreSQL trusts loopback here, so the password is not checked (PuppetDB insists on
    # having one in its config). node-ttl is PuppetDB's default, written
    # out because the tests expire nodes with it (the admin "clean" command runs that GC at once).
    cat > "$DIR/conf.d/database.ini" <<EOF
[database]
subname = //127.0.0.1:$PG_PORT/$DB
username = $DB
password = $DB
node-ttl = 7d
node-purge-ttl = 14d
maximum-pool-size = 8
EOF
    cat > "$DIR/conf.d/jetty.ini" <<EOF
[jetty]
host = 127.0.0.1
port = $PDB_PORT
EOF
    # Debian's authorization rules (used by the metrics service only) and its service list
    # minus the dashboard redirect.
    cp /etc/puppetdb/conf.d/auth.conf "$DIR/conf.d/auth.conf"
    grep -v '^#\|^$\|dashboard' /etc/puppetdb/bootstrap.cfg > "$DIR/bootstrap.cfg"
    cat > "$DIR/logback.xml" <<EOF
<configuration>
    <appender name="F1" class="ch.qos.logback.core.FileAppender">
        <file>$DIR/puppetdb.log</file>
        <append>true</append>
        <encoder><pattern>%d{yyyy-MM-dd'T'HH:mm:ss.SSSXXX} %-5p [%c{2}] %m%n</pattern></encoder>
    </appender>
    <logger name="org.springframework.jms.connection" level="warn"/>
    <root level="info"><appender-ref ref="F1" /></root>
</configuration>
EOF
}

start() {
    local pid t0
    if running; then return 0; fi
    install
    database
    configure
    if port_open "$PDB_PORT"; then
        # PuppetDB may still be starting (another caller started it): wait for it below.
        ours_alive || die "127.0.0.1:$PDB_PORT is taken by something that is not a running PuppetDB (set AUTODIAG_PUPPETDB_PORT)"
    elif ! ours_alive; then
        say "starting PuppetDB on 127.0.0.1:$PDB_PORT (heap $HEAP; log $DIR/puppetdb.log)"
        # A small heap and the serial collector: the suite's PuppetDB holds a few dozen nodes.
        setsid /usr/bin/java "-Xmx$HEAP" -XX:+UseSerialGC -Djava.security.egd=/dev/urandom \
            -cp /usr/share/puppetdb/puppetdb.jar clojure.main -m puppetlabs.puppetdb.core services \
            --config "$DIR/conf.d" --bootstrap-config "$DIR/bootstrap.cfg" \
            > "$DIR/puppetdb.out" 2>&1 < /dev/null 9>&- &
        echo $! > "$DIR/puppetdb.pid"
    fi
    pid=$(cat "$DIR/puppetdb.pid")
    t0=$(date +%s)
    while ! running; do
        kill -0 "$pid" 2>/dev/null || die "PuppetDB exited while starting; see $DIR/puppetdb.out and $DIR/puppetdb.log"
        [ $(( $(date +%s) - t0 )) -lt "$START_TIMEOUT" ] || die "PuppetDB did not answer within ${START_TIMEOUT}s; see $DIR/puppetdb.log"
        sleep 1
    done
    say "PuppetDB answers on http://127.0.0.1:$PDB_PORT (start took $(( $(date +%s) - t0 ))s)"
}

mkdir -p "$DIR"
case "${1:-start}" in
    start)
        # Several callers (a bootstrap, a test run's workers) may arrive at once: one starts it.
        exec 9>"$DIR/.lock"
        flock 9
        start ;;
    stop) stop ;;
    *) die "usage: $0 [start|stop]" ;;
esac
