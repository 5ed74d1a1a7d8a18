"""The plugin with the Bolt runner, end to end inside a real Sentry 23.7.1: Sentry's pipeline,
the plugin's Celery tasks, the Bolt stand-in (Bolt 4.0.0's CLI and JSON, checked against real
Bolt's recorded answers) running the real collect.sh over a real OpenSSH server on loopback
(tests/bolt_lab.py); no PE orchestrator anywhere."""
from sentry.plugins.base import plugins
from sentry.testutils.cases import APITestCase, TestCase

from autodiag_case import app_log  # noqa: F401 (fixture)
from bolt_lab import lab
from sentry_autodiag.sentry_glue import autodiag_notes
from sentry_harness import create_new_issue_rule, python_error_event, send_event

import pytest


class BoltCase:
    @pytest.fixture(autouse=True)
    def _lab(self, app_log):  # noqa: F811
        self.lab = lab()
        self.app_log = app_log

    def configure(self, **options):
        self.plugin = plugins.get("autodiag")
        for key, value in self.lab.settings(log_path=self.app_log, log_lines=20, **options).items():
            self.plugin.set_option(key, value, self.project)
        self.plugin.enable(self.project)
        create_new_issue_rule(self.project)

    def only_note(self, saved):
        from sentry.models import Group

        notes = [a.data["text"] for a in autodiag_notes(Group.objects.get(id=saved.group_id))]
        assert len(notes) == 1, notes
        return notes[0]


class BoltEndToEndTest(BoltCase, TestCase):
    def test_new_issue_gets_the_real_report_through_bolt(self):
        self.configure()
        saved = send_event(self.project, python_error_event(server_name="web01.example.com"))
        note = self.only_note(saved)
        assert note.startswith("**Puppet diagnostics** for `web01.example.com` — ✅ finished"), note[:400]
        assert "Bolt run `bolt-" in note and "PE job" not in note
        for title in ("**Host**", "**Memory**", "**Disk space**", "**Application log**"):
            assert title in note, title
        assert "ERROR checkout failed order=299 password=[REDACTED]" in note and "hunter299" not in note

    def test_connection_failures_and_garbled_output_get_their_notes(self):
        self.configure()
        expected = {"down01": "node unreachable over SSH", "newhost01": "host key unknown",
                    "badkey01": "authentication refused"}
        for node, headline in expected.items():
            saved = send_event(self.project, python_error_event(server_name=node, fingerprint=[node]))
            note = self.only_note(saved)
            assert note.startswith("**Puppet diagnostics** for `%s` — ⚠️ %s" % (node, headline)), note[:400]
            assert "**What to do**" in note
        self.plugin.set_option("bolt_binary", self.lab.garbled_bolt, self.project)
        self.plugin.set_option("coalesce_window", 0, self.project)  # its own run, not the first down01's
        saved = send_event(self.project, python_error_event(server_name="down01", fingerprint=["garbled"]))
        note = self.only_note(saved)
        assert "⚠️ unreadable Bolt output" in note and "without its JSON result" in note

    def test_a_run_past_the_job_timeout_is_ended_and_said(self):
        self.configure(job_timeout=10)
        saved = send_event(self.project, python_error_event(server_name="tarpit01"))  # SSH never answers
        note = self.only_note(saved)
        assert note.startswith("**Puppet diagnostics** for `tarpit01` — ⚠️ timed out"), note[:400]
        assert "job timeout of 10 seconds" in note


class BoltSettingsApiTest(BoltCase, APITestCase):
    def setUp(self):
        super().setUp()
        self.login_as(self.user)
        self.url = "/api/0/projects/%s/%s/plugins/autodiag/" % (self.organization.slug, self.project.slug)

    def test_bolt_runner_needs_no_orchestrator_and_test_plugin_checks_bolt(self):
        # the PE runner still requires the orchestrator fields
        response = self.client.put(self.url, data={"runner": "pe"}, format="json")
        assert response.status_code == 400 and {"url", "token", "ca_cert"} <= set(response.data["errors"])
        # the Bolt runner needs its project instead
        response = self.client.put(self.url, data={"runner": "bolt"}, format="json")
        assert response.status_code == 400 and "Bolt project directory" in str(response.data["errors"])
        body = dict(self.lab.settings(bolt_test_node="web01"))
        response = self.client.put(self.url, data=body, format="json")
        assert response.status_code == 200, response.content
        plugin = plugins.get("autodiag")
        assert plugin.get_option("runner", self.project) == "bolt" and plugin.is_configured(self.project)
        assert self.client.post(self.url).status_code in (200, 201)  # enable
        response = self.client.post(self.url, data={"test": True}, format="json")
        detail = response.data["detail"]
        assert detail.startswith("Test passed: Bolt 4.0.0 runs"), detail
        assert "holds the task diagnostics::collect" in detail and "reached web01" in detail

        plugin.set_option("bolt_test_node", "down01", self.project)
        detail = self.client.post(self.url, data={"test": True}, format="json").data["detail"]
        assert detail.startswith("Test failed") and "node unreachable over SSH" in detail
