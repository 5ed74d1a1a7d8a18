"""DEMO ONLY: configures both front ends and their alert rules through Sentry's own REST
API (as the settings page and the alert editor do), sends one error into each project,
waits for both notes and prints them as GET /api/0/issues/{id}/comments/ returns them.

The plugin path: project checkout, rule "New issue → Puppet Auto-Diagnostics" (the
plugin as a notification service). The gateway path: project payments, rule "New issue
→ Send a notification via <the internal integration>"; Sentry's worker POSTs the signed
webhook to the gateway, the gateway's worker posts the note with the integration's token.
Then catch-up (issue 20): the gateway's receiver is stopped while one more issue is created
in payments, started again, and the worker's catch-up sweep writes that issue's late note.
"""
import datetime
import json
import os
import subprocess
import sys
import time

import requests

from autodiag_demo import render_note, scenario

PLUGIN_RULE = "New issue → Puppet Auto-Diagnostics"
GATEWAY_RULE = "New issue → Puppet Autodiag gateway"
NOTE_TIMEOUT = 240
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# A minute of 5 s scrapes before the events: every default query has a value (irate needs two
# samples) and the notes' sparklines have history to draw. Prometheus starts before Sentry's
# set-up (scripts/demo.sh), so on a first run this is usually there already.
MIN_SAMPLES = 12
METRICS_WAIT = 120


def say(text):
    print("[demo] %s" % text, flush=True)


def api(session, method, path, **kwargs):
    # A new connection per call: `sentry run web` (uWSGI) closes them without saying so.
    response = requests.request(method, session.base + path, headers=session.headers, timeout=30, **kwargs)
    if response.status_code >= 400:
        raise SystemExit("[demo] %s %s answered %s: %s" % (method, path, response.status_code, response.text[:500]))
    return response.json() if response.content else None


def ensure_rule(session, project_path, name, action):
    """The rule "A new issue is created → <action>", created once (again when its action
    changed); returns its id."""
    for rule in api(session, "GET", project_path + "/rules/"):
        if rule.get("name") == name:
            if rule.get("actions") and all(rule["actions"][0].get(k) == v for k, v in action.items()
                                           if k != "hasSchemaFormConfig"):
                say("alert rule '%s' exists" % name)
                return rule["id"]
            api(session, "DELETE", "%s/rules/%s/" % (project_path, rule["id"]))
    say("creating the alert rule '%s'" % name)
    created = api(session, "POST", project_path + "/rules/", json={
        "name": name, "actionMatch": "all", "filterMatch": "all", "frequency": 30,
        "conditions": [{"id": "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}],
        "actions": [action], "filters": [], "environment": None, "owner": None})
    return created["id"]


def service_action(service):
    """"Send a notification via <service>": the plugin as a notification service."""
    return {"id": "sentry.rules.actions.notify_event_service.NotifyEventServiceAction", "service": service}


def integration_action(install_uuid, settings):
    """"Send a notification via <integration>" with the integration's per-rule form filled in:
    Sentry POSTs the settings to the gateway to check them when the rule is saved, then sends
    them in every `event_alert` webhook of this rule (data.issue_alert.settings)."""
    return {"id": "sentry.rules.actions.notify_event_sentry_app.NotifyEventSentryAppAction",
            "hasSchemaFormConfig": True, "sentryAppInstallationUuid": install_uuid, "settings": settings}


def send_event(var, project_id, kind, node, run, event_time, name=None, release=True):
    """Starts send_event.py (`sentry exec`) for one error; returns (process, result file)."""
    out = os.path.join(var, "event-%s.json" % (name or kind))
    if os.path.exists(out):
        os.unlink(out)
    env = dict(os.environ, DEMO_PROJECT_ID=str(project_id), DEMO_KIND=kind, DEMO_NODE=node, DEMO_EVENT=out,
               DEMO_RUN=run, DEMO_EVENT_TIME="%.3f" % event_time)
    if not release:
        env["DEMO_RELEASE"] = ""
    return subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "sentry"), "exec",
                             os.path.join(os.path.dirname(__file__), "send_event.py")], env=env), out


def wait_notes(session, groups, var):
    """{label: note text} once every issue in groups ({label: group id}) has its note."""
    deadline = time.time() + NOTE_TIMEOUT
    notes = {}
    while time.time() < deadline and len(notes) < len(groups):
        for label, group_id in groups.items():
            if label not in notes:
                for comment in api(session, "GET", "/issues/%s/comments/" % group_id):
                    if "Puppet diagnostics" in comment["data"].get("text", ""):
                        notes[label] = comment["data"]["text"]
        if len(notes) < len(groups):
            print(".", end="", flush=True)
            time.sleep(1)
    print(flush=True)
    missing = sorted(set(groups) - set(notes))
    if missing:
        raise SystemExit("[demo] no note after %d s for %s; see %s/worker.log, gateway.log, gateway-worker.log"
                         % (NOTE_TIMEOUT, ", ".join(missing), var))
    return notes


def wait_remediation_note(session, group_id, var):
    """The audit note the remediation step writes after the diagnosis note."""
    deadline = time.time() + NOTE_TIMEOUT
    while time.time() < deadline:
        for comment in api(session, "GET", "/issues/%s/comments/" % group_id):
            if "Puppet remediation" in comment["data"].get("text", ""):
                return comment["data"]["text"]
        print(".", end="", flush=True)
        time.sleep(1)
    raise SystemExit("[demo] no remediation note after %d s on issue %s; see %s/worker.log"
                     % (NOTE_TIMEOUT, group_id, var))


def wait_for_samples(prometheus_url, nodes):
    """Waits (at most METRICS_WAIT s) until Prometheus holds MIN_SAMPLES scrapes of each node;
    says how many there are, so a note without metrics is never a surprise."""
    deadline = time.time() + METRICS_WAIT
    counts = {}
    while True:
        for node in nodes:
            query = 'count_over_time(node_load1{instance="%s:9100"}[15m])' % node
            try:
                answer = requests.get(prometheus_url + "/api/v1/query", params={"query": query}, timeout=10).json()
                result = answer["data"]["result"]
                counts[node] = int(float(result[0]["value"][1])) if result else 0
            except (requests.RequestException, ValueError, KeyError, IndexError):
                counts[node] = 0
        if min(counts.values()) >= MIN_SAMPLES or time.time() >= deadline:
            break
        print(".", end="", flush=True)
        time.sleep(2)
    print(flush=True)
    say("Prometheus holds %s of the last 15 min (%s needed for metrics with history in the notes)"
        % (", ".join("%d samples of %s:9100" % (counts[n], n) for n in nodes), MIN_SAMPLES))


def demo_script(*args):
    """scripts/demo.sh with args (here: `_gateway stop|start`, the gateway's receiver only)."""
    script = os.path.join(ROOT, "scripts", "demo.sh")
    if subprocess.run([script] + list(args)).returncode != 0:
        raise SystemExit("[demo] scripts/demo.sh %s failed" % " ".join(args))


def failed_deliveries(session, slug, since):
    """Sentry's own record of the integration's webhook requests (Developer Settings → the
    integration → Dashboard): the alert webhooks sent after `since` that reached nobody
    (code 0). (The record keeps no request body, so no event id: the time tells.)"""
    response = requests.get("%s/sentry-apps/%s/requests/" % (session.base, slug), headers=session.headers,
                            params={"eventType": "event_alert.triggered", "errorsOnly": "true"}, timeout=30)
    if response.status_code != 200:
        return None
    found = []
    for request in response.json():
        try:
            sent = datetime.datetime.fromisoformat(request.get("date") or "").timestamp()
        except (TypeError, ValueError):
            continue
        if request.get("responseCode") == 0 and sent >= since:
            found.append(request)
    return found


def miss_one_webhook(session, state, var, run, event_time):
    """Issue 20: the gateway's receiver is stopped while one more issue is created in its
    project; Sentry's rule fires and its webhook finds nobody; the receiver starts again.
    Returns the missed issue's {"event_id", "group_id"}."""
    say("catch-up: stopping the gateway's receiver (scripts/demo.sh _gateway stop; its worker keeps running)")
    demo_script("_gateway", "stop")
    say("catch-up: one more OSError ENOSPC into '%s' (its own issue; no release: the event API's release "
        "details would read Snuba); the alert rule fires, its webhook finds no gateway" % state["gateway_project"])
    sent_at = time.time()
    process, out = send_event(var, state["gateway_project_id"], "worker", scenario.WORKER_NODE, run + "-late",
                              event_time, name="late", release=False)
    if process.wait() != 0 or not json.load(open(out)).get("group_id"):
        raise SystemExit("[demo] the missed event did not become an issue; see %s/worker.log" % var)
    missed = json.load(open(out))
    deadline = time.time() + 30
    failed = None
    while time.time() < deadline:  # until Sentry's worker has tried (and failed) to deliver it
        failed = failed_deliveries(session, state["app_slug"], sent_at)
        if failed:
            break
        print(".", end="", flush=True)
        time.sleep(1)
    print(flush=True)
    if failed:
        say("catch-up: Sentry's request log of the integration: event_alert.triggered for issue %s → %s, "
            "response code 0 (nobody listening)" % (missed["group_id"], failed[0].get("webhookUrl")))
    else:
        say("catch-up: Sentry's request log shows no failed delivery yet (after 30 s); going on")
    say("catch-up: starting the gateway's receiver again; the worker's next sweep (every %d s) reads the rule's "
        "group history" % scenario.CATCHUP_INTERVAL)
    demo_script("_gateway", "start")
    return missed


def wait_late_note(session, group_id, var, since):
    """The late note the worker's catch-up sweep writes on the missed issue."""
    deadline = time.time() + NOTE_TIMEOUT
    while time.time() < deadline:
        for comment in api(session, "GET", "/issues/%s/comments/" % group_id):
            if "Puppet diagnostics" in comment["data"].get("text", ""):
                say("catch-up: the late note arrived %.0f s after the receiver started again" % (time.time() - since))
                return comment["data"]["text"]
        print(".", end="", flush=True)
        time.sleep(1)
    raise SystemExit("[demo] no caught-up note after %d s on issue %s; see %s/gateway-worker.log"
                     % (NOTE_TIMEOUT, group_id, var))


def features_shown(notes, remediation):
    """What a newcomer came to see, checked in the notes themselves: [(feature, shown)]."""
    spark = set("▁▂▃▄▅▆▇█")
    remediation = remediation.replace("\\", "")  # the notes escape Markdown (per\-node)
    return [
        ("plugin note: metrics table with sparklines",
         "**Metrics** (Prometheus" in notes["plugin"] and bool(spark & set(notes["plugin"]))),
        ("gateway note: metrics table with sparklines",
         "**Metrics** (Prometheus" in notes["gateway"] and bool(spark & set(notes["gateway"]))),
        ("plugin note: the routing rule `service: api` chose %s" % scenario.API_LOG,
         "Routed by rule 1" in notes["plugin"] and scenario.API_LOG in notes["plugin"]),
        ("gateway note: the alert rule's own setting chose %s" % scenario.WORKER_LOG,
         scenario.WORKER_LOG in notes["gateway"]),
        ("findings naming the causes (app-connection-refused, disk-full)",
         "`app-connection-refused`" in notes["plugin"] and "`disk-full`" in notes["gateway"]),
        ("remediation rule: a dry run (PE noop), nothing changed" if "dry run" in remediation else
         "remediation rule: matched, held back by its per-node limit (a run within the hour had the dry run)",
         "dry run" in remediation or "per-node limit" in remediation),
    ]


def ask_again(session, group_id, var):
    """Issue 22: a member comments `/autodiag`; the plugin answers and adds a second report
    that opens with the changes since the first one."""
    say("plugin path: a member comments '/autodiag' on issue %s (POST /api/0/issues/%s/comments/)"
        % (group_id, group_id))
    api(session, "POST", "/issues/%s/comments/" % group_id, json={"text": "/autodiag\nis the node healthy now?"})
    deadline = time.time() + NOTE_TIMEOUT
    while time.time() < deadline:
        texts = [c["data"].get("text", "") for c in api(session, "GET", "/issues/%s/comments/" % group_id)]
        second = [t for t in texts if t.startswith("**Requested** by")]
        if second:
            for answer in (t for t in texts if "diagnosis started, job" in t):
                say("the plugin's answer: %s" % answer)
            say("the second report starts with the changes since the first one:")
            print("-" * 78)
            print(second[0][:3000])
            print("-" * 78)
            with open(os.path.join(var, "note-ask-again.md"), "w") as fh:
                fh.write(second[0])
            return second[0]
        print(".", end="", flush=True)
        time.sleep(1)
    raise SystemExit("[demo] no answer to /autodiag after %d s on issue %s; see %s/worker.log"
                     % (NOTE_TIMEOUT, group_id, var))


def main():
    var = os.environ["DEMO_VAR"]
    state = json.load(open(os.path.join(var, "state.json")))
    web = os.environ["DEMO_WEB"]
    session = requests.Session()
    session.base = web + "/api/0"
    session.headers["Authorization"] = "Bearer " + state["api_token"]
    org = state["org"]
    checkout = "/projects/%s/%s" % (org, state["project"])
    payments = "/projects/%s/%s" % (org, state["gateway_project"])

    say("plugin path: configuring the plugin on '%s' through PUT %s/plugins/autodiag/ (what the settings page does)"
        % (state["project"], checkout))
    settings = scenario.project_settings(os.environ["DEMO_ORCH_URL"], os.environ["DEMO_PROMETHEUS_URL"])
    orch_token = open(os.path.join(var, "orch-token")).read().strip()
    settings.update({"token": orch_token, "ca_cert": open(os.path.join(var, "orch-ca.pem")).read(),
                     "remediation_token": orch_token})
    api(session, "PUT", checkout + "/plugins/autodiag/", json={k: str(v) for k, v in settings.items()})
    api(session, "POST", checkout + "/plugins/autodiag/")  # enable
    result = api(session, "POST", checkout + "/plugins/autodiag/", json={"test": True})
    say("Test Plugin: %s" % result.get("detail"))
    say("plugin path: routing rules service=api → %s, service=worker → %s; metrics from Prometheus %s"
        % (scenario.API_LOG, scenario.WORKER_LOG, os.environ["DEMO_PROMETHEUS_URL"]))
    plugin_rule = ensure_rule(session, checkout, PLUGIN_RULE, service_action("autodiag"))

    say("gateway path: internal integration '%s' → http://127.0.0.1:%s/webhook/sentry, config %s/gateway/gateway.yaml"
        % (state["app_slug"], os.environ["DEMO_GATEWAY_PORT"], var))
    check = subprocess.run([os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                         ".venv-gateway", "bin", "sentry-autodiag"), "check", "--config",
                            os.path.join(var, "gateway", "gateway.yaml")],
                           env={k: v for k, v in os.environ.items() if k not in ("SENTRY_CONF", "PYTHONPATH")},
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    for line in check.stdout.splitlines():
        say("  sentry-autodiag check: %s" % line)
    if check.returncode != 0:
        raise SystemExit("[demo] the gateway's configuration check failed (above)")
    say("gateway path: the alert rule's own form sets %s (the gateway checks it when Sentry saves the rule)"
        % ", ".join("%s=%s" % (f["name"], f["value"]) for f in scenario.RULE_SETTINGS))
    gateway_rule = ensure_rule(session, payments, GATEWAY_RULE,
                               integration_action(state["app_install_uuid"], scenario.RULE_SETTINGS))

    say("waiting for Prometheus to hold a minute of samples of both nodes (it started before Sentry)")
    wait_for_samples(os.environ["DEMO_PROMETHEUS_URL"], (scenario.API_NODE, scenario.WORKER_NODE))
    event_time = time.time()
    run = str(int(event_time))
    say("application logs on the 'node': %s (the cache refusing connections), %s (the export volume full)"
        % (scenario.API_LOG, scenario.WORKER_LOG))
    scenario.stage_logs(event_time)
    say("sending a redis ConnectionError (service=api, server_name=%s) into 'checkout' and an OSError ENOSPC "
        "(service=worker, server_name=%s) into 'payments' through Sentry's processing pipeline"
        % (scenario.API_NODE, scenario.WORKER_NODE))
    started = [send_event(var, state["project_id"], "api", scenario.API_NODE, run, event_time),
               send_event(var, state["gateway_project_id"], "worker", scenario.WORKER_NODE, run, event_time)]
    groups = {}
    for (process, out), label in zip(started, ("plugin", "gateway")):
        if process.wait() != 0 or not json.load(open(out)).get("group_id"):
            raise SystemExit("[demo] the %s event did not become an issue; see %s/worker.log" % (label, var))
        groups[label] = json.load(open(out))["group_id"]
    say("issues %s (checkout) and %s (payments) created; Sentry's worker runs the alert rules: the plugin starts "
        "its PE job, the integration's webhook reaches the gateway" % (groups["plugin"], groups["gateway"]))
    notes = wait_notes(session, groups, var)

    for label, project in (("plugin", state["project"]), ("gateway", state["gateway_project"])):
        say("the %s's note on %s issue %s, as GET /api/0/issues/%s/comments/ returns it:"
            % (label, project, groups[label], groups[label]))
        print("-" * 78)
        print(notes[label])
        print("-" * 78)
        with open(os.path.join(var, "note-%s.md" % label), "w") as fh:
            fh.write(notes[label])

    # the missed issue first: the sweep's wait overlaps the remediation and /autodiag steps
    missed = miss_one_webhook(session, state, var, run, event_time)
    restarted = time.time()

    remediation = wait_remediation_note(session, groups["plugin"], var)
    say("plugin path: the remediation rule's %s on the same issue (audit note):"
        % ("dry run" if render_note.remediation_ran(remediation) else "decision (a guard stopped it)"))
    print("-" * 78)
    print(remediation)
    print("-" * 78)
    with open(os.path.join(var, "note-remediation.md"), "w") as fh:
        fh.write(remediation)

    asked = ask_again(session, groups["plugin"], var)

    late = wait_late_note(session, missed["group_id"], var, restarted)
    say("the gateway's caught-up note on %s issue %s (the webhook never reached it):"
        % (state["gateway_project"], missed["group_id"]))
    print("-" * 78)
    print(late)
    print("-" * 78)
    with open(os.path.join(var, "note-late.md"), "w") as fh:
        fh.write(late)

    say("what the notes show:")
    for feature, shown in features_shown(notes, remediation) + [
            ("both notes open with the verdict line",
             all(("Likely cause" in n or "Possible cause" in n or "looked healthy" in n) for n in notes.values())),
            ("a '/autodiag' comment answered by a second note with its changes section",
             "since the last diagnosis" in asked.lower() or "changes since" in asked.lower()),
            ("gateway stopped while an issue was created: the catch-up sweep's late note (webhook not received)",
             "Late diagnosis, caught up" in late and "not received" in late)]:
        say("  %s %s" % ("✓" if shown else "✗ MISSING:", feature))

    picture = render_note.write(var, dict(notes, remediation=remediation), groups, state)
    say("links that work on this demo instance (log in as %s / %s; loopback only):"
        % (state["email"], state["password"]))
    say("  plugin settings page:      %s/settings/%s/projects/%s/plugins/autodiag/" % (web, org, state["project"]))
    say("  plugin alert rule:         %s/organizations/%s/alerts/rules/%s/%s/" % (web, org, state["project"], plugin_rule))
    say("  the integration:           %s/settings/%s/developer-settings/%s/" % (web, org, state["app_slug"]))
    say("  gateway alert rule:        %s/organizations/%s/alerts/rules/%s/%s/"
        % (web, org, state["gateway_project"], gateway_rule))
    for label in ("plugin", "gateway"):
        say("  %-26s %s/api/0/issues/%s/comments/" % ("the %s's note (JSON):" % label, web, groups[label]))
    say("  %-26s %s/api/0/issues/%s/comments/" % ("the caught-up note (JSON):", web, missed["group_id"]))
    say("the issue pages are not linked: they read events through Snuba, which cannot run here")
    say("the gateway's note rendered outside Sentry's UI (mistune + headless Chromium): %s" % picture)
    if os.environ.get("DEMO_DOCS") == "1":
        say("docs/example-note.md and docs/example-note.png were refreshed from this run")
    say("stop everything with: make demo-stop")


if __name__ == "__main__":
    sys.exit(main())
