"""DEMO ONLY: the demo's one scenario, shared by the plugin path and the gateway path.

Why one module: both front ends take the same settings (settings.FIELDS), so the plugin's
form values and the gateway's YAML project entry are built here from one description and
cannot drift apart.

Two kinds of errors, each diagnosed with its own log:
- service=api    (project checkout, node web01, the plugin): the API's cache on
  localhost:6390 refuses connections; nothing listens there on the node. The log path
  comes from the project's routing rules (issue 14: service=api → api.log, worker → worker.log);
- service=worker (project payments, node worker01, the gateway): the export volume
  /var/lib/autodiag-demo/exports is full (a real near-full ext4 scratch filesystem in the
  demo orchestrator's private mount namespace, see scripts/demo.sh). The log path comes
  from the alert rule's own settings (issue 13: the integration's per-rule form); the
  gateway's project entry has no routing rules, which would take precedence over it.
Both "nodes" are this machine, as the demo's local orchestrator runs the real task here.
"""
import datetime
import json
import os

LOG_DIR = "/var/log/autodiag-demo"
API_LOG = LOG_DIR + "/api.log"
WORKER_LOG = LOG_DIR + "/worker.log"
EXPORTS = "/var/lib/autodiag-demo/exports"
CACHE_PORT = 6390
API_NODE = "web01.example.com"
WORKER_NODE = "worker01.example.com"

ROUTING_RULES = """\
# DEMO ONLY: first match wins; no match: the settings' own log path (none here)
- name: api
  match: {service: api}
  log_path: %s
- name: worker
  match: {service: worker}
  log_path: %s
""" % (API_LOG, WORKER_LOG)


# The plugin path's remediation rule (issue 15): the API's cache unit failed (the demo
# node's systemd says so, see node-bin/systemctl) → restart it; a dry run (PE noop), as
# every rule is until it says `mode: live`. The token is the orchestrator's: DEMO ONLY,
# the local orchestrator has one token; in PE it is a separate role's.
REMEDIATION_RULES = """\
- name: restart the API cache
  finding: [unit-failed, unit-restarting]
  match: {service: api}
  params: {service: api-cache, allowed_services: [api-cache]}
"""


def project_settings(orch_url, prometheus_url, routing=True):
    """The settings both front ends get (secrets excluded: each front end stores those its way).

    The project's own log path is empty: a routing rule or the alert rule chooses it. coalesce_window
    0: every demo run writes a leader's note with its own report, not a "Shared diagnosis"
    pointing at the previous run's issue.
    """
    return {
        "url": orch_url, "environment": "production", "task": "diagnostics::collect",
        "log_path": "", "log_lines": 30, "node_tag": "server_name", "sentry_environments": "production",
        "min_level": "error", "job_timeout": 120, "coalesce_window": 0,
        "routing_rules": ROUTING_RULES if routing else "",
        "remediation_rules": REMEDIATION_RULES if routing else "",
        # every run (a second one within the hour too) shows the rule's dry run, not the
        # per-node guard's one line: each run diagnoses the demo node once
        **({"remediation_max_per_node": 20, "remediation_max_per_project": 200} if routing else {}),
        "metrics_url": prometheus_url, "metrics_node_label": "instance", "metrics_node_value": "{certname}:9100",
        # a query scope: the real PuppetDB (scripts/puppetdb.sh) checks it on save and resolves it per job
        "puppetdb_url": orch_url, "pql_scope": 'inventory { facts.kernel = "Linux" }',
    }


# The gateway path's alert rule form (deploy/alert-rule-action-schema.json), as the alert
# editor sends it; Sentry asks the gateway to check it when the rule is saved.
RULE_SETTINGS = [{"name": "log_path", "value": WORKER_LOG}, {"name": "log_lines", "value": "30"}]

# Seconds between the gateway worker's catch-up sweeps: short enough for the demo to wait for
# one, long enough that a sweep rarely lands in the second between an alert firing and its
# webhook arriving (then that note is marked late, which is still one note).
CATCHUP_INTERVAL = 30


def gateway_config(var, sentry_url, org, gateway_port, redis_url, orch_url, prometheus_url, project):
    """The gateway's YAML file (written as JSON, which is YAML); secrets by file path only.

    The log path is not here: it arrives with each webhook as the alert rule's own setting
    (RULE_SETTINGS); this entry holds what every rule of the project shares.
    """
    settings = project_settings(orch_url, prometheus_url, routing=False)
    settings["orchestrator_url"] = settings.pop("url")   # the file's name for the plugin form's `url`
    settings.update({"token_file": os.path.join(var, "orch-token"), "ca_cert_file": os.path.join(var, "orch-ca.pem")})
    gw = os.path.join(var, "gateway")
    return {
        "sentry": {"url": sentry_url, "organization": org,
                   "token_file": os.path.join(gw, "sentry-token"),
                   "client_secret_file": os.path.join(gw, "client-secret")},
        # catch-up on, every CATCHUP_INTERVAL s (the default is 60): the driver stops the receiver
        # while one issue is created and waits for the worker's sweep to write its late note.
        # (DEMO ONLY: the demo's Sentry answers the two Snuba reads this needs, see apps.py.)
        "gateway": {"listen": "127.0.0.1:%d" % gateway_port, "redis_url": redis_url, "log_format": "text",
                    "catchup_interval": CATCHUP_INTERVAL},
        "projects": {project: settings},
    }


def _stamp(when):
    """Local time, as Python's logging writes it (the task reads zone-less stamps as node time)."""
    moment = datetime.datetime.fromtimestamp(when)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + ",%03d" % (moment.microsecond // 1000)


def stage_logs(event_time):
    """The two application logs, written just before the events are sent: their last error
    is the event itself (same time), the earlier ones the minutes that led to it."""
    os.makedirs(LOG_DIR, exist_ok=True)
    t = lambda seconds_before: _stamp(event_time - seconds_before)  # noqa: E731
    cache = "Error 111 connecting to localhost:%d. Connection refused." % CACHE_PORT
    api = [
        "%s INFO  [checkout.views] GET /api/cart/81721 200 in 14ms" % t(360),
        "%s INFO  [checkout.payments] calling https://payments:s3cr3t-pw@pay.internal/api with "
        "api_key=sk_live_4242demo" % t(300),
        "%s WARN  [checkout.cart] cache slow: GET cart:81719 took 950 ms (localhost:%d)" % (t(240), CACHE_PORT),
    ] + ["%s ERROR [checkout.cart] cache unavailable, serving from the database: %s" % (t(ago), cache)
         for ago in (180, 120, 75, 40)] + [
        "%s ERROR [django.request] Internal Server Error: /api/cart/81723" % t(0),
        "Traceback (most recent call last):",
        '  File "checkout/cart.py", line 41, in load_cart',
        '    raw = cache.get("cart:%s" % cart_id)',
        "redis.exceptions.ConnectionError: " + cache,
    ]
    enospc = "[Errno 28] No space left on device: '%s/settlement-%%d.csv'" % EXPORTS
    worker = [
        "%s INFO  [payments.tasks.export] settlement export 81721 written (412 KiB)" % t(480),
        "%s WARN  [payments.tasks.export] %s is 97%% full" % (t(240), EXPORTS),
    ] + ["%s ERROR [payments.tasks.export] export 81722 failed, retrying: %s" % (t(ago), enospc % 81722)
         for ago in (180, 120, 60)] + [
        "%s ERROR [celery.app.trace] Task payments.tasks.export_settlement[81723] raised unexpected: OSError(28)"
        % t(0),
        "Traceback (most recent call last):",
        '  File "payments/tasks/export.py", line 88, in export_settlement',
        "    out.write(chunk)",
        "OSError: " + enospc % 81723,
    ]
    for path, lines in ((API_LOG, api), (WORKER_LOG, worker)):
        with open(path, "w") as fh:
            fh.write("\n".join(lines) + "\n")


def main():
    """`python -m autodiag_demo.scenario gateway-config`: writes $DEMO_VAR/gateway/gateway.yaml."""
    var = os.environ["DEMO_VAR"]
    state = json.load(open(os.path.join(var, "state.json")))
    config = gateway_config(var, os.environ["DEMO_WEB"], state["org"], int(os.environ["DEMO_GATEWAY_PORT"]),
                            os.environ["DEMO_GATEWAY_REDIS"], os.environ["DEMO_ORCH_URL"],
                            os.environ["DEMO_PROMETHEUS_URL"], state["gateway_project"])
    path = os.path.join(var, "gateway", "gateway.yaml")
    text = json.dumps(config, indent=2) + "\n"
    if not os.path.exists(path) or open(path).read() != text:
        with open(path, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
