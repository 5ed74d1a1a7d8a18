"""The webhook gateway end to end inside a real Sentry 23.7.1.

An internal integration (webhook URL on 127.0.0.1, Alert Rule Action on, Issue & Event
read & write) and the rule "A new issue is created → Send a notification via
<integration>"; an event goes through Sentry's pipeline; Sentry's own webhook task signs
and POSTs the event_alert; the gateway (its own Python 3.11 process) verifies and queues
it; its worker (another process) diagnoses on the local orchestrator running the real
task and posts the note through Sentry's REST API, served by a live Sentry web server;
the note is read back from Sentry's database.
"""
import json
import os
import signal
import time

import requests
from sentry.models import Activity, Rule, SentryAppComponent
from sentry.rules.actions.sentry_apps.notify_event import NotifyEventSentryAppAction
from sentry.rules.conditions.first_seen_event import FirstSeenEventCondition
from sentry.testutils.cases import TransactionTestCase
from sentry.types.activity import ActivityType

from autodiag_case import NODES, app_log, modules_dir  # noqa: F401 (fixtures)
from gateway_case import NOTE_TIMEOUT, GatewaySentryCase
from gateway_harness import ROOT, _wait
from sentry_autodiag.gateway import signature
from sentry_harness import python_error_event, send_event


class GatewayInSentryTest(GatewaySentryCase, TransactionTestCase):
    # --- the tests ------------------------------------------------------------------------------

    def test_a_new_issue_gets_the_gateway_note_through_sentry(self):
        self.start()
        saved = send_event(self.project, python_error_event(server_name="web01.example.com"))
        (note,) = self.wait_note(saved.group_id)
        assert note.startswith("**Puppet diagnostics** for `web01.example.com` — ✅ finished"), note[:300]
        assert "**Application log**" in note and "ERROR checkout failed order=299 password=[REDACTED]" in note
        assert "hunter299" not in note
        assert "sentry-autodiag diagnosis `%s:%s`" % (saved.group_id, saved.event_id) in note
        (job,) = self.orch.jobs.values()
        assert list(job.nodes) == ["web01.example.com"] and job.params["log_path"] == self.app_log
        assert job.userdata["sentry_issue_id"] == str(saved.group_id)
        assert job.userdata["sentry_project"] == self.project.slug
        activity = Activity.objects.get(group_id=saved.group_id, type=ActivityType.NOTE.value)
        assert activity.user_id == self.app.proxy_user_id  # written by the integration, through the API
        path = "/api/0/organizations/%s/issues/%s/comments/" % (self.organization.slug, saved.group_id)
        posted = _wait(lambda: self.sentry_proxy.matching("POST", path), 10, "the recorded POST")
        assert [r.status for r in posted] == [201]
        time.sleep(2)  # nothing more arrives later
        assert len(self.notes(saved.group_id)) == 1 and len(self.orch.jobs) == 1
        metrics = self.gw.metrics()
        assert 'autodiag_webhooks_total{resource="event_alert",result="queued"} 1.0' in metrics

    def test_check_command_tests_redis_sentry_token_and_every_project(self):
        self.start()
        ok = self.gw.run_cli("check", "--config", self.gw.config_path)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "token accepted (scopes include event:read, event:write)" in ok.stdout
        assert "project %s: Test passed" % self.project.slug in ok.stdout and "check passed" in ok.stdout
        with open(self.gw.dir + "/sentry-token", "w") as fh:
            fh.write("not-a-token")
        bad = self.gw.run_cli("check", "--config", self.gw.config_path)
        assert bad.returncode == 1 and "FAILED" in bad.stdout and "token" in bad.stdout
        assert "not-a-token" not in bad.stdout + bad.stderr

    def test_per_rule_settings_are_checked_by_the_gateway_and_reach_the_task(self):
        with open(os.path.join(ROOT, "deploy", "alert-rule-action-schema.json")) as fh:
            schema = json.load(fh)
        self.start(schema=schema, rule=False)
        component = SentryAppComponent.objects.get(sentry_app_id=self.app.id)
        assert component.type == "alert-rule-action"  # Sentry 23.7.1 accepted the shipped schema
        self.login_as(self.user)
        url = "/api/0/projects/%s/%s/rules/" % (self.organization.slug, self.project.slug)

        def rule_with(settings):
            return self.client.post(url, content_type="application/json", data=json.dumps({
                "name": "API errors", "actionMatch": "all", "filterMatch": "all", "frequency": 30,
                "conditions": [{"id": FirstSeenEventCondition.id}], "filters": [],
                "actions": [{"id": NotifyEventSentryAppAction.id, "hasSchemaFormConfig": True,
                             "sentryAppInstallationUuid": self.install.uuid, "settings": settings}]}))

        refused = rule_with([{"name": "log_path", "value": "/var/log/x.log"}, {"name": "log_lines", "value": "0"}])
        assert refused.status_code == 400, refused.content
        assert "log_lines (Log lines)" in refused.content.decode() and not Rule.objects.filter(label="API errors")
        other_log = os.path.join(os.path.dirname(self.app_log), "api.log")
        with open(other_log, "w") as fh:
            fh.write("2026-11-21 03:00:00 ERROR api: upstream payments:8443 refused the connection\n")
        saved_rule = rule_with([{"name": "log_path", "value": other_log}, {"name": "log_lines", "value": "7"}])
        assert saved_rule.status_code == 200, saved_rule.content
        saved = send_event(self.project, python_error_event())
        (note,) = self.wait_note(saved.group_id)
        (job,) = self.orch.jobs.values()
        assert job.params["log_path"] == other_log and job.params["log_lines"] == 7  # the rule's, not the project's
        assert "upstream payments:8443 refused the connection" in note

    def test_replayed_webhook_starts_no_second_diagnosis_and_bad_requests_change_nothing(self):
        self.start(proxy_webhooks=True)
        saved = send_event(self.project, python_error_event())
        self.wait_note(saved.group_id)
        (delivery,) = _wait(lambda: self.webhook_proxy.matching("POST", "/webhook/sentry"), 10, "the webhook")
        assert delivery.status == 202
        assert delivery.headers["Sentry-Hook-Resource"] == "event_alert"
        assert signature.verify(delivery.body, delivery.headers["Sentry-Hook-Signature"],
                                [self.app.application.client_secret])
        headers = {k: v for k, v in delivery.headers.items() if k.lower().startswith(("sentry-", "content-type"))}
        replay = requests.post(self.gw.webhook_url, data=delivery.body, headers=headers, timeout=5)
        assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
        forged = dict(headers, **{"Sentry-Hook-Signature": signature.sign(delivery.body, "not-the-secret")})
        assert requests.post(self.gw.webhook_url, data=delivery.body, headers=forged, timeout=5).status_code == 401
        unsigned = {k: v for k, v in headers.items() if k != "Sentry-Hook-Signature"}
        assert requests.post(self.gw.webhook_url, data=delivery.body, headers=unsigned, timeout=5).status_code == 401
        big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
        assert requests.post(self.gw.webhook_url, data=big, headers=headers, timeout=10).status_code == 413
        garbage = b"\x00\xff not json"
        signed_garbage = dict(headers, **{"Sentry-Hook-Signature": signature.sign(
            garbage, self.app.application.client_secret)})
        assert requests.post(self.gw.webhook_url, data=garbage, headers=signed_garbage, timeout=5).status_code == 400
        time.sleep(2)
        assert len(self.orch.jobs) == 1 and len(self.notes(saved.group_id)) == 1

    def test_queue_down_at_receive_time_answers_503_then_works_when_it_is_back(self):
        self.start(proxy_webhooks=True)
        self.gw.stop("worker")
        self.redis.stop()
        saved = send_event(self.project, python_error_event(fingerprint=["down"]))
        (delivery,) = _wait(lambda: self.webhook_proxy.matching("POST", "/webhook/sentry"), 10, "the webhook")
        assert delivery.status == 503  # Sentry logs it; a 2xx would have been a lie
        self.redis.start()
        headers = {k: v for k, v in delivery.headers.items() if k.lower().startswith(("sentry-", "content-type"))}
        # nothing was claimed: the same delivery is accepted once the queue is back
        again = requests.post(self.gw.webhook_url, data=delivery.body, headers=headers, timeout=5)
        assert again.status_code == 202, again.text
        self.gw.start_worker()
        assert len(self.wait_note(saved.group_id)) == 1

    def test_gateway_restarted_with_work_queued_loses_nothing(self):
        self.start()
        self.gw.stop("worker")
        saved = [send_event(self.project, python_error_event(server_name=node, fingerprint=["q%d" % i]))
                 for i, node in enumerate(NODES)]
        self.gw.stop("gateway")
        self.gw.start_gateway().start_worker()
        for s in saved:
            (note,) = self.wait_note(s.group_id)
            assert "✅ finished" in note
        assert len(self.orch.jobs) == 3

    def test_worker_killed_during_a_job_writes_its_note_within_a_minute_and_once(self):
        self.start()  # the default visibility_timeout
        self.orch.faults.slow_start = 6  # the node runs for 6 s: the worker is killed while it polls
        saved = send_event(self.project, python_error_event())
        _wait(lambda: self.orch.jobs, 30, "the job to start")
        _wait(lambda: "poll" in self.gw.log("worker") or None, 5, "a poll", interval=0.05)
        self.gw.stop("worker", sig=signal.SIGKILL)
        self.gw.start_worker("worker2")
        restarted = time.monotonic()
        (note,) = self.wait_note(saved.group_id)
        assert time.monotonic() - restarted < 60, "the note came %.0f s after the restart" % (
            time.monotonic() - restarted)
        assert "✅ finished" in note
        time.sleep(8)  # nothing redelivered writes twice
        assert len(self.notes(saved.group_id)) == 1 and len(self.orch.jobs) == 1

    def test_sentry_api_5xx_and_429_on_the_comment_are_retried(self):
        self.start()
        self.sentry_proxy.inject("POST", "/comments/", [500, 502, 429], headers=[("Retry-After", "1")])
        saved = send_event(self.project, python_error_event())
        (note,) = self.wait_note(saved.group_id)
        # The proxy records an exchange after relaying its answer, so the note can be seen first.
        posted = _wait(lambda: [r for r in self.sentry_proxy.matching("POST", "/comments/") if r.status == 201],
                       10, "the recorded 201")
        assert len(posted) == 1
        statuses = [r.status for r in self.sentry_proxy.matching("POST", "/comments/")]
        assert statuses[:3] == [500, 502, 429] and statuses[-1] == 201 and statuses.count(201) == 1

    def test_revoked_token_gives_a_clear_log_line_and_metric(self):
        self.start()
        self.sentry_proxy.inject("POST", "/comments/", [401])
        self.sentry_proxy.inject("GET", "/comments/", [401])
        saved = send_event(self.project, python_error_event())
        _wait(lambda: "autodiag.sentry-token-refused" in self.gw.log("worker"), NOTE_TIMEOUT, "the log line")
        assert "revoked" in self.gw.log("worker")
        assert self.notes(saved.group_id) == []
        assert ('autodiag_flow_events_total{detail="reason=sentry-token-refused",event="autodiag.note.dropped"} 1.0'
                in self.gw.worker_metrics())
