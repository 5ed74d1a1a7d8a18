"""DEMO ONLY: configures the plugin and the alert rule through Sentry's own REST API (as
the settings page and the alert editor do), sends the event, waits for the note and
prints it as /api/0/issues/{id}/comments/ returns it.
"""
import json
import os
import subprocess
import sys
import time

import requests

RULE_NAME = "New issue → Puppet Auto-Diagnostics"


def say(text):
    print("[demo] %s" % text, flush=True)


def api(session, method, path, **kwargs):
    # A new connection per call: `sentry run web` (uWSGI) closes them without saying so.
    response = requests.request(method, session.base + path, headers=session.headers, timeout=30, **kwargs)
    if response.status_code >= 400:
        raise SystemExit("[demo] %s %s answered %s: %s" % (method, path, response.status_code, response.text[:500]))
    return response.json() if response.content else None


def main():
    var = os.environ["DEMO_VAR"]
    state = json.load(open(os.path.join(var, "state.json")))
    web = os.environ["DEMO_WEB"]
    session = requests.Session()
    session.base = web + "/api/0"
    session.headers["Authorization"] = "Bearer " + state["api_token"]
    project_path = "/projects/%s/%s" % (state["org"], state["project"])

    say("configuring the plugin through PUT %s/plugins/autodiag/ (what the settings page does)" % project_path)
    settings = {
        "url": os.environ["DEMO_ORCH_URL"],
        "token": open(os.path.join(var, "orch-token")).read().strip(),
        "ca_cert": open(os.path.join(var, "orch-ca.pem")).read(),
        "environment": "production", "task": "diagnostics::collect",
        "log_path": os.environ["DEMO_LOG"], "log_lines": "40",
        "node_tag": "server_name", "sentry_environments": "production", "min_level": "error",
        "job_timeout": "120",
    }
    api(session, "PUT", project_path + "/plugins/autodiag/", json=settings)
    api(session, "POST", project_path + "/plugins/autodiag/")  # enable
    result = api(session, "POST", project_path + "/plugins/autodiag/", json={"test": True})
    say("Test Plugin: %s" % result.get("detail"))

    rules = api(session, "GET", project_path + "/rules/")
    if not any(r.get("name") == RULE_NAME for r in rules):
        say("creating the alert rule '%s'" % RULE_NAME)
        api(session, "POST", project_path + "/rules/", json={
            "name": RULE_NAME, "actionMatch": "all", "filterMatch": "all", "frequency": 30,
            "conditions": [{"id": "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}],
            "actions": [{"id": "sentry.rules.actions.notify_event_service.NotifyEventServiceAction",
                         "service": "autodiag"}],
            "filters": [], "environment": None, "owner": None})
    else:
        say("alert rule '%s' exists" % RULE_NAME)

    say("sending a ZeroDivisionError from server_name=%s into Sentry's processing pipeline" % os.environ["DEMO_NODE"])
    event_file = os.path.join(var, "event.json")
    subprocess.run([os.environ["SENTRY_BIN"], "exec", os.path.join(os.path.dirname(__file__), "send_event.py")],
                   check=True, env=dict(os.environ, DEMO_STATE=os.path.join(var, "state.json"), DEMO_EVENT=event_file,
                                        DEMO_RUN=str(int(time.time()))))
    sent = json.load(open(event_file))
    if not sent.get("group_id"):
        raise SystemExit("[demo] the event did not become an issue; see %s/worker.log" % var)
    group_id = sent["group_id"]
    say("issue %s created; Sentry's worker runs the alert rule, the plugin starts the PE job and polls it" % group_id)

    deadline = time.time() + 180
    notes = []
    while time.time() < deadline:
        notes = [n for n in api(session, "GET", "/issues/%s/comments/" % group_id) if n.get("user") is None]
        if notes:
            break
        print(".", end="", flush=True)
        time.sleep(1)
    print(flush=True)
    if not notes:
        raise SystemExit("[demo] no note after 180 s; see %s/worker.log" % var)
    say("the note, as GET /api/0/issues/%s/comments/ returns it:" % group_id)
    print("-" * 78)
    print(notes[0]["data"]["text"])
    print("-" * 78)
    say("open the issue:         %s/organizations/%s/issues/%s/" % (web, state["org"], group_id))
    say("plugin settings page:   %s/settings/%s/projects/%s/plugins/autodiag/" % (web, state["org"], state["project"]))
    say("log in as %s / %s (loopback only); stop everything with: make demo-stop" % (state["email"], state["password"]))
    with open(os.path.join(var, "last-note.md"), "w") as fh:
        fh.write(notes[0]["data"]["text"])


if __name__ == "__main__":
    sys.exit(main())
