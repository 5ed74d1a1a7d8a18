"""What the gateway answers to one webhook, and what it queues (no HTTP here).

Order matters: the size cap, then the signature (nothing unsigned is parsed), then the
resource (other resources are answered 2xx and ignored, as Sentry expects), then the
body. An accepted alert is claimed (one queued diagnosis per issue and event, so a
replayed body starts nothing) and queued in one Redis script, so a claim never exists
without its step: only when the queue took it is it answered 2xx, because Sentry never
retries an internal integration's webhook. If the queue is unavailable (or does not
answer in time) the answer is 503, and either nothing was written (a resend is
accepted) or both were (a resend is truthfully a "duplicate").
"""
import calendar
import json
import logging
import os
import signal
import time
from typing import Any, Dict, NamedTuple, Optional

from .. import intake
from . import rule_settings, signature, webhook
from .config import GatewayConfig

logger = logging.getLogger("sentry_autodiag.gateway")

ALERT_RESOURCE = "event_alert"
INSTALLATIONS_KEY = "autodiag-gw:installations"   # read by catchup
COMMENT_RESOURCE = "comment"   # comment.created: the /autodiag command (the integration subscribes to Comment)
# Sentry-Hook-Resource values Sentry sends (SentryAppResourceType, 23.7.1 … 26.x); any other
# value is counted as "other", so unsigned requests cannot add metric series without bound.
KNOWN_RESOURCES = frozenset({"event_alert", "installation", "issue", "error", "comment", "metric_alert", "seer",
                             "preprod_artifact", "alert_rule_action"})
MAX_JSON_DIGITS = 1000    # longer integer literals are read as floats (inf): no 4300-digit ValueError,
                          # no quadratic int() on Python 3.8
# A TEST HOOK, for the fault tests only: the gateway kills itself (SIGKILL) right before or
# right after its accept script, to show that no crash point leaves a claim without its step.
TEST_KILL_AT = os.environ.get("SENTRY_AUTODIAG_TEST_KILL_AT", "")
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"


class BodyError(ValueError):
    """The body is not a JSON document the gateway reads; the message says why."""


def _json_int(text: str):
    return int(text) if len(text) <= MAX_JSON_DIGITS else float(text)


def read_json(body: bytes) -> Any:
    """The body as JSON (UTF-8, an optional BOM); raises BodyError naming what is wrong,
    never another exception (deep nesting, huge numbers and bad bytes included)."""
    if body.startswith(GZIP_MAGIC):
        raise BodyError("the body is gzip-compressed; Sentry sends plain JSON (application/json)")
    if body.startswith(UTF8_BOM):
        body = body[len(UTF8_BOM):]
    if not body.strip():
        raise BodyError("the body is empty")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError("the body is not UTF-8 text (byte 0x%02x at offset %d)" % (body[exc.start], exc.start))
    try:
        return json.loads(text, parse_int=_json_int)
    except RecursionError:
        raise BodyError("the body is not usable JSON: nested too deeply")
    except ValueError as exc:  # json.JSONDecodeError and number conversions
        raise BodyError("the body is not JSON: %s" % str(exc)[:120])


def resource_label(resource: Optional[str]) -> str:
    """The metrics label of a Sentry-Hook-Resource header (a bounded set of values)."""
    if not resource:
        return "none"
    return resource if resource in KNOWN_RESOURCES else "other"


def _printable(text: Optional[str], limit: int = 64) -> str:
    """A header value for a log field or an answer: bounded, control characters escaped."""
    text = (text or "")[:limit]
    return "".join(c if c.isprintable() else ("\\x%02x" if ord(c) < 0x100 else "\\u%04x") % ord(c) for c in text)


class Answer(NamedTuple):
    status: int
    body: Dict[str, Any]
    result: str          # the metrics label


def _test_kill(point: str) -> None:
    if TEST_KILL_AT == point:
        logger.warning("autodiag.test-hook: killing the gateway %s", point)
        os.kill(os.getpid(), signal.SIGKILL)


class _Writes:
    """Collects the Redis SETs of `remember_issue` so they go into the accept script."""

    def __init__(self):
        self.items = []

    def set(self, name, value, ex=None):
        self.items.append((name, value, ex or 0))


class Receiver:
    def __init__(self, config: GatewayConfig, redis_client, publish, metrics, remember_issue, clock=time.time,
                 accept=None):
        self.config = config
        self.redis = redis_client
        self.publish = publish                # (step, kwargs) -> None; raises when not queued
        # (claim, ttl, step, kwargs, writes) -> claimed?; atomic (queue.Gateway.accept)
        self.accept = accept or getattr(getattr(publish, "__self__", None), "accept", None)
        if self.accept is None:
            raise TypeError("Receiver needs accept= (queue.Gateway.accept: the claim and the step in one script)")
        self.metrics = metrics
        self.remember_issue = remember_issue  # (issue_id, title, pipe=) -> None
        self.clock = clock
        self._installations = set()

    def handle(self, resource: Optional[str], signature_header: Optional[str], body: bytes,
               too_large: bool = False, request_id: str = "") -> Answer:
        answer = self._handle(resource, signature_header, body, too_large)
        self.metrics.webhooks.labels(resource=resource_label(resource), result=answer.result).inc()
        log = logger.info if answer.status < 400 or answer.status == 413 else logger.warning
        log("autodiag.webhook", extra=dict(answer.body, resource=_printable(resource), http_status=answer.status,
                                           request_id=_printable(request_id)))
        return answer

    def _handle(self, resource, signature_header, body, too_large) -> Answer:
        if too_large:
            return Answer(413, {"error": "body larger than %d bytes" % self.config.gateway.max_body_bytes},
                          "too-large")
        if not signature.verify(body, signature_header, self.config.sentry.client_secrets):
            return Answer(401, {"error": "missing or wrong Sentry-Hook-Signature"}, "bad-signature")
        if resource == COMMENT_RESOURCE:
            return self._comment(body)
        if resource != ALERT_RESOURCE:
            return Answer(200, {"status": "ignored",
                                "reason": "resource %s is not used" % (_printable(resource, 40) or "none")},
                          "ignored-resource")
        try:
            payload = read_json(body)
        except BodyError as exc:
            return Answer(400, {"error": str(exc)}, "bad-json")
        try:
            alert = webhook.parse_alert(payload)
        except webhook.WebhookError as exc:
            return Answer(400, {"error": str(exc)}, "bad-body")
        except Exception as exc:  # a bug of parse_alert: still the body's doing, so never a 5xx
            logger.exception("autodiag.webhook.unreadable: parse_alert failed on a signed body")
            return Answer(400, {"error": "the alert could not be read (%s)" % type(exc).__name__}, "bad-body")
        self._remember_installation(payload)
        return self._accept(alert)

    def _remember_installation(self, payload: Any) -> None:
        """The installation uuid of a signed webhook: how the catch-up sweep recognizes the
        alert rules whose action targets this integration (once per process)."""
        installation = payload.get("installation") if isinstance(payload, dict) else None
        uuid = installation.get("uuid") if isinstance(installation, dict) else None
        if not isinstance(uuid, str) or not 0 < len(uuid) <= 64 or uuid in self._installations:
            return
        try:
            self.redis.sadd(INSTALLATIONS_KEY, uuid)
            self._installations.add(uuid)
        except Exception:
            logger.warning("autodiag.redis-unavailable", exc_info=True)

    def accept_alert(self, alert: webhook.Alert, late: Optional[Dict[str, Any]] = None) -> Answer:
        """The webhook path's checks and accept for an alert the catch-up sweep found; `late`
        (when the alert fired, when it was found) is stored with the step for its note."""
        return self._accept(alert, late)

    def _accept(self, alert: webhook.Alert, late: Optional[Dict[str, Any]] = None) -> Answer:
        ids = {"issue_id": alert.issue_id, "event_id": alert.event_id, "project": alert.project}
        if alert.organization != self.config.sentry.organization:
            logger.error("autodiag.webhook.other-organization: the webhook names organization %r, this gateway "
                         "serves %r", alert.organization, self.config.sentry.organization)
            return Answer(200, dict(ids, status="ignored", reason="other organization"), "other-organization")
        settings = self.config.settings_for(alert.project)
        if settings is None or not settings.configured:
            return Answer(200, dict(ids, status="ignored", reason="project not configured"), "not-configured")
        if self._stale(alert.timestamp):
            return Answer(200, dict(ids, status="ignored", reason="event older than %d minutes"
                                    % self.config.gateway.max_event_age_minutes), "stale")
        overrides, refused = {}, None
        if alert.rule_settings is not None:  # the alert rule's own form (see rule_settings)
            try:
                overrides = rule_settings.narrow(settings, rule_settings.clean(alert.rule_settings))
            except rule_settings.RuleSettingsError as exc:
                refused = {"code": "rule-settings", "message": "The alert rule %r: %s" % (alert.rule[:80], exc)}
            except Exception as exc:  # a field check that did not expect this value
                logger.exception("autodiag.webhook.rule-settings: a field check failed")
                refused = {"code": "rule-settings", "message": "The alert rule %r: its settings could not be read "
                                                               "(%s)." % (alert.rule[:80], type(exc).__name__)}
            settings = settings._replace(**overrides)
        try:
            start = intake.decide(settings, alert.facts(settings.node_tag), alert.project, alert.issue_id,
                                  queued_at=self.clock())
        except Exception as exc:  # a bug of the filters or rules on this event: the event's doing, not a 5xx
            logger.exception("autodiag.webhook.undecided: intake.decide failed on issue %s", alert.issue_id)
            return Answer(400, dict(ids, error="the event could not be read (%s)" % type(exc).__name__), "bad-body")
        if start is None:
            return Answer(200, dict(ids, status="filtered"), "filtered")
        if refused:
            start.update(node=None, rejection=refused)
        elif overrides:
            start["overrides"] = overrides
        claim = "autodiag-gw:webhook:%s:%s" % (alert.issue_id, alert.event_id)
        writes = _Writes()
        self.remember_issue(alert.issue_id, alert.title, pipe=writes)
        if late:
            writes.set("autodiag-gw:late:%s:%s" % (alert.issue_id, alert.event_id), json.dumps(late),
                       ex=7 * 24 * 3600)
        try:  # one Redis script: the claim and the queued step together, or neither
            _test_kill("before-accept")
            claimed = self.accept(claim, self.config.gateway.max_event_age_minutes * 120, "start", start,
                                  writes.items)
            _test_kill("after-accept")
        except Exception as exc:
            return Answer(503, dict(ids, error="queue unavailable: %s" % type(exc).__name__), "queue-unavailable")
        if not claimed:
            return Answer(200, dict(ids, status="duplicate"), "duplicate")
        return Answer(202, dict(ids, status="queued", node=start["node"]), "queued")

    def _comment(self, body: bytes) -> Answer:
        """A signed comment webhook: a `/autodiag` request is claimed once per comment and queued
        as the flow's `request` step (limits, node checks and PE run in the worker)."""
        try:
            request = webhook.parse_comment(read_json(body))
        except (BodyError, webhook.WebhookError) as exc:
            return Answer(400, {"error": str(exc)}, "bad-body")
        except Exception as exc:  # a bug of the parser: still the body's doing, never a 5xx
            logger.exception("autodiag.webhook.unreadable: parse_comment failed on a signed body")
            return Answer(400, {"error": "the comment could not be read (%s)" % type(exc).__name__}, "bad-body")
        if request is None:
            return Answer(200, {"status": "ignored", "reason": "no /autodiag command"}, "no-command")
        ids = {"issue_id": request.issue_id, "comment_id": request.comment_id, "project": request.project}
        settings = self.config.settings_for(request.project)
        if settings is None or not settings.configured:
            return Answer(200, dict(ids, status="ignored", reason="project not configured"), "not-configured")
        claim = "autodiag-gw:comment:%s" % request.comment_id
        step = {"project": request.project, "issue": request.issue_id, "comment_id": request.comment_id,
                "node": request.node, "usage": request.usage, "actor": request.actor, "at": request.at}
        try:  # the same one-script accept as an alert: the claim and the queued step, or neither
            claimed = self.accept(claim, 24 * 3600, "request", step)
        except Exception as exc:
            return Answer(503, dict(ids, error="queue unavailable: %s" % type(exc).__name__), "queue-unavailable")
        if not claimed:
            return Answer(200, dict(ids, status="duplicate"), "duplicate")
        return Answer(202, dict(ids, status="queued"), "request-queued")

    def handle_rule_settings(self, signature_header: Optional[str], body: bytes) -> Answer:
        """Sentry's check of an alert rule's form when the rule is saved: 200, or 400 with a
        `message` naming every invalid field (Sentry shows it under the action)."""
        if not signature.verify(body, signature_header, self.config.sentry.client_secrets):
            return Answer(401, {"message": "missing or wrong Sentry-App-Signature"}, "bad-signature")
        try:
            payload = read_json(body)
        except BodyError as exc:
            return Answer(400, {"message": str(exc)}, "bad-json")
        fields = payload.get("fields") if isinstance(payload, dict) else None
        try:
            errors = rule_settings.field_errors(fields if fields is not None else [])
            if not errors:
                errors = rule_settings.allowed_somewhere(rule_settings.clean(fields if fields is not None else []),
                                                         self.config.projects.values())
        except Exception as exc:  # a field check that did not expect this value: refuse, never a 5xx
            logger.exception("autodiag.rule-settings: a field check failed")
            errors = ["settings: the fields could not be read (%s)" % type(exc).__name__]
        if errors:
            return Answer(400, {"message": "; ".join(errors)[:1000]}, "rule-settings-refused")
        return Answer(200, {"message": "Settings accepted: they apply to every diagnosis this rule starts."},
                      "rule-settings-accepted")

    def _stale(self, timestamp: Optional[str]) -> bool:
        """parse_alert refuses an event without a readable time (400); should one get here
        anyway, it counts as stale: an unknown age never bypasses the limit."""
        try:
            when = calendar.timegm(time.strptime(timestamp or "", "%Y-%m-%dT%H:%M:%SZ"))
        except (ValueError, OverflowError):
            return True
        return self.clock() - when > self.config.gateway.max_event_age_minutes * 60
