"""DEMO ONLY (run with `sentry exec`): hands one realistic Python error to Sentry's
processing pipeline where the ingest consumer would (processing store + save_event on
the Celery broker), waits for its issue, and writes {"event_id", "group_id"} to $DEMO_EVENT.

$DEMO_PROJECT_ID and $DEMO_KIND (api: a cache refusing connections, on checkout; worker:
a full export volume, on payments) choose the project and the error; $DEMO_NODE the server; $DEMO_EVENT_TIME the time the
error happened (the time of the last error line in the staged application log); $DEMO_RELEASE,
if set, the release ("": none).
"""
import json
import os
import time
import uuid

from sentry.event_manager import EventManager
from sentry.eventstore.processing import event_processing_store
from sentry.models import GroupHash
from sentry.eventstore.models import Event
from sentry.tasks.store import save_event

KINDS = {
    # service=api on project checkout (the plugin path): the API's cache on localhost:6390 is down
    "api": {
        "release": "checkout@2.14.1", "logger": "checkout.cart", "transaction": "/api/cart/{cart_id}",
        "sdk": {"name": "sentry.python.django", "version": "1.28.1"},
        "exception": {"type": "ConnectionError", "module": "redis.exceptions",
                      "value": "Error 111 connecting to localhost:6390. Connection refused.",
                      "mechanism": {"type": "django", "handled": False}},
        "frames": [
            {"filename": "django/core/handlers/base.py", "function": "_get_response", "lineno": 197,
             "module": "django.core.handlers.base", "in_app": False},
            {"filename": "checkout/cart.py", "function": "load_cart", "lineno": 41, "module": "checkout.cart",
             "in_app": True, "context_line": '    raw = cache.get("cart:%s" % cart_id)',
             "pre_context": ["def load_cart(cart_id):"], "vars": {"cart_id": "'81723'"}},
        ],
        "request": {"method": "GET", "url": "https://shop.example.com/api/cart/81723"},
    },
    # service=worker on project payments (the gateway path): the export volume is full
    "worker": {
        "release": "payments@5.3.0", "logger": "payments.tasks.export", "transaction": "payments.tasks.export_settlement",
        "sdk": {"name": "sentry.python.celery", "version": "1.28.1"},
        "exception": {"type": "OSError", "module": "builtins",
                      "value": "[Errno 28] No space left on device: "
                               "'/var/lib/autodiag-demo/exports/settlement-81723.csv'",
                      "mechanism": {"type": "celery", "handled": False}},
        "frames": [
            {"filename": "celery/app/trace.py", "function": "trace_task", "lineno": 451,
             "module": "celery.app.trace", "in_app": False},
            {"filename": "payments/tasks/export.py", "function": "export_settlement", "lineno": 88,
             "module": "payments.tasks.export", "in_app": True, "context_line": "        out.write(chunk)",
             "pre_context": ["    with open(path, 'w') as out:", "      for chunk in rows_as_csv(batch):"],
             "vars": {"batch": "'81723'"}},
        ],
        "request": None,
    },
}

project_id = int(os.environ["DEMO_PROJECT_ID"])
kind = KINDS[os.environ.get("DEMO_KIND", "api")]
node = os.environ.get("DEMO_NODE", "web01.example.com")
run = os.environ.get("DEMO_RUN", uuid.uuid4().hex[:8])
now = float(os.environ.get("DEMO_EVENT_TIME") or time.time())
event_id = uuid.uuid4().hex
exception = dict(kind["exception"], stacktrace={"frames": kind["frames"]})
data = {
    "event_id": event_id,
    "platform": "python",
    "level": "error",
    "environment": "production",
    "server_name": node,
    "timestamp": now,
    "logger": kind["logger"],
    "transaction": kind["transaction"],
    "sdk": kind["sdk"],
    # `service` is what the demo's routing rules match on (api → api.log, worker → worker.log)
    "tags": {"demo_run": run, "service": os.environ.get("DEMO_KIND", "api")},
    "fingerprint": ["{{ default }}", "demo-run-%s" % run],
    "exception": {"values": [exception]},
    "contexts": {"runtime": {"name": "CPython", "version": "3.11.9"}},
}
# $DEMO_RELEASE="" sends no release: the caught-up issue's event, because the event API's
# release details read Snuba's release tags, which the demo's Sentry does not answer (apps.py)
release = os.environ.get("DEMO_RELEASE", kind["release"])
if release:
    data["release"] = release
if kind["request"]:
    data["request"] = kind["request"]
manager = EventManager(data)
manager.normalize()
normalized = dict(manager.get_data())
normalized["project"] = project_id
cache_key = event_processing_store.store(normalized)
save_event.apply_async(kwargs={"cache_key": cache_key, "start_time": now, "event_id": event_id,
                               "project_id": project_id}, queue="events.save_event")

group_id = None
deadline = time.time() + 120
while time.time() < deadline and group_id is None:
    time.sleep(0.3)
    hashes = (Event(project_id, event_id).data or {}).get("hashes") or []
    found = GroupHash.objects.filter(project_id=project_id, hash__in=hashes).exclude(group_id=None).first()
    group_id = found.group_id if found else None
with open(os.environ["DEMO_EVENT"], "w") as fh:
    json.dump({"event_id": event_id, "group_id": group_id}, fh)
