"""The shared set-up of the gateway's tests and benchmarks inside a real Sentry 23.7.1 (see
test_gateway_sentry for what runs where)."""
import os
import uuid

import pytest
from sentry.models import Activity, Rule, SentryAppInstallation
from sentry.rules.actions.notify_event_service import NotifyEventServiceAction
from sentry.rules.conditions.first_seen_event import FirstSeenEventCondition
from sentry.types.activity import ActivityType

from autodiag_case import NODES
from gateway_harness import GatewayProcesses, RedisServer, _wait
from http_proxy import Proxy
from localorch.server import LocalOrchestrator

NOTE_TIMEOUT = 90


class GatewaySentryCase:
    """The world of a gateway test: Redis, local orchestrator, fault proxy before Sentry's API,
    an internal integration and its alert rule, the gateway and a worker."""

    @pytest.fixture(autouse=True)
    def _world(self, live_server, modules_dir, app_log, tmp_path):  # noqa: F811
        self.live_url = live_server.url
        self.app_log = app_log
        self.redis = RedisServer(str(tmp_path)).start()
        with LocalOrchestrator(nodes=NODES, modules_dir=modules_dir, token="tok-%s" % uuid.uuid4().hex,
                               task_env={"TMPDIR": str(tmp_path)}) as orch, Proxy(live_server.url) as sentry_proxy:
            self.orch = orch
            self.sentry_proxy = sentry_proxy
            self.gw = None
            try:
                yield
            finally:
                if self.gw:
                    self.gw.cleanup()
                self.redis.stop()

    # --- set-up as an admin does it ---------------------------------------------------------

    def integration(self, webhook_url: str, schema=None, rule=True):
        """Settings → Developer Settings → New Internal Integration, as Sentry's own factories do
        (with `schema`: the per-rule form of deploy/alert-rule-action-schema.json)."""
        app = self.create_internal_integration(
            name="Puppet Autodiag %s" % uuid.uuid4().hex[:6], organization=self.organization, webhook_url=webhook_url,
            scopes=("event:read", "event:write", "project:read"), is_alertable=True, user=self.user, schema=schema or {})
        self.install = SentryAppInstallation.objects.get(sentry_app=app, organization_id=self.organization.id)
        token = self.create_internal_integration_token(install=self.install, user=self.user)
        if not rule:
            return app, token.token
        Rule.objects.create(project=self.project, label="New issue → %s" % app.slug, data={
            "conditions": [{"id": FirstSeenEventCondition.id}],
            "actions": [{"id": NotifyEventServiceAction.id, "service": app.slug}],
            "action_match": "all", "filter_match": "all", "frequency": 30})
        return app, token.token

    def start(self, proxy_webhooks=False, visibility_timeout=None, schema=None, rule=True, gateway_options=None,
              **project_settings):
        """The gateway and a worker; Sentry's webhooks go to the gateway (optionally through a
        recording proxy), and the worker reaches Sentry's API through the fault proxy."""
        settings = {"url": self.orch.url, "token": self.orch.token, "ca_cert": self.orch.ca_pem,
                    "log_path": self.app_log, "log_lines": 20}
        settings.update(project_settings)
        self.gw = GatewayProcesses(self.sentry_proxy.url, self.organization.slug, "pending", "pending",
                                   self.redis.url, {self.project.slug: settings},
                                   visibility_timeout=visibility_timeout,
                                   # catch-up reads Snuba through Sentry: only its own tests turn it on
                                   options=gateway_options or {"catchup_interval": 0})
        self.webhook_proxy = Proxy(self.gw.url).__enter__() if proxy_webhooks else None
        webhook_url = self.webhook_proxy.url + "/webhook/sentry" if proxy_webhooks else self.gw.webhook_url
        self.app, token = self.integration(webhook_url, schema=schema, rule=rule)
        with open(os.path.join(self.gw.dir, "sentry-token"), "w") as fh:
            fh.write(token)
        with open(os.path.join(self.gw.dir, "client-secret"), "w") as fh:
            fh.write(self.app.application.client_secret)
        self.gw.start_gateway().start_worker()

    def tearDown(self):
        if getattr(self, "webhook_proxy", None):
            self.webhook_proxy.__exit__(None, None, None)
        super().tearDown()

    # --- reading the outcome ------------------------------------------------------------------

    def notes(self, group_id):
        return [a.data["text"] for a in Activity.objects.filter(group_id=group_id, type=ActivityType.NOTE.value)
                .order_by("id")]

    def wait_note(self, group_id, count=1, timeout=NOTE_TIMEOUT):
        def ready():
            notes = self.notes(group_id)
            return notes if len(notes) >= count else None
        try:
            return _wait(ready, timeout, "%d note(s) on issue %s" % (count, group_id), interval=0.25)
        except AssertionError:
            raise AssertionError("no note; gateway log:\n%s\nworker log:\n%s" % (
                self.gw.log("gateway")[-3000:], self.gw.log("worker")[-6000:]))

