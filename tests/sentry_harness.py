"""Helpers that drive an event through Sentry's real ingestion path, in production order.

`Factories.store_event` never reaches plugins, and running tasks eagerly inside
`EventManager.save` would start post-processing before `save_event` writes the
normalized event back to the processing store (the rule processor then cannot see the
environment and silently does nothing). So, as the ingest consumer and Celery do:
1. store the normalized event in the processing store,
2. run `save_event`, recording the post_process_group dispatch instead of queuing it,
3. run `post_process_group` with the recorded arguments, with Sentry's task runner on,
   so that everything it queues (our plugin's tasks) runs too.
"""
import contextlib
import time
import uuid
from typing import List, NamedTuple, Optional
from unittest import mock

from sentry.event_manager import EventManager
from sentry.eventstore.processing import event_processing_store
from sentry.eventstream.base import EventStream
from sentry.rules.actions.notify_event_service import NotifyEventServiceAction
from sentry.rules.conditions.first_seen_event import FirstSeenEventCondition
from sentry.tasks.post_process import post_process_group
from sentry.tasks.store import save_event
from sentry.testutils.helpers.task_runner import TaskRunner
from sentry.utils.cache import cache_key_for_event


class SavedEvent(NamedTuple):
    event_id: str
    group_id: Optional[int]
    is_new: bool


def python_error_event(server_name="web01.example.com", message="ZeroDivisionError: division by zero",
                       environment="production", level="error", fingerprint=None, **extra):
    """A realistic Python error event as an SDK would send it."""
    data = {
        "event_id": uuid.uuid4().hex,
        "platform": "python",
        "level": level,
        "environment": environment,
        "timestamp": time.time(),
        "message": message,
        "exception": {
            "values": [
                {
                    "type": message.split(":")[0],
                    "value": message.split(": ", 1)[-1],
                    "stacktrace": {
                        "frames": [
                            {"filename": "app/views.py", "function": "checkout", "lineno": 42,
                             "in_app": True, "context_line": "total = amount / count"},
                        ]
                    },
                }
            ]
        },
        "tags": {},
    }
    if server_name is not None:
        data["server_name"] = server_name
    if fingerprint is not None:
        data["fingerprint"] = fingerprint
    data.update(extra)
    return data


def send_event(project, data, run_tasks: bool = True) -> SavedEvent:
    """Sends one event through save_event → post_process_group → rules → plugins.

    With run_tasks=False, tasks that post-processing queues are published to the broker
    instead of running inline (for tests that run a real Celery worker).
    """
    manager = EventManager(dict(data))
    manager.normalize()
    normalized = dict(manager.get_data())
    normalized["project"] = project.id
    cache_key = event_processing_store.store(normalized)

    dispatched: List[tuple] = []

    def record(self, event_id, project_id, group_id, is_new, is_regression,
               is_new_group_environment, primary_hash, queue, *args, **kwargs):
        dispatched.append((event_id, project_id, group_id, is_new, is_regression,
                           is_new_group_environment, primary_hash))

    with mock.patch.object(EventStream, "_dispatch_post_process_group_task", record):
        save_event(cache_key=cache_key, start_time=time.time(),
                   event_id=normalized["event_id"], project_id=project.id)
    assert len(dispatched) == 1, "save_event did not dispatch post-processing: %r" % dispatched
    event_id, project_id, group_id, is_new, is_regression, is_new_env, primary_hash = dispatched[0]

    with (TaskRunner() if run_tasks else contextlib.nullcontext()):
        post_process_group(
            is_new=is_new,
            is_regression=is_regression,
            is_new_group_environment=is_new_env,
            primary_hash=primary_hash,
            cache_key=cache_key_for_event({"project": project_id, "event_id": event_id}),
            group_id=group_id,
            project_id=project_id,
        )
    return SavedEvent(event_id, group_id, is_new)


def create_new_issue_rule(project, service="autodiag", environment=None, frequency=30):
    """The admin's rule: 'A new issue is created → Send a notification via <plugin>'."""
    from sentry.models import Rule

    data = {
        "conditions": [{"id": FirstSeenEventCondition.id}],
        "actions": [{"id": NotifyEventServiceAction.id, "service": service}],
        "action_match": "all",
        "filter_match": "all",
        "frequency": frequency,
    }
    return Rule.objects.create(project=project, label="New issue → %s" % service,
                               environment_id=environment.id if environment else None, data=data)
