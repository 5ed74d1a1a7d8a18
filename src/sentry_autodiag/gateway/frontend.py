"""The flow's ports in the gateway: settings from the YAML file, notes as Sentry comments,
steps as Celery messages, state in the gateway's Redis.

A note is written exactly once per diagnosis, even when a worker dies between posting
and recording it: a per-issue Redis lock serializes writers, the issue's own comments
are the record (each note ends with a marker line naming its diagnosis), and Sentry's
"You have already posted that comment" answer to an identical retry counts as done.
"""
import json
import logging
import time
from typing import Any, Callable, Dict, Optional

from ..flow import FrontEnd, IssueRef
from ..report import md_code
from ..settings import Settings
from . import sentry_api
from .config import GatewayConfig

logger = logging.getLogger("sentry_autodiag.gateway")

NAMESPACE = "autodiag-gw"
ISSUE_INFO_TTL = 2 * 24 * 3600
NOTE_RECORD_TTL = 7 * 24 * 3600
MARKER = "sentry-autodiag diagnosis"


class NoteNotWritten(Exception):
    """Sentry could not take the note now (transient); the step is retried later."""


def note_marker(diagnosis_id: str) -> str:
    return "%s %s" % (MARKER, md_code(diagnosis_id, 80))


class GatewayFrontEnd(FrontEnd):
    namespace = NAMESPACE

    def __init__(self, config: GatewayConfig, redis_client, sentry: sentry_api.SentryClient,
                 schedule: Callable[[str, Dict[str, Any], float], None], metrics=None):
        self.config = config
        self._redis = redis_client
        self.sentry = sentry
        self._schedule = schedule
        self.metrics = metrics

    # --- ports ----------------------------------------------------------------------------

    def settings(self, project: Any) -> Settings:
        found = self.config.settings_for(project)
        if found is None:
            raise LookupError("project %r is not configured in %s" % (project, self.config.path))
        return found

    def issue(self, project: Any, issue_id: Any) -> Optional[IssueRef]:
        info: Dict[str, Any] = {}
        try:
            raw = self._redis.get(self._key("issueinfo", issue_id))
            info = json.loads(raw) if raw else {}
        except Exception:
            logger.warning("autodiag.redis-unavailable", exc_info=True)
        return IssueRef(project=project, id=str(issue_id), short_id=info.get("short_id") or "issue %s" % issue_id,
                        title=info.get("title") or "", url=self.issue_url(issue_id), project_slug=str(project))

    def remember_issue(self, issue_id: str, title: str, short_id: Optional[str] = None, pipe=None) -> None:
        """What the webhook told of the issue, for later steps (the job description, shared notes)."""
        (pipe or self._redis).set(self._key("issueinfo", issue_id), json.dumps({"title": title, "short_id": short_id}),
                        ex=ISSUE_INFO_TTL)

    def issue_url(self, issue_id: Any) -> str:
        return "%s/organizations/%s/issues/%s/" % (self.config.sentry.url, self.config.sentry.organization, issue_id)

    def write_note(self, issue: IssueRef, diagnosis_id: str, text: str, settings: Settings) -> bool:
        text = self.late_notice(diagnosis_id) + text
        done, attempted = self._key("note", diagnosis_id), self._key("note-attempt", diagnosis_id)
        lock, locked, retry = None, False, True
        try:
            if self._redis.get(done):
                return False
            lock = self._redis.lock(self._key("notelock", issue.id), timeout=120, blocking_timeout=10)
            locked = lock.acquire()
            # a first attempt posts at once; only after an attempt that may have posted (a worker
            # died, Sentry timed out) are the issue's comments read for the marker first
            retry = not self._redis.set(attempted, "1", nx=True, ex=NOTE_RECORD_TTL)
        except Exception:
            logger.warning("autodiag.redis-unavailable", exc_info=True)
        try:
            written = self._write(issue, diagnosis_id, text, check_first=retry)
            try:
                self._redis.set(done, "1", ex=NOTE_RECORD_TTL)
            except Exception:
                logger.warning("autodiag.redis-unavailable", exc_info=True)
            return written
        finally:
            if locked:
                try:
                    lock.release()
                except Exception:
                    pass

    def late_notice(self, diagnosis_id: str) -> str:
        """For a diagnosis the catch-up sweep started: a first line saying that the alert
        webhook was not received and how late the diagnosis runs ("" otherwise)."""
        try:
            raw = self._redis.get(self._key("late", diagnosis_id))
            late = json.loads(raw) if raw else None
        except Exception:
            return ""
        if not isinstance(late, dict):
            return ""
        fired, found = late.get("fired_at"), late.get("queued_at")
        when = ""
        if isinstance(fired, (int, float)) and isinstance(found, (int, float)):
            when = " The alert fired at %s UTC; this diagnosis started %s after it." % (
                time.strftime("%H:%M:%S", time.gmtime(fired)), _duration(max(0.0, found - fired)))
        return ("> ⏰ **Late diagnosis, caught up**: the alert webhook for this issue was not received by the "
                "gateway; the catch-up sweep found the alert in Sentry's alert history.%s\n\n" % when)

    def _write(self, issue: IssueRef, diagnosis_id: str, text: str, check_first: bool) -> bool:
        marker = note_marker(diagnosis_id)
        try:
            if check_first and any(marker in t for t in sentry_api.comment_texts(self.sentry.comments(issue.id))):
                return False
            outcome = self.sentry.post_comment(issue.id, "%s\n\n---\n%s" % (text, marker))
        except sentry_api.IssueGone:
            logger.info("autodiag.note.issue-gone", extra={"group_id": issue.id, "diagnosis": diagnosis_id})
            self.incr("autodiag.note.dropped", tags={"reason": "issue-gone"})
            return False
        except sentry_api.TokenRefused as exc:
            logger.error("autodiag.sentry-token-refused: %s", exc.message,
                         extra={"group_id": issue.id, "diagnosis": diagnosis_id})
            self.incr("autodiag.note.dropped", tags={"reason": "sentry-token-refused"})
            return False
        except sentry_api.TransientError as exc:
            self.incr("autodiag.note.retry")
            raise NoteNotWritten(exc.message)
        except sentry_api.SentryAPIError as exc:
            logger.error("autodiag.note.refused: %s", exc.message, extra={"group_id": issue.id})
            self.incr("autodiag.note.dropped", tags={"reason": "refused"})
            return False
        return outcome == "posted"

    def later(self, step: str, kwargs: Dict[str, Any], countdown: float = 0) -> None:
        self._schedule(step, kwargs, countdown)

    def redis(self):
        return self._redis

    def incr(self, name: str, tags: Optional[Dict[str, str]] = None) -> None:
        if self.metrics is not None:
            self.metrics.incr(name, tags)

    def timing(self, name: str, seconds: float, tags: Optional[Dict[str, str]] = None) -> None:
        if self.metrics is not None:
            self.metrics.timing(name, seconds, tags)

    def job_userdata(self, issue: IssueRef, event_id: str) -> Dict[str, Any]:
        return {"sentry_issue_id": issue.id, "sentry_event_id": event_id, "sentry_project": issue.project_slug,
                "sentry_organization": self.config.sentry.organization}

    def _key(self, *parts) -> str:
        return ":".join([NAMESPACE] + [str(p) for p in parts])


def _duration(seconds: float) -> str:
    if seconds < 90:
        return "%d s" % round(seconds)
    if seconds < 90 * 60:
        return "%d min" % round(seconds / 60)
    return "%.1f h" % (seconds / 3600)
