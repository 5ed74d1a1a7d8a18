"""What the gateway answers to one webhook, and what it queues (no HTTP here).

Order matters: the size cap, then the signature (nothing unsigned is parsed), then the
resource (other resources are answered 2xx and ignored, as Sentry expects), then the
body. An accepted alert is claimed (one queued diagnosis per issue and event, so a
replayed body starts nothing) and queued; only when the queue took it is it answered
2xx, because Sentry never retries an internal integration's webhook. If the queue is
unavailable the claim is undone and the answer is 503.
"""
import calendar
import json
import logging
import time
from typing import Any, Dict, NamedTuple, Optional

from .. import intake
from . import rule_settings, signature, webhook
from .config import GatewayConfig

logger = logging.getLogger("sentry_autodiag.gateway")

ALERT_RESOURCE = "event_alert"
COMMENT_RESOURCE = "comment"   # comment.created: the /autodiag command (the integration subscribes to Comment)
# Sentry-Hook-Resource values Sentry sends (SentryAppResourceType, 23.7.1 … 26.x); any other
# value is counted as "other", so unsigned requests cannot add metric series without bound.
KNOWN_RESOURCES = frozenset({"event_alert", "installation", "issue", "error", "comment", "metric_alert", "seer",
                             "preprod_artifact", "alert_rule_action"})
MAX_JSON_DIGITS = 1000    # longer integer literals are read as floats (inf): no 4300-digit ValueError,
                          # no quadratic int() on Python 3.8
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


class Receiver:
    def __init__(self, config: GatewayConfig, redis_client, publish, metrics, remember_issue, clock=time.time):
        self.config = config
        self.redis = redis_client
        self.publish = publish                # (step, kwargs) -> None; raises when not queued
        self.metrics = metrics
        self.remember_issue = remember_issue  # (issue_id, title, pipe=) -> None
        self.clock = clock

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
        return self._accept(alert)

    def _accept(self, alert: webhook.Alert) -> Answer:
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
                overrides = rule_settings.clean(alert.rule_settings)
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
        try:
            with self.redis.pipeline(transaction=False) as pipe:  # one round trip for both
                pipe.set(claim, "1", nx=True, ex=self.config.gateway.max_event_age_minutes * 120)
                self.remember_issue(alert.issue_id, alert.title, pipe=pipe)
                claimed = pipe.execute()[0]
        except Exception as exc:
            return Answer(503, dict(ids, error="queue unavailable: %s" % type(exc).__name__), "queue-unavailable")
        if not claimed:
            return Answer(200, dict(ids, status="duplicate"), "duplicate")
        try:
            self.publish("start", start)
        except Exception as exc:
            try:
                self.redis.delete(claim)
            except Exception:
                logger.warning("autodiag.webhook.unclaim-failed", exc_info=True)
            return Answer(503, dict(ids, error="queue unavailable: %s" % type(exc).__name__), "queue-unavailable")
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
        try:
            if not self.redis.set(claim, "1", nx=True, ex=24 * 3600):
                return Answer(200, dict(ids, status="duplicate"), "duplicate")
        except Exception as exc:
            return Answer(503, dict(ids, error="queue unavailable: %s" % type(exc).__name__), "queue-unavailable")
        try:
            self.publish("request", step)
        except Exception as exc:
            try:
                self.redis.delete(claim)
            except Exception:
                logger.warning("autodiag.webhook.unclaim-failed", exc_info=True)
            return Answer(503, dict(ids, error="queue unavailable: %s" % type(exc).__name__), "queue-unavailable")
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
        except Exception as exc:  # a field check that did not expect this value: refuse, never a 5xx
            logger.exception("autodiag.rule-settings: a field check failed")
            errors = ["settings: the fields could not be read (%s)" % type(exc).__name__]
        if errors:
            return Answer(400, {"message": "; ".join(errors)[:1000]}, "rule-settings-refused")
        return Answer(200, {"message": "Settings accepted: they apply to every diagnosis this rule starts."},
                      "rule-settings-accepted")

    def _stale(self, timestamp: Optional[str]) -> bool:
        if not timestamp:
            return False
        try:
            when = calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ"))
        except (ValueError, OverflowError):  # not intake.iso_utc's form: unknown, as if absent
            return False
        return self.clock() - when > self.config.gateway.max_event_age_minutes * 60
