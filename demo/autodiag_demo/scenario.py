"""DEMO ONLY: the demo's one scenario, shared by the plugin path and the gateway path.

Why one module: both front ends take the same settings (settings.FIELDS), so the plugin's
form values and the gateway's YAML project entry are built here from one description and
cannot drift apart.

Two kinds of errors, routed by the event's `service` tag to two logs (issue 14):
- service=api    (project checkout, node web01, the plugin): the API's cache on
  localhost:6390 refuses connections; nothing listens there on the node;
- service=worker (project payments, node worker01, the gateway): the export volume
  /var/lib/autodiag-demo/exports is full (a real near-full ext4 scratch filesystem in the
  demo orchestrator's private mount namespace, see scripts/demo.sh).
Both "nodes" are this machine, as the demo's local orchestrator runs the real task here.
"""
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


def project_settings(orch_url, prometheus_url, log_path=""):
    """The settings both front ends get (secrets excluded: each front end stores those its way).

    log_path is the project's default, used when no routing rule matches. coalesce_window
    0: every demo run writes a leader's note with its own report, not a "Shared diagnosis"
    pointing at the previous run's issue.
    """
    return {
        "url": orch_url, "environment": "production", "task": "diagnostics::collect",
        "log_path": log_path, "log_lines": 30, "node_tag": "server_name", "sentry_environments": "production",
        "min_level": "error", "job_timeout": 120, "coalesce_window": 0,
        "routing_rules": ROUTING_RULES,
        "metrics_url": prometheus_url, "metrics_node_label": "instance", "metrics_node_value": "{certname}:9100",
    }


def gateway_config(var, sentry_url, org, gateway_port, redis_url, orch_url, prometheus_url, project):
    """The gateway's YAML file (written as JSON, which is YAML); secrets by file path only.

    The project entry holds the log path: the routing rules' (service=worker → worker.log),
    and the same path as the project's default. A log path chosen per alert rule (issue 13)
    would instead arrive with the webhook as that rule's setting; this entry then stays the
    default it falls back to.
    """
    settings = project_settings(orch_url, prometheus_url, log_path=WORKER_LOG)
    settings.update({"token_file": os.path.join(var, "orch-token"), "ca_cert_file": os.path.join(var, "orch-ca.pem")})
    gw = os.path.join(var, "gateway")
    return {
        "sentry": {"url": sentry_url, "organization": org,
                   "token_file": os.path.join(gw, "sentry-token"),
                   "client_secret_file": os.path.join(gw, "client-secret")},
        "gateway": {"listen": "127.0.0.1:%d" % gateway_port, "redis_url": redis_url, "log_format": "text"},
        "projects": {project: settings},
    }


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
