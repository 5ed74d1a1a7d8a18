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
        self.metrics.webhooks.labels(resource=(resource or "none")[:40], result=answer.result).inc()
        log = logger.info if answer.status < 400 or answer.status == 413 else logger.warning
        log("autodiag.webhook", extra=dict(answer.body, resource=resource, http_status=answer.status,
                                           request_id=(request_id or "")[:64]))
        return answer

    def _handle(self, resource, signature_header, body, too_large) -> Answer:
        if too_large:
            return Answer(413, {"error": "body larger than %d bytes" % self.config.gateway.max_body_bytes},
                          "too-large")
        if not signature.verify(body, signature_header, self.config.sentry.client_secrets):
            return Answer(401, {"error": "missing or wrong Sentry-Hook-Signature"}, "bad-signature")
        if resource != ALERT_RESOURCE:
            return Answer(200, {"status": "ignored", "reason": "resource %s is not used" % (resource or "none")[:40]},
                          "ignored-resource")
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return Answer(400, {"error": "the body is not JSON"}, "bad-json")
        try:
            alert = webhook.parse_alert(payload)
        except webhook.WebhookError as exc:
            return Answer(400, {"error": str(exc)}, "bad-body")
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
            settings = settings._replace(**overrides)
        start = intake.decide(settings, alert.facts(settings.node_tag), alert.project, alert.issue_id,
                              queued_at=self.clock())
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

    def handle_rule_settings(self, signature_header: Optional[str], body: bytes) -> Answer:
        """Sentry's check of an alert rule's form when the rule is saved: 200, or 400 with a
        `message` naming every invalid field (Sentry shows it under the action)."""
        if not signature.verify(body, signature_header, self.config.sentry.client_secrets):
            return Answer(401, {"message": "missing or wrong Sentry-App-Signature"}, "bad-signature")
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return Answer(400, {"message": "the body is not JSON"}, "bad-json")
        fields = payload.get("fields") if isinstance(payload, dict) else None
        errors = rule_settings.field_errors(fields if fields is not None else [])
        if errors:
            return Answer(400, {"message": "; ".join(errors)[:1000]}, "rule-settings-refused")
        return Answer(200, {"message": "Settings accepted: they apply to every diagnosis this rule starts."},
                      "rule-settings-accepted")

    def _stale(self, timestamp: Optional[str]) -> bool:
        if not timestamp:
            return False
        when = calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ"))
        return self.clock() - when > self.config.gateway.max_event_age_minutes * 60
