"""Sentry glue: the Celery tasks that start a PE job, follow it and write the notes.

Arguments are plain JSON values (ids, strings); the token and CA are read from the
project's options by the worker, never put in broker messages. Following a job never
blocks a worker: each poll is a short task rescheduled with a countdown. Under Sentry's
test mode (eager tasks, countdowns run at once) the poll loops in place instead, so
there is no unbounded recursion.

One diagnosis per issue: the first event claims the issue. Issues naming the same node
within the coalescing window share the leader's job (see storm.py); leaders wait for a
running slot of the project in a bounded FIFO queue. Without Redis the plugin still
diagnoses, without coalescing or cap.
"""
import logging
import random
import time
from typing import Any, Dict, Optional

from sentry.models import Group
from sentry.plugins.base import plugins
from sentry.tasks.base import instrumented_task
from sentry.utils import metrics, redis

from sentry_autodiag import diagnosis
from sentry_autodiag import orchestrator as oc
from sentry_autodiag.report import NoteContext
from sentry_autodiag.sentry_glue import load_settings, write_note_once
from sentry_autodiag.storm import Join, StormControl
from sentry_autodiag.targeting import NodeRejected, scope_for

logger = logging.getLogger("sentry_autodiag")

QUEUE = "autodiag"
ISSUE_CLAIM_TTL = 24 * 3600    # one diagnosis per issue per day
JOB_RECORD_TTL = 3 * 3600
DEADLINE_GRACE = 30.0          # seconds past the job timeout before the plugin stops the job itself
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0


def _redis():
    return redis.redis_clusters.get("default")


def claim_issue(group_id: int, event_id: str) -> bool:
    """True for the first event of an issue (per day), and again for that same event (a
    redelivered task); other events of the issue start no more diagnoses."""
    key = "autodiag:issue:%s" % group_id
    try:
        client = _redis()
        if client.set(key, event_id, nx=True, ex=ISSUE_CLAIM_TTL):
            return True
        owner = client.get(key)
        return (owner.decode() if isinstance(owner, bytes) else owner) == event_id
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


def _storm(config, project_id: int) -> StormControl:
    return StormControl(_redis(), project_id, window=config.coalesce_window * 60,
                        max_running=config.max_running_jobs, max_waiting=config.max_waiting)


def _client(config) -> oc.OrchestratorClient:
    return oc.OrchestratorClient(config.url, config.token, config.ca_cert,
                                 connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)


def _context(config, node_label: str, job: Optional[str] = None) -> NoteContext:
    return NoteContext(node=node_label, task=config.task, environment=config.environment, job=job)


def _later(task, kwargs: Dict[str, Any], countdown: float = 0) -> None:
    task.apply_async(kwargs=kwargs, countdown=countdown, queue=QUEUE)


def _note(group: Group, diagnosis_id: str, text: str, config, outcome: str, queued_at: Optional[float]) -> None:
    written = write_note_once(group, diagnosis_id, text, send_notification=config.email_participants)
    if written and queued_at:
        metrics.timing("autodiag.note.latency", time.time() - queued_at)
    logger.info("autodiag.note", extra={"group_id": group.id, "outcome": outcome, "written": written})


def _finish(group: Group, diagnosis_id: str, text: str, config, outcome: str,
            queued_at: Optional[float] = None, lead: bool = True) -> None:
    """The leader's end: its own note, the same note for every follower, then the next
    waiting leader gets the freed slot."""
    _note(group, diagnosis_id, text, config, outcome, queued_at)
    if outcome.startswith("error-") or outcome in ("timeout", "storm-limit"):
        metrics.incr("autodiag.diagnosis.failed", tags={"reason": outcome})
    if not lead:
        return
    result = {"text": text, "outcome": outcome, "group_id": group.id, "short_id": group.qualified_short_id,
              "url": group.get_absolute_url()}
    try:
        storm = _storm(config, group.project_id)
        followers = storm.publish(diagnosis_id, result)
        storm.release(diagnosis_id)
        waiting = storm.next_waiting()
    except Exception:
        logger.warning("autodiag.storm.redis-unavailable", exc_info=True)
        return
    for follower in followers:
        _share(follower, result, config)
    if waiting:
        _later(start_diagnosis, waiting)


def _share(follower: Dict[str, Any], result: Dict[str, Any], config) -> None:
    """Writes the leader's note on a follower issue, marked as shared."""
    try:
        group = Group.objects.get(id=follower["group_id"])
    except Group.DoesNotExist:
        return
    text = diagnosis.shared_note(result["text"], result["short_id"], result["url"], config.coalesce_window)
    _note(group, diagnosis.diagnosis_id(follower["group_id"], follower["event_id"]), text, config,
          "shared-" + result["outcome"], follower.get("queued_at"))


@instrumented_task(name="sentry_autodiag.tasks.start_diagnosis", queue=QUEUE, bind=True,
                   soft_time_limit=60, time_limit=75, acks_late=True)
def start_diagnosis(self, project_id: int, group_id: int, event_id: str, node: Optional[str] = None,
                    rejection: Optional[Dict[str, str]] = None, since: Optional[str] = None,
                    attempt: int = 1, queued_at: Optional[float] = None, lead: bool = False) -> None:
    """Joins or leads the node's diagnosis, waits for a slot, starts the PE job.

    `lead` is set once this issue is the node's leader (retries, waiting-queue restarts).
    """
    try:
        group = Group.objects.get(id=group_id, project_id=project_id)
    except Group.DoesNotExist:
        return  # the issue was deleted meanwhile
    diagnosis_id = diagnosis.diagnosis_id(group_id, event_id)
    if attempt == 1 and not lead and not claim_issue(group_id, event_id):
        logger.info("autodiag.skipped.already-diagnosed", extra={"group_id": group_id, "event_id": event_id})
        return
    config = load_settings(plugins.get("autodiag"), group.project)
    if rejection:
        metrics.incr("autodiag.node.rejected", tags={"reason": rejection["code"]})
        ctx = _context(config, "(none)")
        text = diagnosis.note_for_rejection(ctx, NodeRejected(rejection["code"], rejection["message"]))
        return _note(group, diagnosis_id, text, config, "rejected-" + rejection["code"], queued_at)
    ctx = _context(config, node)
    kwargs = dict(project_id=project_id, group_id=group_id, event_id=event_id, node=node, since=since,
                  queued_at=queued_at, lead=True)

    if not lead:
        try:
            joined = _storm(config, project_id).join(node, diagnosis_id, {
                "group_id": group_id, "event_id": event_id, "queued_at": queued_at})
        except Exception:
            logger.warning("autodiag.storm.redis-unavailable", exc_info=True)
            joined = Join("solo", diagnosis_id)
        if joined.role == "follow":
            metrics.incr("autodiag.issue.coalesced")
            logger.info("autodiag.coalesced", extra={"group_id": group_id, "leader": joined.claim})
            return  # the leader writes this issue's note when its diagnosis ends
        if joined.role == "shared":
            metrics.incr("autodiag.issue.coalesced")
            return _share({"group_id": group_id, "event_id": event_id, "queued_at": queued_at}, joined.result, config)
        if joined.role == "solo":
            return _start_job(self, group, config, ctx, diagnosis_id, kwargs, attempt, lead=False)

    try:
        storm = _storm(config, project_id)
        has_slot = storm.acquire(diagnosis_id, hold=config.job_timeout + DEADLINE_GRACE + 60)
        if not has_slot:
            if storm.wait(kwargs, front=lead):
                metrics.incr("autodiag.storm.queued")
                logger.info("autodiag.storm.waiting", extra={"group_id": group_id, "waiting": storm.waiting()})
                if not self.request.is_eager:  # safety net if no finishing job drains the queue
                    _later(drain_waiting, {"project_id": project_id}, config.job_timeout + DEADLINE_GRACE + 60)
                return
            text = diagnosis.note_for_storm_limit(ctx, config.max_running_jobs, config.max_waiting)
            return _finish(group, diagnosis_id, text, config, "storm-limit", queued_at)
    except Exception:
        logger.warning("autodiag.storm.redis-unavailable", exc_info=True)
    return _start_job(self, group, config, ctx, diagnosis_id, kwargs, attempt, lead=True)


def _start_job(task, group, config, ctx, diagnosis_id, kwargs, attempt, lead):
    node, since, queued_at = kwargs["node"], kwargs["since"], kwargs["queued_at"]
    job = _recorded_job(diagnosis_id)  # a redelivered task resumes the job it already started
    if job is None:
        params: Dict[str, Any] = {}
        if config.task == "diagnostics::collect":  # other tasks declare other parameters
            params["log_lines"] = config.log_lines
            if config.log_path:
                params["log_path"] = config.log_path
            if since:
                params["since"] = since
        try:
            with _client(config) as client:
                job = client.run_task(
                    config.task, params, environment=config.environment, timeout=config.job_timeout,
                    description="Sentry issue %s: %s" % (group.qualified_short_id, group.title[:120]),
                    userdata={"sentry_issue_id": group.id, "sentry_event_id": kwargs["event_id"],
                              "sentry_project": group.project.slug},
                    **scope_for(node, config.pql_scope))
        except oc.OrchestratorError as exc:
            if exc.retryable and attempt < diagnosis.START_RETRIES:
                delay = diagnosis.START_BACKOFF * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)
                logger.info("autodiag.start.retry", extra={"group_id": group.id, "attempt": attempt,
                                                           "error": exc.reason})
                if task.request.is_eager:
                    time.sleep(min(delay, 0.2))  # test mode: keep the suite fast, order intact
                return _later(start_diagnosis, dict(kwargs, attempt=attempt + 1, lead=lead), delay)
            return _finish(group, diagnosis_id, diagnosis.note_for_error(ctx, exc, attempts=attempt), config,
                           "error-" + exc.reason, queued_at, lead)
        except NodeRejected as exc:
            return _finish(group, diagnosis_id, diagnosis.note_for_rejection(ctx, exc), config, "rejected",
                           queued_at, lead)
        _remember_job(diagnosis_id, job)
        metrics.incr("autodiag.job.started")
    logger.info("autodiag.job.started", extra={"group_id": group.id, "job": job, "node": node})
    poll_kwargs = dict(project_id=group.project_id, group_id=group.id, event_id=kwargs["event_id"], node=node,
                       job=job, started=time.time(), deadline=time.time() + config.job_timeout + DEADLINE_GRACE,
                       interval=diagnosis.next_poll_interval(0, None), queued_at=queued_at, lead=lead)
    if task.request.is_eager:
        return poll_job(**poll_kwargs)
    _later(poll_job, poll_kwargs, poll_kwargs["interval"])


@instrumented_task(name="sentry_autodiag.tasks.poll_job", queue=QUEUE, bind=True,
                   soft_time_limit=30, time_limit=45, acks_late=True)
def poll_job(self, project_id: int, group_id: int, event_id: str, node: str, job: str, started: float,
             deadline: float, interval: Optional[float], failures: int = 0, polls: int = 0,
             queued_at: Optional[float] = None, lead: bool = True) -> None:
    """One look at the job; writes the notes when it is done, else schedules the next look."""
    try:
        group = Group.objects.get(id=group_id, project_id=project_id)
    except Group.DoesNotExist:
        return
    config = load_settings(plugins.get("autodiag"), group.project)
    diagnosis_id = diagnosis.diagnosis_id(group_id, event_id)
    ctx = _context(config, node, job)

    def finish(text, outcome):
        return _finish(group, diagnosis_id, text, config, outcome, queued_at, lead)

    while True:
        if self.request.is_eager and interval:
            time.sleep(interval)
        polls += 1
        try:
            with _client(config) as client:
                state = client.job(job)
                if state.done:
                    results = [n for n in client.job_nodes(job) if n.name == node]
                    metrics.incr("autodiag.job.finished", tags={"state": state.state})
                    metrics.timing("autodiag.job.duration", time.time() - started)
                    logger.info("autodiag.job.done", extra={"group_id": group_id, "job": job, "polls": polls,
                                                            "state": state.state})
                    if not results:
                        return finish(diagnosis.note_for_missing_node_result(ctx, state.state), "job-" + state.state)
                    return finish(diagnosis.note_for_node(ctx, results[0]), "job-" + results[0].state)
                if time.time() > deadline:
                    stopped = _stop(client, job)
                    return finish(diagnosis.note_for_timeout(ctx, config.job_timeout, stopped), "timeout")
            failures = 0
        except oc.OrchestratorError as exc:
            if not exc.retryable:
                return finish(diagnosis.note_for_error(ctx, exc), "error-" + exc.reason)
            failures += 1
            logger.info("autodiag.poll.retry", extra={"group_id": group_id, "job": job, "error": exc.reason})
            if failures >= diagnosis.MAX_POLL_FAILURES or time.time() > deadline:
                return finish(diagnosis.note_for_error(ctx, exc, attempts=failures), "error-" + exc.reason)
        interval = diagnosis.next_poll_interval(time.time() - started, interval)
        if not self.request.is_eager:
            return _later(poll_job, dict(project_id=project_id, group_id=group_id, event_id=event_id, node=node,
                                         job=job, started=started, deadline=deadline, interval=interval,
                                         failures=failures, polls=polls, queued_at=queued_at, lead=lead), interval)


@instrumented_task(name="sentry_autodiag.tasks.drain_waiting", queue=QUEUE, soft_time_limit=30, time_limit=45)
def drain_waiting(project_id: int) -> None:
    """Safety net: restarts the oldest waiting leader if slots were freed without a finish
    draining the queue (a worker died mid-diagnosis and its slot expired)."""
    try:
        from sentry.models import Project

        config = load_settings(plugins.get("autodiag"), Project.objects.get(id=project_id))
        storm = _storm(config, project_id)
        if storm.running() < config.max_running_jobs:
            waiting = storm.next_waiting()
            if waiting:
                _later(start_diagnosis, waiting)
    except Exception:
        logger.warning("autodiag.storm.drain-failed", exc_info=True)


def _stop(client, job: str) -> bool:
    try:
        client.stop(job, force=True)
        return True
    except oc.OrchestratorError:
        return False
