"""Sentry glue: the Celery tasks that start a PE job, follow it and write the note.

Arguments are plain JSON values (ids, strings); the token and CA are read from the
project's options by the worker, never put in broker messages. Following a job never
blocks a worker: each poll is a short task rescheduled with a countdown. Under Sentry's
test mode (eager tasks, countdowns run at once) the poll loops in place instead, so
there is no unbounded recursion.
"""
import logging
import random
import time
from typing import Any, Dict, Optional

from sentry.models import Group, Project
from sentry.plugins.base import plugins
from sentry.tasks.base import instrumented_task
from sentry.utils import redis

from sentry_autodiag import diagnosis
from sentry_autodiag import orchestrator as oc
from sentry_autodiag.report import NoteContext
from sentry_autodiag.sentry_glue import load_settings, write_note_once
from sentry_autodiag.targeting import NodeRejected, scope_for

logger = logging.getLogger("sentry_autodiag")

QUEUE = "autodiag"
ISSUE_CLAIM_TTL = 24 * 3600    # one diagnosis per issue per day
JOB_RECORD_TTL = 3 * 3600
DEADLINE_GRACE = 30.0          # seconds past the job timeout before the plugin stops the job itself


def _redis():
    return redis.redis_clusters.get("default")


def claim_issue(group_id: int, event_id: str) -> bool:
    """True for the first event of an issue (per day); later events start no more jobs.

    Checked in the worker, not in notify(), to keep the post_process path free of I/O.

    Without Redis the plugin still diagnoses (logged), without de-duplication.
    """
    try:
        return bool(_redis().set("autodiag:issue:%s" % group_id, event_id, nx=True, ex=ISSUE_CLAIM_TTL))
    except Exception:
        logger.warning("autodiag.redis-unavailable", exc_info=True)
        return True


def _remember_job(diagnosis_id: str, job: str) -> None:
    try:
        _redis().set("autodiag:job:%s" % diagnosis_id, job, ex=JOB_RECORD_TTL)
    except Exception:
        logger.warning("autodiag.redis-unavailable", exc_info=True)


def _recorded_job(diagnosis_id: str) -> Optional[str]:
    try:
        value = _redis().get("autodiag:job:%s" % diagnosis_id)
    except Exception:
        return None
    return value.decode() if isinstance(value, bytes) else value


def _plugin():
    return plugins.get("autodiag")


def _context(config, node_label: str, job: Optional[str] = None) -> NoteContext:
    return NoteContext(node=node_label, task=config.task, environment=config.environment, job=job)


def _finish(group: Group, diagnosis_id: str, text: str, config, outcome: str) -> None:
    written = write_note_once(group, diagnosis_id, text, send_notification=config.email_participants)
    logger.info("autodiag.note", extra={"group_id": group.id, "outcome": outcome, "written": written})


def _later(task, kwargs: Dict[str, Any], countdown: float) -> None:
    task.apply_async(kwargs=kwargs, countdown=countdown, queue=QUEUE)


@instrumented_task(name="sentry_autodiag.tasks.start_diagnosis", queue=QUEUE, bind=True,
                   soft_time_limit=60, time_limit=75, acks_late=True)
def start_diagnosis(self, project_id: int, group_id: int, event_id: str, node: Optional[str] = None,
                    rejection: Optional[Dict[str, str]] = None, since: Optional[str] = None,
                    attempt: int = 1) -> None:
    """Starts the PE job for one issue, or writes the note saying why it cannot."""
    try:
        group = Group.objects.get(id=group_id, project_id=project_id)
    except Group.DoesNotExist:
        return  # the issue was deleted meanwhile
    diagnosis_id = "%s:%s" % (group_id, event_id)
    if attempt == 1 and not claim_issue(group_id, event_id):
        logger.info("autodiag.skipped.already-diagnosed", extra={"group_id": group_id, "event_id": event_id})
        return
    config = load_settings(_plugin(), group.project)
    if rejection:
        ctx = _context(config, "(none)")
        text = diagnosis.note_for_rejection(ctx, NodeRejected(rejection["code"], rejection["message"]))
        return _finish(group, diagnosis_id, text, config, "rejected-" + rejection["code"])
    ctx = _context(config, node)
    job = _recorded_job(diagnosis_id)
    if job is None:
        params: Dict[str, Any] = {"log_lines": config.log_lines}
        if config.log_path:
            params["log_path"] = config.log_path
        if since and config.task == "diagnostics::collect":
            params["since"] = since
        if config.task != "diagnostics::collect":
            params = {}  # other tasks declare other parameters
        try:
            with oc.OrchestratorClient(config.url, config.token, config.ca_cert) as client:
                job = client.run_task(
                    config.task, params, environment=config.environment, timeout=config.job_timeout,
                    description="Sentry issue %s: %s" % (group.qualified_short_id, group.title[:120]),
                    userdata={"sentry_issue_id": group_id, "sentry_event_id": event_id,
                              "sentry_project": group.project.slug},
                    **scope_for(node, config.pql_scope))
        except oc.OrchestratorError as exc:
            if exc.retryable and attempt < diagnosis.START_RETRIES:
                delay = diagnosis.START_BACKOFF * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)
                logger.info("autodiag.start.retry", extra={"group_id": group_id, "attempt": attempt})
                if self.request.is_eager:
                    time.sleep(min(delay, 0.2))  # test mode: keep the suite fast, order intact
                _later(start_diagnosis, dict(project_id=project_id, group_id=group_id, event_id=event_id,
                                             node=node, since=since, attempt=attempt + 1), delay)
                return
            return _finish(group, diagnosis_id, diagnosis.note_for_error(ctx, exc, attempts=attempt), config,
                           "error-" + exc.reason)
        except NodeRejected as exc:
            return _finish(group, diagnosis_id, diagnosis.note_for_rejection(ctx, exc), config, "rejected")
        _remember_job(diagnosis_id, job)
    logger.info("autodiag.job.started", extra={"group_id": group_id, "job": job})
    poll_kwargs = dict(project_id=project_id, group_id=group_id, event_id=event_id, node=node, job=job,
                       started=time.time(), deadline=time.time() + config.job_timeout + DEADLINE_GRACE, interval=None,
                       failures=0)
    poll_kwargs["interval"] = diagnosis.next_poll_interval(0, None)
    if self.request.is_eager:
        return poll_job(**poll_kwargs)
    _later(poll_job, poll_kwargs, poll_kwargs["interval"])


@instrumented_task(name="sentry_autodiag.tasks.poll_job", queue=QUEUE, bind=True,
                   soft_time_limit=30, time_limit=45, acks_late=True)
def poll_job(self, project_id: int, group_id: int, event_id: str, node: str, job: str, started: float,
             deadline: float, interval: Optional[float], failures: int = 0, polls: int = 0) -> None:
    """One look at the job; writes the note when it is done, else schedules the next look."""
    try:
        group = Group.objects.get(id=group_id, project_id=project_id)
    except Group.DoesNotExist:
        return
    config = load_settings(_plugin(), group.project)
    diagnosis_id = "%s:%s" % (group_id, event_id)
    ctx = _context(config, node, job)
    while True:
        if self.request.is_eager and interval:
            time.sleep(interval)
        polls += 1
        try:
            with oc.OrchestratorClient(config.url, config.token, config.ca_cert) as client:
                state = client.job(job)
                if state.done:
                    results = [n for n in client.job_nodes(job) if n.name == node]
                    text = (diagnosis.note_for_node(ctx, results[0]) if results
                            else diagnosis.note_for_missing_node_result(ctx, state.state))
                    logger.info("autodiag.job.done", extra={"group_id": group_id, "job": job, "polls": polls})
                    return _finish(group, diagnosis_id, text, config, "job-" + state.state)
                if time.time() > deadline:
                    stopped = _stop(client, job)
                    return _finish(group, diagnosis_id, diagnosis.note_for_timeout(ctx, config.job_timeout, stopped),
                                   config, "timeout")
            failures = 0
        except oc.OrchestratorError as exc:
            if not exc.retryable:
                return _finish(group, diagnosis_id, diagnosis.note_for_error(ctx, exc), config, "error-" + exc.reason)
            failures += 1
            if failures >= diagnosis.MAX_POLL_FAILURES or time.time() > deadline:
                return _finish(group, diagnosis_id, diagnosis.note_for_error(ctx, exc, attempts=failures), config,
                               "error-" + exc.reason)
        interval = diagnosis.next_poll_interval(time.time() - started, interval)
        if not self.request.is_eager:
            _later(poll_job, dict(project_id=project_id, group_id=group_id, event_id=event_id, node=node, job=job,
                                  started=started, deadline=deadline, interval=interval, failures=failures,
                                  polls=polls), interval)
            return


def _stop(client, job: str) -> bool:
    try:
        client.stop(job, force=True)
        return True
    except oc.OrchestratorError:
        return False
