#!/usr/bin/env bash
# `make demo`: a real Sentry 23.7.1 on loopback showing both front ends on one instance:
# - the plugin on project `checkout` (Sentry's worker runs the alert rule, the plugin runs
#   diagnostics::collect through the local PE orchestrator and writes the note);
# - the webhook gateway on project `payments` (an internal integration's alert rule makes
#   Sentry's worker POST a signed webhook to `sentry-autodiag gateway`; its worker writes
#   the note through Sentry's REST API);
# with the log chosen by a routing rule (checkout: service=api → api.log) and by the alert
# rule's own form (payments: worker.log), Prometheus + node_exporter for the metrics table,
# and real conditions staged on the demo "node" (this machine) for the findings. Prints both
# notes and renders the gateway's to a PNG. Second runs reuse everything (~20 s).
# `make demo DEMO_DOCS=1` also refreshes docs/example-note.md and docs/example-note.png.
# `make demo DEMO_PUPPET=1` first makes one real Puppet run on the demo node
# (scripts/puppet-agent-run.sh: Debian's puppetserver and `puppet agent -t`), which the
# notes then show under "What changed on this box".
# `make demo-stop` (scripts/demo.sh stop) stops what this script started, nothing else.
# `scripts/demo.sh prepare` only sets up the instance (database, users, projects).
# DEMO ONLY: nothing here is how production runs; see README for that.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAR="$ROOT/.var/demo"
WEB_PORT=${DEMO_WEB_PORT:-9000}
ORCH_PORT=${DEMO_ORCH_PORT:-8143}
GATEWAY_PORT=${DEMO_GATEWAY_PORT:-8480}
PROMETHEUS_PORT=${DEMO_PROMETHEUS_PORT:-9090}
EXPORTER_PORT=${DEMO_EXPORTER_PORT:-9100}
GATEWAY_REDIS=redis://127.0.0.1:6379/5      # Sentry's demo instance uses db 3 (cache) and 4 (broker)
NODES=web01.example.com,worker01.example.com
EXPORTS=/var/lib/autodiag-demo/exports      # the near-full scratch filesystem (see node_namespace)
export SENTRY_CONF="$VAR/conf"
# devtools: snuba_reads (DEMO ONLY, see demo/autodiag_demo/apps.py)
export PYTHONPATH="$ROOT/demo:$ROOT/devtools${PYTHONPATH:+:$PYTHONPATH}"
SENTRY="$ROOT/.venv/bin/sentry"
PY="$ROOT/.venv/bin/python"
GATEWAY_BIN="$ROOT/.venv-gateway/bin/sentry-autodiag"
SERVICES=(node-exporter prometheus orchestrator web worker cron gateway gateway-worker)

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

stop_service() {
    local name=$1
    if alive "$name"; then
        kill -TERM -- "-$(cat "$VAR/$name.pid")" 2>/dev/null || kill -TERM "$(cat "$VAR/$name.pid")" 2>/dev/null || true
        for _ in $(seq 100); do alive "$name" || break; sleep 0.1; done
    fi
    rm -f "$VAR/$name.pid"
}

wait_port() { # port what seconds
    for _ in $(seq $(($3 * 10))); do port_open "$1" && return 0; sleep 0.1; done
    die "$2 did not start in $3 s; see $VAR/*.log"
}

free_port() { # port what variable
    port_open "$1" && die "port $1 is taken by another program (set $3 to another port for the $2)"
    return 0
}

stop() {
    local i
    for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
        if alive "${SERVICES[i]}"; then say "stopping ${SERVICES[i]}"; fi
        stop_service "${SERVICES[i]}"
    done
    # the scratch filesystem lived in the orchestrator's mount namespace: gone with it
    rmdir "$EXPORTS" "$(dirname "$EXPORTS")" 2>/dev/null || true
    rm -f "$VAR/exports.img"
    "$ROOT/scripts/puppet-agent-run.sh" stop   # the puppetserver of DEMO_PUPPET=1, if it runs
}

# DEMO ONLY: the demo "node" (the local orchestrator, which runs the real task on this
# machine) in a private mount namespace holding a near-full scratch filesystem at
# $EXPORTS: a real condition the task flags (disk-full), visible to nothing else on this
# machine (other people's tests run the task here too), and removed with the namespace.
node_namespace() {
    local img="$VAR/exports.img" avail
    mkdir -p "$EXPORTS"
    if truncate -s 16M "$img" && mkfs.ext4 -q -F -m 0 -N 128 "$img" && mount -o loop "$img" "$EXPORTS"; then
        avail=$(df -Pk "$EXPORTS" | awk 'NR == 2 { print $4 }')
        fallocate -l "$(((avail - 160) * 1024))" "$EXPORTS/settlement-spool.bin" || true
        df -Pk "$EXPORTS" | tail -n 1
    else
        echo "no loop device here: the demo node has no near-full scratch filesystem"
    fi
    # the real agent's state files where a Debian agent keeps them (DEMO_PUPPET=1)
    local agent="$ROOT/.var/puppet/agent-var"
    if [ "${DEMO_PUPPET:-0}" = 1 ] && [ -d "$agent/state" ] && [ -d "$agent/public" ]; then
        mkdir -p /var/cache/puppet/state /var/cache/puppet/public
        mount --bind "$agent/state" /var/cache/puppet/state && mount --bind "$agent/public" /var/cache/puppet/public
    fi
    exec "$@"
}

# The webhook gateway's receiver (not its worker). `scripts/demo.sh _gateway stop|start`: the
# driver stops it while one issue is created (its alert webhook then finds nobody) and starts
# it again, to show the worker's catch-up sweep.
start_gateway() {
    if alive gateway; then return 0; fi
    rm -f "$VAR/gateway/ready"
    free_port "$GATEWAY_PORT" "gateway" DEMO_GATEWAY_PORT
    # the gateway must not see the Sentry-side variables
    start_service gateway env -u SENTRY_CONF -u PYTHONPATH "$GATEWAY_BIN" gateway \
        --config "$VAR/gateway/gateway.yaml" --ready-file "$VAR/gateway/ready"
}

case "${1:-}" in
    stop) stop; exit 0 ;;
    _node) shift; node_namespace "$@" ;;
    _gateway)
        case "${2:-}" in
            stop) stop_service gateway; ! port_open "$GATEWAY_PORT" || die "port $GATEWAY_PORT still answers" ;;
            start) start_gateway; wait_port "$GATEWAY_PORT" "the gateway" 30 ;;
            *) die "usage: scripts/demo.sh _gateway stop|start" ;;
        esac
        exit 0 ;;
esac

# Prometheus and node_exporter start first, before Sentry's slow set-up, so that the first
# run's notes already have minutes of samples to draw (the driver also waits for a few).
start_metrics() {
    # Prometheus scrapes node_exporter (this machine) as both demo nodes: the instance label is
    # what a `{certname}:9100` target would carry (metrics_node_value in the settings).
    cat >"$VAR/prometheus/prometheus.yml.new" <<EOF
# DEMO ONLY: written by scripts/demo.sh
global: {scrape_interval: 5s, scrape_timeout: 4s, evaluation_interval: 5s}
scrape_configs:
  - job_name: node
    static_configs: [{targets: ["127.0.0.1:$EXPORTER_PORT"]}]
    relabel_configs: [{target_label: instance, replacement: "web01.example.com:9100"}]
  - job_name: node-worker01
    static_configs: [{targets: ["127.0.0.1:$EXPORTER_PORT"]}]
    relabel_configs: [{target_label: instance, replacement: "worker01.example.com:9100"}, {target_label: job, replacement: node}]
EOF
    if cmp -s "$VAR/prometheus/prometheus.yml.new" "$VAR/prometheus/prometheus.yml"; then
        rm -f "$VAR/prometheus/prometheus.yml.new"
    else
        mv "$VAR/prometheus/prometheus.yml.new" "$VAR/prometheus/prometheus.yml"
    fi

    if alive prometheus && [ "$VAR/prometheus/prometheus.yml" -nt "$VAR/prometheus.pid" ]; then
        say "restarting prometheus (its configuration changed since it started)"
        stop_service prometheus
    fi
    say "Prometheus on http://127.0.0.1:$PROMETHEUS_PORT scraping node_exporter on 127.0.0.1:$EXPORTER_PORT (Debian's packages)"
    if ! alive node-exporter; then
        free_port "$EXPORTER_PORT" "node_exporter" DEMO_EXPORTER_PORT
        start_service node-exporter prometheus-node-exporter --web.listen-address="127.0.0.1:$EXPORTER_PORT" \
            --no-collector.arp --no-collector.bcache --no-collector.btrfs --no-collector.hwmon --no-collector.infiniband \
            --no-collector.ipvs --no-collector.mdadm --no-collector.nfs --no-collector.nfsd --no-collector.powersupplyclass \
            --no-collector.rapl --no-collector.zfs --no-collector.thermal_zone --no-collector.xfs --no-collector.tapestats \
            --no-collector.fibrechannel --no-collector.nvme --no-collector.schedstat --no-collector.softnet \
            --no-collector.udp_queues \
            "--collector.filesystem.fs-types-exclude=^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$"
    fi
    if ! alive prometheus; then
        free_port "$PROMETHEUS_PORT" "Prometheus" DEMO_PROMETHEUS_PORT
        start_service prometheus prometheus --config.file="$VAR/prometheus/prometheus.yml" \
            --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" --storage.tsdb.path="$VAR/prometheus/data" \
            --storage.tsdb.retention.time=1d --log.level=warn
    fi
}

say "setting up Python 3.8 + Sentry 23.7.1, the gateway's Python 3.11 venv, PostgreSQL, Redis, Prometheus (scripts/bootstrap.sh)"
"$ROOT/scripts/bootstrap.sh"
mkdir -p "$VAR/gateway" "$VAR/prometheus"
chmod 700 "$VAR/gateway"
if [ "${1:-}" != prepare ]; then start_metrics; fi
PG_BIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if ! "$PG_BIN/psql" -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='sentry_demo'" | grep -q 1; then
    "$PG_BIN/createdb" -h 127.0.0.1 -U postgres sentry_demo
    rm -f "$VAR/upgraded"
    # A new database numbers issues from 1 again: forget what the demo's Redis databases
    # remember about earlier issues (Sentry's cache and the plugin's claims: 3, Celery: 4,
    # the gateway: 5), or the new issue 1 would count as "already diagnosed".
    for db in 3 4 5; do redis-cli -h 127.0.0.1 -p 6379 -n "$db" FLUSHDB >/dev/null; done
fi
"$PY" -m autodiag_demo.conf "$SENTRY_CONF" "$WEB_PORT"

if [ ! -f "$VAR/upgraded" ]; then
    say "creating the Sentry database (sentry upgrade; the first run takes a few minutes)"
    "$SENTRY" upgrade --noinput >"$VAR/upgrade.log" 2>&1 || die "sentry upgrade failed; see $VAR/upgrade.log"
    touch "$VAR/upgraded"
fi
say "admin user, team 'ops', projects 'checkout' and 'payments', API token, the gateway's internal integration"
DEMO_ROOT="$ROOT" DEMO_STATE="$VAR/state.json" DEMO_SECRETS_DIR="$VAR/gateway" \
    DEMO_GATEWAY_WEBHOOK="http://127.0.0.1:$GATEWAY_PORT/webhook/sentry" \
    "$SENTRY" exec "$ROOT/demo/autodiag_demo/setup_instance.py" >>"$VAR/setup.log" 2>&1 \
    || die "instance set-up failed; see $VAR/setup.log"

# `scripts/demo.sh prepare`: the instance only (used by the browser test), no services.
if [ "${1:-}" = prepare ]; then exit 0; fi

export DEMO_VAR="$VAR" DEMO_WEB="http://127.0.0.1:$WEB_PORT" DEMO_ORCH_URL="https://localhost:$ORCH_PORT" \
    DEMO_GATEWAY_PORT="$GATEWAY_PORT" DEMO_GATEWAY_REDIS="$GATEWAY_REDIS" \
    DEMO_PROMETHEUS_URL="http://127.0.0.1:$PROMETHEUS_PORT"
"$PY" -m autodiag_demo.scenario    # the gateway's config file, rewritten only when it changes

# A service started before its code or config last changed would run old code: restart it.
for name in "${SERVICES[@]}"; do
    case $name in
        node-exporter) watched=() ;;
        prometheus) watched=("$VAR/prometheus/prometheus.yml") ;;
        gateway|gateway-worker) watched=("$ROOT/src" "$ROOT/demo" "$VAR/gateway/gateway.yaml") ;;
        *) watched=("$ROOT/src" "$ROOT/demo" "$ROOT/devtools" "$ROOT/puppet") ;;
    esac
    if [ ${#watched[@]} -gt 0 ] && alive "$name"; then
        changed=$(find "${watched[@]}" -newer "$VAR/$name.pid" -type f ! -name '*.pyc' ! -path '*.egg-info/*' -print -quit)
        if [ -n "$changed" ]; then
            say "restarting $name (${changed#"$ROOT/"} changed since it started)"
            stop_service "$name"
        fi
    fi
done

if [ "${DEMO_PUPPET:-0}" = 1 ]; then
    say "a real Puppet run on the demo node: puppetserver 7.9.5 on 127.0.0.1:18140, puppet agent -t (log $VAR/puppet.log)"
    "$ROOT/scripts/puppet-agent-run.sh" >>"$VAR/puppet.log" 2>&1 || die "the Puppet run failed; see $VAR/puppet.log"
    stop_service orchestrator   # its node namespace binds the agent's state files when it starts
fi
say "local PE orchestrator on https://localhost:$ORCH_PORT (generated CA, the real task runs on this machine)"
if ! alive orchestrator; then
    rm -f "$VAR/orch-ready"
    free_port "$ORCH_PORT" "local orchestrator" DEMO_ORCH_PORT
    node=(unshare -m --propagation private "$ROOT/scripts/demo.sh" _node)
    if ! unshare -m --propagation private true 2>/dev/null; then
        say "no private mount namespace here (unshare -m refused): no near-full scratch filesystem on the node"
        node=()
    fi
    # DEMO ONLY: the node's systemd is a stand-in (this machine runs none), see node-bin/systemctl
    start_service orchestrator env PATH="$ROOT/demo/autodiag_demo/node-bin:$PATH" PYTHONPATH="$ROOT/devtools" \
        "${node[@]}" "$PY" -m localorch --port "$ORCH_PORT" --nodes "$NODES" \
        --token-file "$VAR/orch-token" --ca-out "$VAR/orch-ca.pem" --ready-file "$VAR/orch-ready"
    wait_port "$ORCH_PORT" "the local orchestrator" 30
fi

say "Sentry web on http://127.0.0.1:$WEB_PORT, Sentry's Celery worker (all queues, app_platform included: it sends the webhooks) and cron (beat: worker check-ins)"
if ! alive web; then
    free_port "$WEB_PORT" "Sentry web" DEMO_WEB_PORT
    start_service web "$SENTRY" run web
fi
# Celery refuses root while Sentry's pickle content type is accepted; the demo runs as
# root on loopback only. A real self-hosted worker runs as an unprivileged user.
C_FORCE_ROOT=1 start_service worker "$SENTRY" run worker -c 2 -l INFO
start_service cron "$SENTRY" run cron -l WARNING

say "webhook gateway on http://127.0.0.1:$GATEWAY_PORT/webhook/sentry and its worker (.venv-gateway, Python 3.11, no Sentry)"
start_gateway
start_service gateway-worker env -u SENTRY_CONF -u PYTHONPATH "$GATEWAY_BIN" worker \
    --config "$VAR/gateway/gateway.yaml" --concurrency 4 --hostname "autodiag-demo@%h"

wait_port "$WEB_PORT" "Sentry web" 120
for _ in $(seq 600); do
    curl -fsS -o /dev/null "http://127.0.0.1:$WEB_PORT/_health/" 2>/dev/null && break
    sleep 0.2
done
wait_port "$GATEWAY_PORT" "the gateway" 30
wait_port "$PROMETHEUS_PORT" "Prometheus" 30

"$PY" -m autodiag_demo.driver
