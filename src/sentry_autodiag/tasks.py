"""The plugin's Celery tasks: thin wrappers that run one step of the shared flow.

The flow itself (claim, coalesce, slots, start, poll, notes) lives in flow.py and knows
nothing of Sentry; here each task builds the plugin's front end (sentry_glue) and runs
its step. Following a job never blocks a worker: each poll is a short task rescheduled
with a countdown. Under Sentry's test mode (eager tasks) the flow loops in place instead.

Task names and argument names are kept from 0.1.0 (`project_id`, `group_id`), so
messages queued before an upgrade still run.
"""
from typing import Any, Dict

from sentry.plugins.base import plugins
from sentry.tasks.base import instrumented_task

from sentry_autodiag.flow import Flow, legacy_kwargs
from sentry_autodiag.sentry_glue import PluginFrontEnd

QUEUE = "autodiag"


def _schedule(step: str, kwargs: Dict[str, Any], countdown: float = 0) -> None:
    task = {"start": start_diagnosis, "poll": poll_job, "drain": drain_waiting, "share": share_note,
            "remediate": remediate, "request": request_diagnosis}[step]
    task.apply_async(kwargs=as_task_kwargs(kwargs), countdown=countdown, queue=QUEUE)


as_task_kwargs = legacy_kwargs  # flow step arguments under the task argument names of 0.1.0


def _flow(task) -> Flow:
    return Flow(PluginFrontEnd(plugins.get("autodiag"), _schedule), eager=bool(task.request.is_eager))


@instrumented_task(name="sentry_autodiag.tasks.start_diagnosis", queue=QUEUE, bind=True,
                   soft_time_limit=60, time_limit=75, acks_late=True)
def start_diagnosis(self, **kwargs) -> None:
    """Joins or leads the node's diagnosis, waits for a slot, starts the PE job (flow.start)."""
    _flow(self).run("start", kwargs)


@instrumented_task(name="sentry_autodiag.tasks.poll_job", queue=QUEUE, bind=True,
                   soft_time_limit=30, time_limit=45, acks_late=True)
def poll_job(self, **kwargs) -> None:
    """One look at the job; the notes when it is done (flow.poll)."""
    _flow(self).run("poll", kwargs)


@instrumented_task(name="sentry_autodiag.tasks.drain_waiting", queue=QUEUE, bind=True,
                   soft_time_limit=30, time_limit=45)
def drain_waiting(self, **kwargs) -> None:
    """Restarts the oldest waiting leader when slots were freed without a finish (flow.drain)."""
    _flow(self).run("drain", kwargs)


@instrumented_task(name="sentry_autodiag.tasks.share_note", queue=QUEUE, bind=True,
                   soft_time_limit=30, time_limit=45, acks_late=True)
def share_note(self, **kwargs) -> None:
    """A follower's shared note whose first write failed (flow.share)."""
    _flow(self).run("share", kwargs)


@instrumented_task(name="sentry_autodiag.tasks.remediate", queue=QUEUE, bind=True,
                   soft_time_limit=60, time_limit=75, acks_late=True)
def remediate(self, **kwargs) -> None:
    """A diagnosed issue's remediation decision: guards, the job, one audit note (flow.remediate)."""
    _flow(self).run("remediate", kwargs)


@instrumented_task(name="sentry_autodiag.tasks.request_diagnosis", queue=QUEUE, bind=True,
                   soft_time_limit=60, time_limit=75, acks_late=True)
def request_diagnosis(self, **kwargs) -> None:
    """A /autodiag comment: limits, the node, the answer, a fresh diagnosis (flow.request)."""
    _flow(self).run("request", kwargs)
