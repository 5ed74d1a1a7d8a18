"""The diagnosis flow, once, for both front ends (plain Python, no Sentry imports).

A diagnosis runs as short steps that a front end's queue executes: `start` (claim the
issue, coalesce per node, wait for a running slot, start the PE job) and `poll` (one
look at the job; the leader's and the followers' notes when it ends, or the job stopped
at its deadline), plus `drain` (a safety net for the waiting queue). Nothing here blocks
a worker: a step that must wait asks the front end to run the next step later.

What differs between the Sentry plugin and the webhook gateway sits behind `FrontEnd`:
where settings come from, how an issue is looked up, how a note is written exactly
once, how the next step is scheduled, where storm state lives, how metrics are counted.
Step arguments are plain JSON values (ids, strings, numbers): secrets never travel in
queue messages, the worker reads them from the settings.
"""
import hashlib
import json
import logging
import random
import time
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from . import bolt, comment_command, diagnosis, history, promsnapshot, remediation, routing, shared
from . import orchestrator as oc
from .report import NoteContext
from .settings import Settings
from .storm import Join, StormControl
from .targeting import NodeRejected, scope_for

logger = logging.getLogger("sentry_autodiag")

ISSUE_CLAIM_TTL = 24 * 3600    # the longest an issue's claim is kept (settings.rediagnose_after decides)
JOB_RECORD_TTL = 3 * 3600
DEADLINE_GRACE = 30.0          # seconds past the job timeout before the flow stops the job itself
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
MAX_START_RETRY_AFTER = 120.0  # seconds: the longest Retry-After a start retry honours
SETTLE_LOOKS = 3               # extra looks when the job is done but our node's item still runs
NODE_STILL_RUNNING = frozenset({"new", "ready", "running", "stopping"})
EAGER_RETRY_SLEEP = 0.2        # eager (test) mode: a start retry waits at most this long in place
METRICS_GRACE = 5.0            # seconds past the snapshot's budget before the note gives up waiting for it

STEPS = ("start", "poll", "drain", "share", "remediate", "request")
REMEDIATION_JOB_TIMEOUT = 420  # seconds PE gives a remediation job (restart_service: up to 300 s + settle)
REMEDIATION_WAIT = 90.0        # how long the remediate step follows its job before the note says "still running"
REMEDIATION_POLL = 1.0
SHARE_RETRY = 30.0             # seconds before a follower's note that could not be written is tried again


class IssueRef(NamedTuple):
    """What the flow and the notes need to know of an issue, whatever the front end."""
    project: Any              # the front end's project key (plugin: project id; gateway: project slug)
    id: Any                   # the issue id (plugin: int; gateway: str, as Sentry's webhook sends it)
    short_id: str             # e.g. CHECKOUT-1F
    title: str
    url: str                  # the issue's web URL, for the followers' "shared" link
    project_slug: str = ""


class FrontEnd:
    """The ports a front end implements for the flow (see plugin_frontend, gateway.frontend)."""

    #: prefix of every Redis key of this front end, so two front ends never share state
    namespace = "autodiag"

    def settings(self, project: Any) -> Settings:
        raise NotImplementedError

    def issue(self, project: Any, issue_id: Any) -> Optional[IssueRef]:
        """The issue, or None when it no longer exists (deleted meanwhile)."""
        raise NotImplementedError

    def write_note(self, issue: IssueRef, diagnosis_id: str, text: str, settings: Settings) -> bool:
        """Writes the note unless this diagnosis already has one; True when written."""
        raise NotImplementedError

    def later(self, step: str, kwargs: Dict[str, Any], countdown: float = 0) -> None:
        """Runs flow step `step` ("start", "poll" or "drain") with `kwargs` after `countdown` s."""
        raise NotImplementedError

    def redis(self):
        """The Redis client for claims, job records and storm state (errors → degraded mode)."""
        raise NotImplementedError

    def incr(self, name: str, tags: Optional[Dict[str, str]] = None) -> None:
        pass

    def timing(self, name: str, seconds: float, tags: Optional[Dict[str, str]] = None) -> None:
        pass

    def job_description(self, issue: IssueRef) -> str:
        return "Sentry issue %s: %s" % (issue.short_id, issue.title[:120])

    def job_userdata(self, issue: IssueRef, event_id: str) -> Dict[str, Any]:
        return {"sentry_issue_id": issue.id, "sentry_event_id": event_id, "sentry_project": issue.project_slug}


class Flow:
    """The steps of one diagnosis, driven by a front end.

    `eager` is the test mode of a queue that runs scheduled steps at once (Sentry's
    TaskRunner, Celery's always-eager): there, polls loop in place instead of recursing.
    """

    def __init__(self, frontend: FrontEnd, eager: bool = False):
        self.fe = frontend
        self.eager = eager

    # --- state in Redis ---------------------------------------------------------------

    def _key(self, *parts) -> str:
        return ":".join([self.fe.namespace] + [str(p) for p in parts])

    def claim_issue(self, issue_id: Any, event_id: str, interval: float = ISSUE_CLAIM_TTL) -> bool:
        """True for the first event of an issue, again for that same event (a redelivered
        step), and for a later event once the last diagnosis is `interval` seconds old (a
        regression, a repeated alert); other events of the issue start no more diagnoses."""
        try:
            return bool(self.fe.redis().eval(_CLAIM, 1, self._key("issue", issue_id), event_id, time.time(),
                                              int(interval), max(ISSUE_CLAIM_TTL, int(interval))))
        except Exception:
            logger.warning("autodiag.redis-unavailable", exc_info=True)
            return True

    def history(self) -> history.History:
        return history.History(self.fe.redis(), self._key("history"))

    def _remember_job(self, diagnosis_id: str, job: str) -> None:
        try:
            self.fe.redis().set(self._key("job", diagnosis_id), job, ex=JOB_RECORD_TTL)
        except Exception:
            logger.warning("autodiag.redis-unavailable", exc_info=True)

    def _recorded_job(self, diagnosis_id: str) -> Optional[str]:
        try:
            return _text(self.fe.redis().get(self._key("job", diagnosis_id)))
        except Exception:
            return None

    def storm(self, settings: Settings, project: Any) -> StormControl:
        return StormControl(self.fe.redis(), project, window=settings.coalesce_window * 60,
                            max_running=settings.max_running_jobs, max_waiting=settings.max_waiting,
                            prefix=self._key("storm"))

    @staticmethod
    def client(settings: Settings) -> oc.OrchestratorClient:
        if settings.runner == "bolt":  # the same interface over `bolt task run` (bolt.py)
            return bolt.client_for(settings)  # type: ignore[return-value]
        return oc.OrchestratorClient(settings.url, settings.token, settings.ca_cert,
                                     puppetdb_url=settings.puppetdb_url or None,
                                     connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)

    # --- notes ------------------------------------------------------------------------

    def _note(self, issue: IssueRef, diagnosis_id: str, text: str, settings: Settings, outcome: str,
              queued_at: Optional[float]) -> None:
        written = self.fe.write_note(issue, diagnosis_id, text, settings)
        if written and queued_at:
            self.fe.timing("autodiag.note.latency", time.time() - queued_at)
        self.fe.incr("autodiag.diagnosis.outcome", tags={"outcome": outcome})
        logger.info("autodiag.note", extra={"group_id": issue.id, "outcome": outcome, "written": written})

    def _finish(self, issue: IssueRef, diagnosis_id: str, text: str, settings: Settings, outcome: str,
                queued_at: Optional[float] = None, lead: bool = True,
                remedy: Optional[Dict[str, Any]] = None, snapshot: Optional[Dict[str, Any]] = None,
                head: str = "") -> None:
        """The leader's end: its own note, the same note for every follower, then the next
        waiting leader gets the freed slot. `remedy`: the remediate step's arguments, when
        remediation rules held for the event (followers never remediate). `head` opens this
        issue's own note only (who asked, the changes since its last diagnosis)."""
        self._note(issue, diagnosis_id, head + text, settings, outcome, queued_at)
        if remedy:
            self.fe.later("remediate", remedy)
        if outcome.startswith("error-") or outcome in ("timeout", "storm-limit"):
            self.fe.incr("autodiag.diagnosis.failed", tags={"reason": outcome})
        if not lead:
            return
        result = {"text": text, "outcome": outcome, "group_id": issue.id, "short_id": issue.short_id,
                  "url": issue.url}
        result.update(snapshot or {})  # when and for which event time the node was looked at
        try:
            storm = self.storm(settings, issue.project)
            followers = storm.publish(diagnosis_id, result)
            storm.release(diagnosis_id)
            waiting = storm.next_waiting()
        except Exception:
            logger.warning("autodiag.storm.redis-unavailable", exc_info=True)
            return
        for follower in followers:
            try:
                self._share(issue.project, follower, result, settings)
            except Exception:  # one follower's failed note must not cost the others theirs
                logger.warning("autodiag.share.retry", exc_info=True, extra={"group_id": follower.get("group_id")})
                self.fe.later("share", {"project": issue.project, "follower": follower, "result": result},
                              SHARE_RETRY)
        if waiting:
            self.fe.later("start", _upgrade(waiting))

    def _share(self, project: Any, follower: Dict[str, Any], result: Dict[str, Any], settings: Settings) -> None:
        """Writes the leader's note on a follower issue, marked as shared."""
        issue = self.fe.issue(project, follower["group_id"])
        if issue is None:
            return
        if follower.get("node") and shared.is_stale(result, follower.get("since"), settings.share_max_age):
            # the snapshot is older than this event by more than the setting: a fresh job, same storm limits
            self.fe.incr("autodiag.share.stale")
            fresh = {k: follower[k] for k in ("event_id", "node", "since", "queued_at", "route", "overrides")
                     if follower.get(k) is not None}
            return self.fe.later("start", dict(fresh, project=project, issue=follower["group_id"], lead=True))
        text = diagnosis.shared_note(result["text"], result["short_id"], result["url"], settings.coalesce_window,
                                     age=shared.age_line(result, follower.get("since")))
        self._note(issue, diagnosis.diagnosis_id(issue.id, follower["event_id"]), text, settings,
                   "shared-" + result["outcome"], follower.get("queued_at"))

    # --- the metrics snapshot (promsnapshot), taken while the job runs ---------------------

    def _start_snapshot(self, settings: Settings, diagnosis_id: str, node: str, since: Optional[str]) -> None:
        """Starts the Prometheus queries beside the job (a thread); the result waits in Redis
        under the diagnosis id for the step that writes the note, whichever worker runs it."""
        if not settings.metrics_url:
            return
        key = self._key("metrics", diagnosis_id)
        until = time.time() + promsnapshot.BUDGET + METRICS_GRACE
        try:
            if not self.fe.redis().set(key, json.dumps({"pending_until": until}), nx=True, ex=JOB_RECORD_TTL):
                return  # a redelivered step: the snapshot is already under way or done
        except Exception:
            logger.warning("autodiag.redis-unavailable", exc_info=True)
            return

        def store(snapshot: Dict[str, Any]) -> None:
            self.fe.redis().set(key, json.dumps(snapshot), ex=JOB_RECORD_TTL)

        promsnapshot.start_in_background(settings, node, promsnapshot.event_seconds(since), store)

    def _snapshot_state(self, settings: Settings, diagnosis_id: str) -> Tuple[bool, Optional[Dict[str, Any]]]:
        """(still pending, snapshot or None)."""
        if not settings.metrics_url:
            return False, None
        try:
            raw = self.fe.redis().get(self._key("metrics", diagnosis_id))
        except Exception:
            return False, promsnapshot.failure("the snapshot could not be read back (Redis unavailable)")
        if raw is None:  # metrics turned on while the job ran, or Redis lost the key
            return False, promsnapshot.failure("no snapshot was found for this diagnosis")
        try:
            data = json.loads(_text(raw))
        except ValueError:
            return False, None
        if isinstance(data, dict) and "pending_until" in data:
            if time.time() < float(data["pending_until"]):
                return True, None
            return False, promsnapshot.failure("the snapshot did not come back within %g s" % promsnapshot.BUDGET)
        return False, data if isinstance(data, dict) else None

    def _snapshot_pending(self, settings: Settings, diagnosis_id: str) -> bool:
        return self._snapshot_state(settings, diagnosis_id)[0]

    def _snapshot(self, settings: Settings, diagnosis_id: str) -> Optional[Dict[str, Any]]:
        return self._snapshot_state(settings, diagnosis_id)[1]

    # --- steps --------------------------------------------------------------------------

    def start(self, project: Any, issue: Any, event_id: str, node: Optional[str] = None,
              rejection: Optional[Dict[str, str]] = None, since: Optional[str] = None, attempt: int = 1,
              queued_at: Optional[float] = None, lead: bool = False, route: Optional[Dict[str, Any]] = None,
              overrides: Optional[Dict[str, Any]] = None, remedy: Optional[List[Dict[str, Any]]] = None,
              requested: Optional[Dict[str, str]] = None) -> None:
        """Joins or leads the node's diagnosis, waits for a slot, starts the PE job.

        `lead` is set once this issue is the node's leader (retries, waiting-queue restarts);
        `route` names the routing rule intake chose (routing.Rule.ref()), if any; `overrides`
        are settings the alert rule itself set (the gateway's per-rule form), already clean.
        """
        ref = self.fe.issue(project, issue)
        if ref is None:
            return  # the issue was deleted meanwhile
        diagnosis_id = diagnosis.diagnosis_id(ref.id, event_id)
        settings = self._settings(project, overrides)
        if attempt == 1 and not lead and not requested and not self.claim_issue(
                ref.id, event_id, settings.rediagnose_after * 60):
            logger.info("autodiag.skipped.already-diagnosed", extra={"group_id": ref.id, "event_id": event_id})
            return
        if rejection:
            self.fe.incr("autodiag.node.rejected", tags={"reason": rejection["code"]})
            ctx = _context(settings, "(none)", route=route)
            text = diagnosis.note_for_rejection(ctx, NodeRejected(rejection["code"], rejection["message"]))
            return self._note(ref, diagnosis_id, text, settings, "rejected-" + rejection["code"], queued_at)
        ctx = _context(settings, node, route=route)
        step = dict(project=project, issue=issue, event_id=event_id, node=node, since=since,
                    queued_at=queued_at, lead=True)
        if route is not None:
            step["route"] = route
        if overrides:
            step["overrides"] = overrides
        if remedy:
            step["remedy"] = remedy
        if requested:  # a /autodiag comment: a fresh job of its own, never another issue's shared one
            step["requested"] = requested

        if not lead and not requested:
            try:
                joined = self.storm(settings, project).join(_coalescing_key(node, route, overrides), diagnosis_id, {
                    "group_id": ref.id, "event_id": event_id, "queued_at": queued_at, "since": since, "node": node,
                    "route": route, "overrides": overrides})
            except Exception:
                logger.warning("autodiag.storm.redis-unavailable", exc_info=True)
                joined = Join("solo", diagnosis_id)
            if joined.role != "lead" and joined.claim.startswith("%s:" % ref.id):
                joined = Join("own", diagnosis_id)  # this issue's own earlier diagnosis: a regression leads anew
            if joined.role == "follow":
                self.fe.incr("autodiag.issue.coalesced")
                logger.info("autodiag.coalesced", extra={"group_id": ref.id, "leader": joined.claim})
                return  # the leader writes this issue's note when its diagnosis ends
            if joined.role == "shared":
                self.fe.incr("autodiag.issue.coalesced")
                return self._share(project, {"group_id": ref.id, "event_id": event_id, "queued_at": queued_at,
                                             "since": since, "node": node, "route": route, "overrides": overrides},
                                   joined.result, settings)
            if joined.role == "solo":
                return self._start_job(ref, settings, ctx, diagnosis_id, step, attempt, lead=False)

        try:
            storm = self.storm(settings, project)
            hold = settings.job_timeout + DEADLINE_GRACE + 60
            if not storm.acquire(diagnosis_id, hold=hold):
                if storm.wait(step, front=lead):
                    self.fe.incr("autodiag.storm.queued")
                    logger.info("autodiag.storm.waiting", extra={"group_id": ref.id, "waiting": storm.waiting()})
                    if not self.eager:  # safety net if no finishing job drains the queue
                        self.fe.later("drain", {"project": project}, hold)
                    if requested and not lead:
                        self.fe.write_note(ref, diagnosis_id + ":queued", comment_command.accepted(node, None),
                                           settings)
                    return
                text = diagnosis.note_for_storm_limit(ctx, settings.max_running_jobs, settings.max_waiting)
                return self._finish(ref, diagnosis_id, text, settings, "storm-limit", queued_at,
                                    head=_asked(requested))
        except Exception:
            logger.warning("autodiag.storm.redis-unavailable", exc_info=True)
        return self._start_job(ref, settings, ctx, diagnosis_id, step, attempt, lead=True)

    def _start_job(self, ref: IssueRef, settings: Settings, ctx: NoteContext, diagnosis_id: str,
                   step: Dict[str, Any], attempt: int, lead: bool) -> None:
        node, since, queued_at = step["node"], step["since"], step["queued_at"]
        rule = routing.find(settings.routing_rules, step.get("route"))
        job = self._recorded_job(diagnosis_id)  # a redelivered step resumes the job it already started
        if job is None:
            try:
                with self.client(settings) as client:
                    job = client.run_task(
                        routing.task_for(rule, settings.task), task_params(settings, since, rule),
                        environment=settings.environment,
                        timeout=settings.job_timeout, description=self.fe.job_description(ref),
                        userdata=self.fe.job_userdata(ref, step["event_id"]),
                        **scope_for(node, settings.pql_scope))
            except oc.OrchestratorError as exc:
                if exc.retryable and attempt < diagnosis.START_RETRIES:
                    delay = diagnosis.START_BACKOFF * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)
                    delay = max(delay, min(_retry_after(exc) or 0, MAX_START_RETRY_AFTER))
                    logger.info("autodiag.start.retry", extra={"group_id": ref.id, "attempt": attempt,
                                                               "error": exc.reason})
                    if self.eager:
                        time.sleep(min(delay, EAGER_RETRY_SLEEP))  # test mode: keep the suite fast, order intact
                    return self.fe.later("start", dict(step, attempt=attempt + 1, lead=lead), delay)
                return self._finish(ref, diagnosis_id, diagnosis.note_for_error(ctx, exc, attempts=attempt),
                                    settings, "error-" + exc.reason, queued_at, lead, head=_asked(step))
            except NodeRejected as exc:
                return self._finish(ref, diagnosis_id, diagnosis.note_for_rejection(ctx, exc), settings,
                                    "rejected", queued_at, lead, head=_asked(step))
            except Exception as exc:  # never a diagnosis without a note: the error in words
                logger.exception("autodiag.internal-error", extra={"group_id": ref.id, "step": "start"})
                return self._finish(ref, diagnosis_id, diagnosis.note_for_unexpected(ctx, exc), settings,
                                    "error-internal", queued_at, lead, head=_asked(step))
            self._remember_job(diagnosis_id, job)
            self.fe.incr("autodiag.job.started")
            self._start_snapshot(settings, diagnosis_id, node, since)
            self._started(ref, diagnosis_id, node, job, step, settings)
        logger.info("autodiag.job.started", extra={"group_id": ref.id, "job": job, "node": node})
        now = time.time()
        poll = dict(project=step["project"], issue=step["issue"], event_id=step["event_id"], node=node, job=job,
                    started=now, deadline=now + settings.job_timeout + DEADLINE_GRACE,
                    interval=diagnosis.next_poll_interval(0, None), queued_at=queued_at, lead=lead)
        if step.get("route") is not None:
            poll["route"] = step["route"]
        if step.get("overrides"):
            poll["overrides"] = step["overrides"]
        if step.get("remedy"):
            poll["remedy"] = step["remedy"]
        if step.get("requested"):
            poll["requested"] = step["requested"]
        if self.eager:
            return self.poll(**poll)
        self.fe.later("poll", poll, poll["interval"])

    def poll(self, project: Any, issue: Any, event_id: str, node: str, job: str, started: float,
             deadline: float, interval: Optional[float], failures: int = 0, polls: int = 0,
             queued_at: Optional[float] = None, lead: bool = True, route: Optional[Dict[str, Any]] = None,
             overrides: Optional[Dict[str, Any]] = None, remedy: Optional[List[Dict[str, Any]]] = None,
             settle: int = 0, requested: Optional[Dict[str, str]] = None) -> None:
        """One look at the job; writes the notes when it is done, else schedules the next look.

        `settle` counts the looks taken because the job was done while our node's own item
        still said it was running (PE updates them apart); after SETTLE_LOOKS the note is written."""
        ref = self.fe.issue(project, issue)
        if ref is None:
            return
        settings = self._settings(project, overrides)
        diagnosis_id = diagnosis.diagnosis_id(ref.id, event_id)
        ctx = _context(settings, node, job, route)

        def finish(text, outcome, result=None):
            after = dict(project=project, issue=issue, event_id=event_id, node=node, remedy=remedy, outcome=outcome,
                         findings=remediation.carried_findings(result.report if result else None),
                         **({"overrides": overrides} if overrides else {})) if remedy else None
            head = _asked(requested) + self._changes(ref, node, result)
            return self._finish(ref, diagnosis_id, text, settings, outcome, queued_at, lead, after,
                                snapshot=shared.snapshot_of(result.report if result else None), head=head)

        while True:
            if self.eager and interval:
                time.sleep(interval)
            polls += 1
            asked = None  # seconds a Retry-After asked for
            try:
                with self.client(settings) as client:
                    state = client.job(job)
                    if state.done and self._snapshot_pending(settings, diagnosis_id):
                        pass  # the job beat the Prometheus snapshot: look again shortly (bounded by its budget)
                    elif state.done:
                        ctx = ctx._replace(metrics=self._snapshot(settings, diagnosis_id))
                        result = client.job_node(job, node)  # only our node's item decides
                        if (result is not None and result.state in NODE_STILL_RUNNING and state.state != "stopped"
                                and settle < SETTLE_LOOKS and time.time() <= deadline):
                            settle += 1
                            logger.info("autodiag.job.node-settling", extra={"group_id": ref.id, "job": job,
                                                                              "node_state": result.state})
                            raise _LookAgain()
                        self.fe.incr("autodiag.job.finished", tags={"state": state.state})
                        self.fe.timing("autodiag.job.duration", time.time() - started)
                        logger.info("autodiag.job.done", extra={"group_id": ref.id, "job": job, "polls": polls,
                                                                "state": state.state})
                        if result is None:
                            return finish(diagnosis.note_for_missing_node_result(ctx, state.state),
                                          "job-" + state.state)
                        # PE answers an unknown certname like a stopped agent: PuppetDB tells them apart
                        known = client.node_known(node) if diagnosis.is_not_connected(result) else None
                        return finish(diagnosis.note_for_node(ctx, result, known=known), "job-" + result.state,
                                      result)
                    elif time.time() > deadline:
                        ctx = ctx._replace(metrics=self._snapshot(settings, diagnosis_id))
                        stopped = _stop(client, job)
                        return finish(diagnosis.note_for_timeout(ctx, settings.job_timeout, stopped), "timeout")
                failures = 0
            except _LookAgain:
                failures = 0
            except oc.OrchestratorError as exc:
                if not exc.retryable:
                    return finish(diagnosis.note_for_error(ctx, exc), "error-" + exc.reason)
                failures += 1
                logger.info("autodiag.poll.retry", extra={"group_id": ref.id, "job": job, "error": exc.reason})
                if failures >= diagnosis.MAX_POLL_FAILURES or time.time() > deadline:
                    return finish(diagnosis.note_for_error(ctx, exc, attempts=failures), "error-" + exc.reason)
                asked = _retry_after(exc)
            interval = diagnosis.next_poll_interval(time.time() - started, interval)
            if asked:  # the orchestrator (or its proxy) said when to come back: not before, within the deadline
                asked = min(asked, EAGER_RETRY_SLEEP) if self.eager else asked
                interval = max(interval, min(asked, max(0.0, deadline - time.time())))
            if not self.eager:
                return self.fe.later("poll", self._poll_step(locals()), interval)

    @staticmethod
    def _poll_step(at: Dict[str, Any]) -> Dict[str, Any]:
        """The next poll step's arguments, from poll()'s own variables (optional ones only when set)."""
        step = {k: at[k] for k in ("project", "issue", "event_id", "node", "job", "started", "deadline", "interval",
                                   "failures", "polls", "queued_at", "lead")}
        step.update({k: at[k] for k in ("route",) if at[k] is not None})
        step.update({k: at[k] for k in ("overrides", "remedy", "settle", "requested") if at[k]})
        return step

    def _settings(self, project: Any, overrides: Optional[Dict[str, Any]]) -> Settings:
        """The project's settings, with what the alert rule itself set taking precedence."""
        settings = self.fe.settings(project)
        return settings._replace(**overrides) if overrides else settings

    def share(self, project: Any, follower: Dict[str, Any], result: Dict[str, Any]) -> None:
        """A follower's shared note, again, after writing it failed at the leader's end."""
        self._share(project, follower, result, self.fe.settings(project))

    def drain(self, project: Any) -> None:
        """Safety net: restarts the oldest waiting leader if slots were freed without a finish
        draining the queue (a worker died mid-diagnosis and its slot expired)."""
        try:
            settings = self.fe.settings(project)
            storm = self.storm(settings, project)
            if storm.running() < settings.max_running_jobs:
                waiting = storm.next_waiting()
                if waiting:
                    self.fe.later("start", _upgrade(waiting))
        except Exception:
            logger.warning("autodiag.storm.drain-failed", exc_info=True)

    # --- remediation (remediation.py): one decision per diagnosed issue, after its note -------

    def remediate(self, project: Any, issue: Any, event_id: str, node: str, remedy: List[Dict[str, Any]],
                  outcome: str, findings: Optional[List[Dict[str, Any]]] = None,
                  overrides: Optional[Dict[str, Any]] = None, job: Optional[str] = None,
                  started: Optional[float] = None) -> None:
        """The rule the report's findings satisfy, its guards, the job (remediation token, PE
        noop unless the rule is live) followed for at most REMEDIATION_WAIT, one audit note."""
        ref = self.fe.issue(project, issue)
        if ref is None:
            return
        settings = self._settings(project, overrides)
        diagnosis_id = diagnosis.diagnosis_id(ref.id, event_id)
        rules, changed = remediation.resolve(settings.remediation_rules, remedy)
        succeeded = outcome == "job-finished"
        match = remediation.choose(rules, findings or [], succeeded)

        def decided(tag: str, text: Optional[str], rule: Optional[remediation.Rule] = None, **log) -> None:
            if text:
                self.fe.write_note(ref, diagnosis_id + ":remediation", text, settings)
            self.fe.incr("autodiag.remediation", tags={"outcome": tag})
            logger.info("autodiag.remediation", extra=dict(log, group_id=ref.id, node=node, outcome=tag,
                                                           rule=rule.label() if rule else None, job=job))

        def guard(tag: str, subject: str, detail: Any = "", rule: Optional[remediation.Rule] = None) -> None:
            decided(tag, diagnosis.note_for_remediation_guard(node, subject, remediation.guard_line(tag, detail)),
                    rule)

        if match is None:
            if not succeeded and any(not r.after_failed for r in rules):
                return guard("skipped-failed-diagnosis", ", ".join(r.label() for r in rules) + " applied to this "
                             "event", outcome)
            if changed and not rules:
                return guard("skipped-rule-changed", "a remediation rule applied to this event")
            return decided("no-match", None, findings=[f.get("code") for f in findings or []][:20])
        rule = match.rule
        subject = "%s matched finding %s" % (rule.label(), match.finding.get("code"))
        if not settings.remediation_token:
            return guard("skipped-no-token", subject, rule=rule)
        if job is None:
            try:
                guards = remediation.Guards(self.fe.redis(), self._key("remediation"), project)
                job = guards.recorded_job(diagnosis_id)  # a redelivered step follows the job it started
                if job is None:
                    if not guards.claim_issue(ref.id, diagnosis_id):
                        return guard("skipped-issue-done", subject, rule=rule)
                    taken = guards.take(node, diagnosis_id, settings.remediation_max_per_node,
                                        settings.remediation_max_per_project)
                    if taken != "ok":
                        return guard("skipped-%s-limit" % taken, subject, rule=rule, detail=(
                            settings.remediation_max_per_node if taken == "node"
                            else settings.remediation_max_per_project))
            except Exception:
                logger.warning("autodiag.redis-unavailable", exc_info=True)
                return guard("skipped-redis", subject, rule=rule)
            if job is None:
                try:
                    with self.remediation_client(settings) as client:
                        job = client.run_task(rule.task, rule.task_params(), noop=not rule.live,
                                              environment=settings.environment, timeout=REMEDIATION_JOB_TIMEOUT,
                                              description="Remediation (%s) for %s" % (
                                                  rule.mode, self.fe.job_description(ref)),
                                              userdata=self.fe.job_userdata(ref, event_id),
                                              **scope_for(node, settings.pql_scope))
                except (oc.OrchestratorError, NodeRejected) as exc:
                    reason = getattr(exc, "reason", "rejected")
                    return decided("error-" + reason, diagnosis.note_for_remediation(
                        node, rule, match.finding, "not-started", exc.message, [], error_kind=reason), rule)
                try:
                    guards.remember_job(diagnosis_id, job)
                except Exception:
                    logger.warning("autodiag.redis-unavailable", exc_info=True)
            started = time.time()
            logger.info("autodiag.remediation.started", extra={"group_id": ref.id, "job": job, "node": node,
                                                               "rule": rule.label(), "mode": rule.mode})
        while True:
            try:
                with self.remediation_client(settings) as client:
                    if client.job(job).done:
                        result = remediation.outcome_of(client.job_node(job, node), rule.live)
                        return decided(result.tag, diagnosis.note_for_remediation(
                            node, rule, match.finding, result.status, result.message, result.rows, job,
                            result.error_kind), rule)
            except oc.OrchestratorError as exc:
                if not exc.retryable:
                    return decided("error-" + exc.reason, diagnosis.note_for_remediation(
                        node, rule, match.finding, "pending", "Following the job failed: %s" % exc.message, [],
                        job, exc.reason), rule)
            if time.time() > (started or 0) + REMEDIATION_WAIT:
                return decided("pending", diagnosis.note_for_remediation(
                    node, rule, match.finding, "pending", "The job did not finish within %d s; its result is in "
                    "PE (job %s)." % (REMEDIATION_WAIT, job), [], job), rule)
            if not self.eager:
                return self.fe.later("remediate", dict(
                    project=project, issue=issue, event_id=event_id, node=node, remedy=remedy, outcome=outcome,
                    findings=findings, job=job, started=started, **({"overrides": overrides} if overrides else {})),
                    REMEDIATION_POLL)
            time.sleep(REMEDIATION_POLL / 4)

    @staticmethod
    def remediation_client(settings: Settings) -> oc.OrchestratorClient:
        """The remediation token's client: never the diagnostics token."""
        return oc.OrchestratorClient(settings.url, settings.remediation_token, settings.ca_cert,
                                     connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)

    # --- ask again (issue 22): /autodiag comments, the changes since the last diagnosis ------

    def request(self, project: Any, issue: Any, comment_id: str, node: Optional[str] = None,
                usage: Optional[str] = None, actor: str = "", at: str = "") -> None:
        """A `/autodiag` comment (comment_command): limits, the node, an answer note, then a
        fresh diagnosis through `start` with the routing rule and alert-rule settings of the
        issue's last diagnosis. Only the checked certname of the comment reaches PE."""
        ref = self.fe.issue(project, issue)
        if ref is None:
            return
        settings = self.fe.settings(project)
        event_id = "comment-%s" % comment_command.clean_comment_id(comment_id)
        diagnosis_id = diagnosis.diagnosis_id(ref.id, event_id)
        per_issue, per_project = settings.comment_max_per_issue, settings.comment_max_per_project

        def answer(text: str, outcome: str) -> None:
            self.fe.write_note(ref, diagnosis_id + ":answer", text, settings)
            self.fe.incr("autodiag.request", tags={"outcome": outcome})
            logger.info("autodiag.request", extra={"group_id": ref.id, "outcome": outcome})

        if not per_issue or not per_project:
            return answer(comment_command.refused_off(), "off")
        try:
            last = self.history().last(ref.id) or {}
            limit = comment_command.RateLimit(self.fe.redis(), self._key("asked")).take(
                project, ref.id, diagnosis_id, per_issue, per_project)
        except Exception:  # no limits without Redis: refuse rather than run unlimited jobs
            logger.warning("autodiag.redis-unavailable", exc_info=True)
            return answer(comment_command.refused_node(NodeRejected(
                "redis", "The request could not be counted (Redis unavailable); try again later.")), "redis")
        if limit:
            return answer(comment_command.refused_limit(limit, per_issue, per_project), "limit-" + limit)
        try:
            certname = comment_command.resolve_node(comment_command.Command(node, usage), last.get("node"), settings)
            if node is not None:
                with self.client(settings) as client:
                    if client.node_known(certname) is False:
                        raise NodeRejected("unknown", "PuppetDB holds no active node named %s." % certname)
        except NodeRejected as exc:
            return answer(comment_command.refused_node(exc), "refused-" + exc.code)
        route = last.get("route") if isinstance(last.get("route"), dict) else None
        overrides = last.get("overrides") if isinstance(last.get("overrides"), dict) else None
        self.start(project, issue, event_id, node=certname, queued_at=time.time(), route=route, overrides=overrides,
                   requested={"by": comment_command.actor_name(actor), "at": str(at)[:40]})

    def _started(self, ref: IssueRef, diagnosis_id: str, node: str, job: str, step: Dict[str, Any],
                 settings: Settings) -> None:
        """A job started: the issue's last diagnosis (for a bare /autodiag) and, for a request,
        the answer that names the job."""
        try:
            record = {"node": node, "at": time.time()}
            record.update({k: step[k] for k in ("route", "overrides") if step.get(k)})
            self.history().remember_last(ref.id, record)
            if step.get("requested"):  # a regression alert within the interval is no new diagnosis
                self.claim_issue(ref.id, step["event_id"], 0)
        except Exception:
            logger.warning("autodiag.redis-unavailable", exc_info=True)
        if step.get("requested"):
            self.fe.write_note(ref, diagnosis_id + ":answer", comment_command.accepted(node, job), settings)

    def _changes(self, ref: IssueRef, node: str, result: Optional[oc.NodeResult]) -> str:
        """The changes section against this issue's previous report of the node (empty for the
        first one); the new report's digest replaces the previous one."""
        now = history.digest(result.report) if result is not None else None
        if now is None:
            return ""
        try:
            before = self.history().swap(ref.id, node, now)
        except Exception:
            logger.warning("autodiag.redis-unavailable", exc_info=True)
            return ""
        return history.render(before, now) if before else ""

    def run(self, step: str, kwargs: Dict[str, Any]) -> None:
        """Runs one step by name (what a front end's queue task calls)."""
        if step not in STEPS:
            raise ValueError("unknown flow step %r" % (step,))
        getattr(self, step)(**_upgrade(kwargs))


def task_params(settings: Settings, since: Optional[str], rule: Optional[routing.Rule] = None) -> Dict[str, Any]:
    """The task's parameters come from the settings and the matched rule only; of the event,
    just its time."""
    return routing.params_for(rule, settings.task, settings.log_path, settings.log_lines, since)


def _context(settings: Settings, node_label: str, job: Optional[str] = None,
             route: Optional[Dict[str, Any]] = None) -> NoteContext:
    rule = routing.find(settings.routing_rules, route)
    label = rule.label() if rule is not None else None
    if route is not None and rule is None:
        label = "rule %s, changed since the event: the default settings were used" % (
            routing.ref_label(route),)
    return NoteContext(node=node_label, task=routing.task_for(rule, settings.task),
                       environment=settings.environment, job=job, rule=label)


def _coalescing_key(node: str, route: Optional[Dict[str, Any]],
                    overrides: Optional[Dict[str, Any]] = None) -> str:
    """Issues share a job only when they would run the same one: same node, same rule,
    same per-alert-rule settings."""
    if overrides:
        node = "%s#alert-%s" % (node, hashlib.sha256(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:12])
    if route is None:
        return node
    return "%s#rule-%s" % (node, routing.ref_label(route))


def _asked(requested: Optional[Dict[str, Any]]) -> str:
    """The line naming who asked for a requested diagnosis ("" for an alert's); takes the
    `requested` value or a step holding it."""
    if requested and "requested" in requested:
        requested = requested["requested"]
    if not requested or "by" not in requested:
        return ""
    return comment_command.requested_line(requested.get("by", ""), requested.get("at", ""))


# KEYS: the issue's claim. ARGV: event id, now, interval s, ttl s. 1 = this event may diagnose.
# The value is "<event id> <time>"; an older value without a time counts as old.
_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current then
  local sep = string.find(current, ' ', 1, true)
  local event = sep and string.sub(current, 1, sep - 1) or current
  local at = sep and tonumber(string.sub(current, sep + 1)) or 0
  if event == ARGV[1] then return 1 end
  if tonumber(ARGV[2]) - at < tonumber(ARGV[3]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2], 'EX', ARGV[4])
return 1
"""


class _LookAgain(Exception):
    """Inside poll(): the job is done but our node's item is not yet; take another look."""


def _retry_after(exc: oc.OrchestratorError) -> Optional[float]:
    """The Retry-After seconds an error carried (TransientError), else None."""
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _stop(client: oc.OrchestratorClient, job: str) -> bool:
    try:
        client.stop(job, force=True)
        return True
    except oc.OrchestratorError:
        return False


def _text(value) -> Optional[str]:
    return value.decode() if isinstance(value, bytes) else value


# Step arguments queued by 0.1.0 named the project and issue `project_id` and `group_id`;
# the plugin's Celery tasks keep those names so that messages survive an upgrade.
LEGACY_NAMES = (("project_id", "project"), ("group_id", "issue"))


def _renamed(kwargs: Dict[str, Any], names) -> Dict[str, Any]:
    kwargs = dict(kwargs)
    for old, new in names:
        if old in kwargs:
            kwargs[new] = kwargs.pop(old)
    return kwargs


def _upgrade(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """0.1.0 argument names → the flow's."""
    return _renamed(kwargs, LEGACY_NAMES)


def legacy_kwargs(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The flow's argument names → 0.1.0's (the plugin's task arguments)."""
    return _renamed(kwargs, [(new, old) for old, new in LEGACY_NAMES])
