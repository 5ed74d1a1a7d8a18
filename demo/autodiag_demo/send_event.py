"""DEMO ONLY (run with `sentry exec`): hands one realistic Python error to Sentry's
processing pipeline where the ingest consumer would (processing store + save_event on
the Celery broker), waits for its issue, and writes {"event_id", "group_id"} to $DEMO_EVENT.
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

state = json.load(open(os.environ["DEMO_STATE"]))
project_id = state["project_id"]
node = os.environ.get("DEMO_NODE", "web01.example.com")
run = os.environ.get("DEMO_RUN", uuid.uuid4().hex[:8])
now = time.time()
event_id = uuid.uuid4().hex
data = {
    "event_id": event_id,
    "platform": "python",
    "level": "error",
    "environment": "production",
    "release": "checkout@2.14.1",
    "server_name": node,
    "timestamp": now,
    "logger": "checkout.views",
    "transaction": "/api/orders/{order_id}/total",
    "sdk": {"name": "sentry.python.django", "version": "1.28.1"},
    "tags": {"demo_run": run},
    "fingerprint": ["{{ default }}", "demo-run-%s" % run],
    "exception": {"values": [{
        "type": "ZeroDivisionError", "value": "division by zero", "module": "builtins",
        "mechanism": {"type": "django", "handled": False},
        "stacktrace": {"frames": [
            {"filename": "django/core/handlers/base.py", "function": "_get_response", "lineno": 197,
             "module": "django.core.handlers.base", "in_app": False},
            {"filename": "checkout/views.py", "function": "order_total", "lineno": 58, "module": "checkout.views",
             "in_app": True, "context_line": "    average = total / len(order.items)",
             "pre_context": ["def order_total(request, order_id):", "    order = Order.objects.get(id=order_id)",
                             "    total = sum(i.price for i in order.items)"],
             "vars": {"order_id": "'81723'", "total": "0"}},
        ]},
    }]},
    "request": {"method": "GET", "url": "https://shop.example.com/api/orders/81723/total"},
    "contexts": {"runtime": {"name": "CPython", "version": "3.8.18"}},
}
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
