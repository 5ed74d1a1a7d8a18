#!/usr/bin/env bash
# One real Puppet run on this machine, for fixtures: Debian's puppetserver 7.9.5 on
# 127.0.0.1:18140 with a CA generated under .var/puppet, then one `puppet agent -t`
# (Debian's puppet 7.23) as certname web01.example.com of a small manifest that changes a
# file and restarts the app through a refresh. Everything lives under .var/puppet (server
# and agent config, CA, state) except the file the manifest manages
# (/var/lib/autodiag-demo/puppet). The agent's last_run_report.yaml and last_run_summary.yaml
# are what tests/scenarios/puppet-real-agent-run holds.
#
#   scripts/puppet-agent-run.sh        start the server if needed, run the agent once
#   scripts/puppet-agent-run.sh stop   stop the server this script started
#
# Not part of `make test` (the server takes about a minute and 512 MB to start): the files
# it wrote are committed. DEMO/FIXTURE ONLY.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
P="$ROOT/.var/puppet"
PORT=${AUTODIAG_PUPPETSERVER_PORT:-18140}

say() { printf '[puppet] %s\n' "$*" >&2; }
die() { printf '[puppet] ERROR: %s\n' "$*" >&2; exit 1; }
running() { curl -sk --max-time 3 "https://127.0.0.1:$PORT/status/v1/simple" 2>/dev/null | grep -q running; }

if [ "${1:-}" = stop ]; then
    if [ -f "$P/run/puppetserver.pid" ] && kill -0 "$(cat "$P/run/puppetserver.pid")" 2>/dev/null; then
        kill "$(cat "$P/run/puppetserver.pid")"
        for _ in $(seq 100); do kill -0 "$(cat "$P/run/puppetserver.pid")" 2>/dev/null || break; sleep 0.2; done
    fi
    rm -f "$P/run/puppetserver.pid"
    exit 0
fi

for pkg in puppetserver puppet curl; do
    if ! dpkg -s "$pkg" >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || die "the Debian package $pkg is missing"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
    fi
done
if [ -d /run/systemd/system ]; then
    systemctl disable --now puppetserver >/dev/null 2>&1 || true  # Debian's own listens on 0.0.0.0:8140
fi

mkdir -p "$P/server/conf.d" "$P/server/services.d" "$P/etc-server" "$P/etc-agent" "$P/log" "$P/run" \
    "$P/server-var" "$P/code/environments/production/manifests" "$P/code/environments/production/modules"
cp /etc/puppet/puppetserver/conf.d/{auth.conf,ca.conf,metrics.conf,web-routes.conf} "$P/server/conf.d/"
cp /etc/puppet/puppetserver/services.d/* "$P/server/services.d/"
cat >"$P/server/conf.d/global.conf" <<EOF
global: { logging-config: $P/server/logback.xml }
EOF
cat >"$P/server/conf.d/webserver.conf" <<EOF
webserver: { client-auth: want, ssl-host: 127.0.0.1, ssl-port: $PORT }
EOF
cat >"$P/server/conf.d/puppetserver.conf" <<EOF
jruby-puppet: {
    ruby-load-path: [/usr/lib/puppetserver/ruby/vendor_ruby]
    gem-home: $P/server-var/jruby-gems
    gem-path: [\${jruby-puppet.gem-home}, "/usr/lib/puppetserver/vendored-jruby-gems"]
    server-conf-dir: $P/etc-server
    server-code-dir: $P/code
    server-var-dir: $P/server-var
    server-run-dir: $P/run
    server-log-dir: $P/log
    max-active-instances: 1
}
http-client: {}
profiler: {}
EOF
cat >"$P/server/logback.xml" <<EOF
<configuration>
  <appender name="F1" class="ch.qos.logback.core.FileAppender">
    <file>$P/log/puppetserver.log</file><append>true</append>
    <encoder><pattern>%d %-5p [%c{2}] %m%n</pattern></encoder>
  </appender>
  <root level="info"><appender-ref ref="F1"/></root>
</configuration>
EOF
cat >"$P/etc-server/puppet.conf" <<EOF
[main]
certname = localhost
dns_alt_names = localhost,127.0.0.1
vardir = $P/server-var
ssldir = $P/server-var/ssl
cadir = $P/server-var/ca
logdir = $P/log
rundir = $P/run
codedir = $P/code
[server]
autosign = true
reports = store
EOF
cat >"$P/etc-agent/puppet.conf" <<EOF
[main]
certname = web01.example.com
server = localhost
serverport = $PORT
vardir = $P/agent-var
ssldir = $P/agent-var/ssl
publicdir = $P/agent-var/public
logdir = $P/log
rundir = $P/run
[agent]
report = true
usecacheonfailure = false
EOF
cat >"$P/code/environments/production/manifests/site.pp" <<'EOF'
# DEMO/FIXTURE ONLY: the change Puppet makes on the demo node shortly before the error.
node default {
  file { '/var/lib/autodiag-demo/puppet/app.conf':
    ensure  => file,
    content => "pool_size = 4\n",
  }
  ~> exec { 'restart autodiag-demo-app':
    command     => '/bin/sh -c "date +%s > /var/lib/autodiag-demo/puppet/app.restarted"',
    refreshonly => true,
  }
}
EOF
mkdir -p /var/lib/autodiag-demo/puppet

if [ ! -f "$P/server-var/ca/ca_crt.pem" ]; then
    say "generating the CA under $P/server-var/ca"
    puppetserver ca setup --config "$P/etc-server/puppet.conf" >"$P/log/ca-setup.log" 2>&1 \
        || die "CA set-up failed; see $P/log/ca-setup.log"
fi
if ! running; then
    say "starting puppetserver on 127.0.0.1:$PORT (about a minute)"
    setsid /usr/bin/java -Xms256m -Xmx512m -XX:+UseSerialGC \
        -Djruby.logger.class=com.puppetlabs.jruby_utils.jruby.Slf4jLogger -Djruby.lib=/usr/share/jruby/lib \
        -jar /usr/share/puppetserver/puppetserver.jar --config "$P/server/conf.d" \
        --bootstrap-config "$P/server/services.d" >"$P/log/puppetserver.out" 2>&1 </dev/null &
    echo $! >"$P/run/puppetserver.pid"   # java itself (no subshell in between), so `stop` reaches it
    for _ in $(seq 240); do
        running && break
        kill -0 "$(cat "$P/run/puppetserver.pid")" 2>/dev/null || die "puppetserver exited; see $P/log/puppetserver.log"
        sleep 1
    done
    running || die "puppetserver did not answer in 240 s; see $P/log/puppetserver.log"
fi
# Each run must change something ("what changed on this box"): the managed file is taken
# away first, so the agent puts it back (a corrective change) and restarts the app.
rm -f /var/lib/autodiag-demo/puppet/app.conf
say "puppet agent -t as web01.example.com"
rc=0
puppet agent -t --confdir "$P/etc-agent" --codedir "$P/code" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 2 ] || die "the agent run failed (exit $rc)"   # 2: changes applied
say "state files: $P/agent-var/state/last_run_report.yaml, $P/agent-var/public/last_run_summary.yaml"
