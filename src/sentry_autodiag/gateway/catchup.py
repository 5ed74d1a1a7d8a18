"""Catch-up: diagnoses for issues whose alert webhook never reached the gateway.

Sentry sends each alert webhook once (no retries for internal integrations), so a gateway
that was down, unreachable or late misses those issues silently. Sentry does keep a record
of every firing: the rule's group history (`RuleFireHistory`, Postgres, in 23.7.1; the
workflow engine's `WorkflowFireHistory` in newer Sentry). A worker-side sweep reads it for
the alert rules whose actions target this integration, over a look-back window, and gives
every fired (issue, event) that the webhook path did not accept, and that carries no note,
the same treatment as a webhook: the event is fetched from Sentry's event API, then the
receiver's own filters, routing, atomic claim and queue, so the flow's storm limits apply
and a webhook racing the sweep for one issue gives one note (one claim). The note says that
the webhook was not received and how late the diagnosis runs (frontend.late_notice).

One sweep at a time across all workers (a Redis lock); each sweep is bounded in pages and
time, follows Link-header pagination, and stops early when Sentry's rate-limit headers say
the budget is spent (the next sweep goes on). Its summary is kept in Redis for `check` and
/metrics.
"""
import calendar
import itertools
import json
import logging
import random
import re
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

from .. import diagnosis, intake
from . import sentry_api, webhook
from .frontend import MARKER, NAMESPACE, NOTE_RECORD_TTL

logger = logging.getLogger("sentry_autodiag.gateway")

LOCK_KEY = NAMESPACE + ":catchup:lock"
LAST_KEY = NAMESPACE + ":catchup:last"
TOTAL_KEY = NAMESPACE + ":catchup:caught-up"
SOURCE_KEY = NAMESPACE + ":catchup:source"
INSTALLATIONS_KEY = NAMESPACE + ":installations"   # installation uuids seen on signed webhooks
PER_PAGE = 100
SWEEP_BUDGET = 120.0       # seconds a sweep may take before it stops (the next one goes on)
PROXY_USER = re.compile(r"\A(?P<slug>[a-z0-9][a-z0-9_-]*?)-(?:[0-9a-f]{32}|[0-9a-f-]{36})\Z")
MAX_SCAN = 2000            # strings looked at in one rule action


class _NoRuleHistory(Exception):
    """The rule group history endpoint is not served (404): newer Sentry's workflow engine."""


class SweepStopped(Exception):
    """The sweep's budget (time, pages or Sentry's rate limit) is spent."""


def late_key(issue_id: Any, event_id: str) -> str:
    """Where the sweep leaves, with the queued step, what the note says about being late."""
    return "%s:late:%s" % (NAMESPACE, diagnosis.diagnosis_id(issue_id, event_id))


def _epoch(value: Any) -> Optional[float]:
    text = intake.iso_utc(value)
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))) if text else None


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))


def alert_from_event(event: Dict[str, Any], organization: str, project: str, issue_id: str, rule: str,
                     rule_settings: Any) -> webhook.Alert:
    """Sentry's event API document as the webhook's Alert (the same fields, read the same
    way; environment, level and server_name are tags there)."""
    tags = intake.tags_from_pairs(event.get("tags"))
    exception = None
    for entry in event.get("entries") or []:
        if isinstance(entry, dict) and entry.get("type") == "exception":
            exception = entry.get("data")
    event_id = str(event.get("eventID") or event.get("id") or "").replace("-", "").lower()
    if not webhook.EVENT_ID.match(event_id):
        raise webhook.WebhookError("the event API answered without a usable event id")
    return webhook.Alert(
        issue_id, event_id, organization, project, webhook._text(tags.get("environment"), 64),
        webhook._text(tags.get("level"), 16), tags.get("server_name"), tags,
        intake.iso_utc(event.get("dateCreated")), webhook._line(event.get("title")) or "",
        webhook._line(rule) or "", rule_settings, webhook._text(intake.exception_type(exception)))


class Sweep:
    """One catch-up pass; `run()` returns its summary (also stored under LAST_KEY)."""

    def __init__(self, config, redis_client, sentry: sentry_api.SentryClient, receiver, metrics=None,
                 clock=time.time):
        self.config = config
        self.redis = redis_client
        self.sentry = sentry
        self.receiver = receiver          # receiver.Receiver: the webhook path's own checks and accept
        self.metrics = metrics
        self.clock = clock
        options = config.gateway
        self.window = options.catchup_window_minutes * 60
        self.max_pages = options.catchup_max_pages
        self.org = config.sentry.organization

    # --- the pass ---------------------------------------------------------------------------

    def run(self) -> Dict[str, Any]:
        lock = self.redis.lock(LOCK_KEY, timeout=SWEEP_BUDGET + 60, blocking=False)
        if not lock.acquire(blocking=False):
            return {"outcome": "skipped", "reason": "another worker is sweeping"}
        started = self.clock()
        self.deadline = time.monotonic() + SWEEP_BUDGET
        self.pages_left = self.max_pages
        summary: Dict[str, Any] = {"started_at": _iso(started), "window_minutes": self.window // 60,
                                   "source": None, "rules": 0, "fired": 0, "caught_up": 0, "already": 0,
                                   "skipped": 0, "errors": [], "outcome": "complete"}
        self.summary = summary
        try:
            self._sweep(started)
        except SweepStopped as exc:
            summary["outcome"] = "partial"
            summary["errors"].append(str(exc))
        except sentry_api.SentryAPIError as exc:
            summary["outcome"] = "failed"
            summary["errors"].append(exc.message[:300])
        except Exception as exc:  # never kill the worker's sweep thread
            logger.exception("autodiag.catchup.failed")
            summary["outcome"] = "failed"
            summary["errors"].append("%s: %s" % (type(exc).__name__, str(exc)[:200]))
        finally:
            summary["duration"] = round(self.clock() - started, 2)
            summary["finished_at"] = _iso(self.clock())
            try:
                self.redis.set(LAST_KEY, json.dumps(summary), ex=7 * 24 * 3600)
            except Exception:
                logger.warning("autodiag.redis-unavailable", exc_info=True)
            try:
                lock.release()
            except Exception:
                pass
        if self.metrics is not None:
            self.metrics.catchup_sweeps.labels(outcome=summary["outcome"]).inc()
        log = logger.info if summary["outcome"] == "complete" else logger.warning
        log("autodiag.catchup.sweep", extra=dict({k: v for k, v in summary.items() if k != "errors"},
                                                 errors="; ".join(summary["errors"])[:1000]))
        return summary

    def _sweep(self, now: float) -> None:
        start, end = now - self.window, now + 60
        ours = self._identifiers()
        if not ours:
            raise sentry_api.BadAnswer("the integration is not known yet: set sentry.integration (its slug) "
                                       "in the configuration")
        source = self._source()
        if source == "rules":
            try:
                for project in self._projects():
                    try:
                        rules = list(self._rules(project, ours))
                    except sentry_api.IssueGone:
                        self.summary["errors"].append("project %s: not found in Sentry" % project)
                        continue
                    for rule in rules:
                        self._history(project, rule, self._rule_history_path(project, rule), start, end)
                self._set_source("rules")
                return
            except _NoRuleHistory:  # no legacy rule history here: the workflow engine's
                logger.info("autodiag.catchup.source: the rule group history is not served; trying workflows")
        self._set_source("workflows")
        for workflow in self._workflows(ours):
            self._history(None, workflow, "/api/0/organizations/%s/workflows/%s/group-history/"
                          % (self.org, workflow["id"]), start, end)

    # --- what to look at ----------------------------------------------------------------------

    def _identifiers(self) -> Set[str]:
        """What names this integration in a rule's action: its slug (`service`), and the
        installation uuids its webhooks carried (`sentryAppInstallationUuid`)."""
        found = set()
        if self.config.sentry.integration:
            found.add(self.config.sentry.integration)
        else:
            user = (self.sentry.whoami().get("user") or {})
            match = PROXY_USER.match(str(user.get("username") or ""))
            if match:  # an integration's token acts as its proxy user, named <slug>-<uuid>
                found.add(match.group("slug"))
        try:
            found.update(v.decode() if isinstance(v, bytes) else v for v in self.redis.smembers(INSTALLATIONS_KEY))
        except Exception:
            logger.warning("autodiag.redis-unavailable", exc_info=True)
        return found

    def _source(self) -> str:
        try:
            value = self.redis.get(SOURCE_KEY)
        except Exception:
            value = None
        return (value.decode() if isinstance(value, bytes) else value) or "rules"

    def _set_source(self, source: str) -> None:
        self.summary["source"] = source
        try:
            self.redis.set(SOURCE_KEY, source, ex=24 * 3600)  # asked again daily: Sentry may be upgraded
        except Exception:
            pass

    def _projects(self) -> List[str]:
        slugs = sorted(slug for slug in self.config.projects if slug != "*")
        if "*" in self.config.projects:
            try:
                for page in self._pages("/api/0/organizations/%s/projects/" % self.org,
                                        {"per_page": str(PER_PAGE)}):
                    slugs += [p["slug"] for p in page if isinstance(p, dict) and isinstance(p.get("slug"), str)
                              and webhook.SLUG.match(p["slug"]) and p["slug"] not in slugs]
            except sentry_api.TokenRefused:  # listing needs Organization: Read; the named projects still count
                self.summary["errors"].append("projects for *: the token may not list the organization's "
                                              "projects (Organization: Read); only the named ones were swept")
        return sorted(slugs)

    def _rules(self, project: str, ours: Set[str]) -> Iterator[Dict[str, Any]]:
        for page in self._pages("/api/0/projects/%s/%s/rules/" % (self.org, project), {"per_page": str(PER_PAGE)}):
            for rule in page:
                action = self._our_action(rule, ours) if isinstance(rule, dict) else None
                if action is not None and str(rule.get("id", "")).isdigit():
                    self.summary["rules"] += 1
                    yield dict(rule, _action=action)

    def _workflows(self, ours: Set[str]) -> Iterator[Dict[str, Any]]:
        for page in self._pages("/api/0/organizations/%s/workflows/" % self.org, {"per_page": str(PER_PAGE)}):
            for workflow in page:
                action = self._our_action(workflow, ours) if isinstance(workflow, dict) else None
                if action is not None and str(workflow.get("id", "")).isdigit():
                    self.summary["rules"] += 1
                    yield dict(workflow, _action=action)

    @staticmethod
    def _our_action(rule: Dict[str, Any], ours: Set[str]) -> Optional[Dict[str, Any]]:
        """The rule's (or workflow's) action that targets this integration, if any."""
        actions = list(rule.get("actions") or [])
        for group in rule.get("actionFilters") or []:   # the workflow engine's shape
            if isinstance(group, dict):
                actions += list(group.get("actions") or [])
        for action in actions:
            if isinstance(action, dict) and _strings(action) & ours:
                return action
        return None

    def _rule_history_path(self, project: str, rule: Dict[str, Any]) -> str:
        return "/api/0/projects/%s/%s/rules/%s/group-history/" % (self.org, project, rule["id"])

    def _history(self, project: Optional[str], rule: Dict[str, Any], path: str, start: float, end: float) -> None:
        params = {"start": _iso(start), "end": _iso(end), "per_page": str(PER_PAGE)}
        pages = self._pages(path, params)
        try:
            first = next(pages, [])
        except sentry_api.IssueGone:
            if project is None:
                raise
            raise _NoRuleHistory()
        for page in itertools.chain([first], pages):
            for row in page:
                if isinstance(row, dict):
                    self.summary["fired"] += 1
                    try:
                        self._consider(project, rule, row)
                    except sentry_api.TokenRefused:
                        raise  # every other row would be refused too
                    except sentry_api.SentryAPIError as exc:  # one unreadable event: the others still count
                        self.summary["outcome"] = "partial"
                        self.summary["errors"].append("issue %s: %s" % (
                            str((row.get("group") or {}).get("id") if isinstance(row.get("group"), dict) else "?")[:20],
                            exc.message[:200]))

    def _pages(self, path: str, params: Dict[str, str]) -> Iterator[List[Any]]:
        for items, limit in self.sentry.pages(path, params, max_pages=self.max_pages):
            self.pages_left -= 1
            yield items
            if limit.exhausted:
                raise SweepStopped("Sentry's rate limit is spent until %s" % (
                    _iso(limit.reset) if limit.reset else "later"))
            if self.pages_left <= 0:
                raise SweepStopped("the sweep read its %d pages" % self.max_pages)
            if time.monotonic() > self.deadline:
                raise SweepStopped("the sweep ran %d s" % SWEEP_BUDGET)

    # --- one fired issue ------------------------------------------------------------------------

    def _consider(self, project: Optional[str], rule: Dict[str, Any], row: Dict[str, Any]) -> None:
        group = row.get("group") if isinstance(row.get("group"), dict) else {}
        issue_id, event_id = str(group.get("id") or ""), str(row.get("eventId") or "").replace("-", "").lower()
        if not webhook.ISSUE_ID.match(issue_id) or not webhook.EVENT_ID.match(event_id):
            self.summary["skipped"] += 1
            return
        project = project or ((group.get("project") or {}).get("slug") if isinstance(group.get("project"), dict)
                              else None)
        if not isinstance(project, str) or not webhook.SLUG.match(project):
            self.summary["skipped"] += 1
            return
        if self._known(issue_id, event_id):
            self.summary["already"] += 1
            return
        event = self.sentry.get("/api/0/projects/%s/%s/events/%s/" % (self.org, project, event_id),
                                {"group_id": issue_id})
        action = rule.get("_action") or {}
        alert = alert_from_event(event, self.org, project, issue_id, str(rule.get("name") or ""),
                                 action.get("settings") if isinstance(action.get("settings"), list) else None)
        fired = _epoch(row.get("lastTriggered"))
        late = {"fired_at": fired, "queued_at": self.clock(), "rule": alert.rule}
        answer = self.receiver.accept_alert(alert, late=late)
        result = answer.body.get("status") or answer.result
        if answer.status == 202:
            self.summary["caught_up"] += 1
            logger.warning("autodiag.catchup.queued: the alert webhook of issue %s was not received", issue_id,
                           extra={"group_id": issue_id, "event_id": event_id, "fired_at": fired,
                                  "late_seconds": round(self.clock() - fired) if fired else None})
            try:
                self.redis.incr(TOTAL_KEY)
            except Exception:
                pass
        elif result == "duplicate":
            self.summary["already"] += 1
        else:  # filtered, not configured, too old …: decided; not fetched again while in the window
            self.summary["skipped"] += 1
            try:
                self.redis.set(self._seen_key(issue_id, event_id), str(result)[:40], ex=int(self.window) + 120)
            except Exception:
                pass
        if self.metrics is not None:
            self.metrics.caught_up.labels(result=str(result)[:40]).inc()

    @staticmethod
    def _seen_key(issue_id: str, event_id: str) -> str:
        return "%s:catchup:seen:%s:%s" % (NAMESPACE, issue_id, event_id)

    def _known(self, issue_id: str, event_id: str) -> bool:
        """Accepted by the webhook path, diagnosed already, or the issue carries our note."""
        claims = ["%s:webhook:%s:%s" % (NAMESPACE, issue_id, event_id), "%s:issue:%s" % (NAMESPACE, issue_id),
                  self._seen_key(issue_id, event_id)]
        if self.redis.exists(*claims):
            return True
        marker = "%s `%s`" % (MARKER, diagnosis.diagnosis_id(issue_id, event_id))
        try:
            texts = sentry_api.comment_texts(self.sentry.comments(issue_id))
        except sentry_api.IssueGone:
            return True  # deleted meanwhile: nothing to diagnose
        return any(marker in text for text in texts)


def _strings(value: Any) -> Set[str]:
    """Every string (and whole number) in a rule action, bounded."""
    found: Set[str] = set()
    stack, seen = [value], 0
    while stack and seen < MAX_SCAN:
        item = stack.pop()
        seen += 1
        if isinstance(item, str):
            found.add(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            found.add(str(item))
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def run_periodically(make_sweep, interval: float, stop: threading.Event) -> threading.Thread:
    """The worker's schedule: a sweep soon after start, then every `interval` seconds (with a
    little jitter, so several workers do not all knock at once; the lock lets one through)."""
    def loop():
        delay = min(5.0, interval)
        while not stop.wait(delay):
            try:
                make_sweep().run()
            except Exception:
                logger.exception("autodiag.catchup.failed")
            delay = interval * random.uniform(0.9, 1.1)
    thread = threading.Thread(target=loop, name="autodiag-catchup", daemon=True)
    thread.start()
    return thread


def last_sweep(redis_client) -> Optional[Dict[str, Any]]:
    raw = redis_client.get(LAST_KEY)
    return json.loads(raw) if raw else None


def caught_up_total(redis_client) -> int:
    return int(redis_client.get(TOTAL_KEY) or 0)
