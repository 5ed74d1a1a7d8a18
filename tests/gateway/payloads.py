"""event_alert bodies shaped as Sentry's AppPlatformEvent sends them (23.7.1 … 26.x):
`data.event` is Event.as_dict() plus url, web_url, issue_url and issue_id (a string)."""
import json
import time
import uuid

from sentry_autodiag.gateway import signature


def event_alert(issue_id="4242", server_name="web01.example.com", environment="production", level="error",
                project="checkout", organization="acme", when=None, tags=None, **event_extra):
    event_id = uuid.uuid4().hex
    when = time.time() if when is None else when
    event = {
        "event_id": event_id, "project": 2, "release": None, "dist": None, "platform": "python",
        "message": "", "datetime": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + ".123456Z",
        "tags": tags if tags is not None else [["environment", environment], ["level", level],
                                                ["server_name", server_name or ""]],
        "environment": environment, "level": level, "server_name": server_name,
        "exception": {"values": [{"type": "ZeroDivisionError", "value": "division by zero"}]},
        "culprit": "app.views in checkout", "title": "ZeroDivisionError: division by zero", "location": None,
        "url": "https://sentry.example.com/api/0/projects/%s/%s/events/%s/" % (organization, project, event_id),
        "web_url": "https://sentry.example.com/organizations/%s/issues/%s/events/%s/" % (organization, issue_id,
                                                                                          event_id),
        "issue_url": "https://sentry.example.com/api/0/issues/%s/" % issue_id,
        "issue_id": issue_id,
    }
    if server_name is None:
        del event["server_name"]
    event.update(event_extra)
    return {"action": "triggered", "installation": {"uuid": str(uuid.uuid4())},
            "data": {"event": event, "triggered_rule": "New issue → autodiag"},
            "actor": {"type": "application", "id": "sentry", "name": "Sentry"}}


def signed(payload, secret, resource="event_alert"):
    body = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
    return body, {"Content-Type": "application/json", "Request-ID": uuid.uuid4().hex,
                  "Sentry-Hook-Resource": resource, "Sentry-Hook-Timestamp": str(int(time.time())),
                  "Sentry-Hook-Signature": signature.sign(body, secret)}
