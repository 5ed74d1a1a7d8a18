"""A new Sentry issue gets a Puppet diagnostic report as a note: Sentry's real pipeline,
the plugin's Celery tasks, the local orchestrator over HTTPS and the real collect.sh."""
from unittest import mock

from sentry.models import Activity
from sentry.plugins.base import plugins
from sentry.testutils.cases import APITestCase, TestCase
from sentry.types.activity import ActivityType

from autodiag_case import AutoDiagCase, app_log, modules_dir  # noqa: F401 (fixtures)
from sentry_autodiag import flow
from net_helpers import unused_port
from sentry_harness import python_error_event, send_event


class EndToEndTest(AutoDiagCase, TestCase):
    def setUp(self):
        super().setUp()
        self.configure()

    def test_new_issue_gets_the_real_report(self):
        saved = send_event(self.project, python_error_event(server_name="web01.example.com"))
        note = self.only_note(saved)
        assert note.startswith("**Puppet diagnostics** for `web01.example.com` — ✅ finished")
        for title in ("**Host**", "**Memory**", "**Top 10 processes by memory \\(RSS\\)**", "**Disk space**",
                      "**Inodes**", "**Kernel messages \\(last 50\\)**", "**OOM\\-killer events**", "**Sockets**",
                      "**Application log**"):
            assert title in note, title
        assert "ERROR checkout failed order=299 password=[REDACTED]" in note
        assert "hunter299" not in note
        assert "PE job `1`" in note
        (job,) = self.orch.jobs.values()
        assert list(job.nodes) == ["web01.example.com"]
        assert job.userdata == {"sentry_issue_id": saved.group_id, "sentry_event_id": saved.event_id,
                                "sentry_project": self.project.slug}
        from sentry.models import Group

        assert job.description.startswith("Sentry issue %s: " % Group.objects.get(id=saved.group_id).qualified_short_id)
        assert job.params["log_path"] == self.app_log and job.params["log_lines"] == 20
        assert job.params["since"].endswith("Z")
        activity = Activity.objects.get(group_id=saved.group_id, type=ActivityType.NOTE.value)
        assert activity.user_id is None  # shown as written by "Sentry"

    def test_repeat_event_of_the_same_issue_starts_no_second_job(self):
        first = send_event(self.project, python_error_event(fingerprint=["same"]))
        second = send_event(self.project, python_error_event(fingerprint=["same"]))
        assert first.group_id == second.group_id
        assert len(self.orch.jobs) == 1 and len(self.notes(first.group_id)) == 1

    def test_short_host_name_gets_the_certname_suffix(self):
        self.plugin.set_option("certname_suffix", ".example.com", self.project)
        saved = send_event(self.project, python_error_event(server_name="WEB02"))
        assert "for `web02.example.com` — ✅ finished" in self.only_note(saved)

    def test_other_environment_and_low_level_are_filtered_out(self):
        send_event(self.project, python_error_event(environment="staging", fingerprint=["env"]))
        send_event(self.project, python_error_event(level="warning", fingerprint=["lvl"]))
        assert self.orch.jobs == {}
        assert not Activity.objects.filter(project_id=self.project.id, type=ActivityType.NOTE.value).exists()

    def test_star_environment_and_lower_level_let_them_through(self):
        self.plugin.set_option("sentry_environments", "*", self.project)
        self.plugin.set_option("min_level", "warning", self.project)
        saved = send_event(self.project, python_error_event(environment="staging", level="warning"))
        assert "✅ finished" in self.only_note(saved)

    def test_node_tag_can_be_any_tag(self):
        self.plugin.set_option("node_tag", "puppet_node", self.project)
        saved = send_event(self.project, python_error_event(server_name="ignored.example.com",
                                                            tags={"puppet_node": "db01.example.com"}))
        assert "for `db01.example.com`" in self.only_note(saved)

    # --- every issue that passed the filters gets a note, even without a report -----------

    def test_missing_node_tag(self):
        saved = send_event(self.project, python_error_event(server_name=None))
        note = self.only_note(saved)
        assert "no node in the event" in note and "server\\_name" in note
        assert self.orch.jobs == {}

    def test_hostile_node_names_are_refused_before_any_call(self):
        for i, bad in enumerate(["web01; rm -rf /", "web01\nweb02", "../../etc", "10.0.0.1", "w\u0435b01.example.com",
                                 '"web01"', "x" * 10000, "web01.example.com:8140", "web01 example"]):
            saved = send_event(self.project, python_error_event(server_name=bad, fingerprint=["bad-%d" % i]))
            note = self.only_note(saved)
            assert "⚠️ node refused" in note, (bad, note)
            assert len(note) < 2000
        assert self.orch.calls == {}  # nothing reached the orchestrator

    def test_node_outside_the_allowed_pattern(self):
        self.plugin.set_option("node_pattern", r"web\d+\.example\.com", self.project)
        saved = send_event(self.project, python_error_event(server_name="db01.example.com"))
        note = self.only_note(saved)
        assert "node not allowed" in note and self.orch.jobs == {}

    def test_pql_scope_makes_pe_refuse_other_nodes(self):
        self.plugin.set_option("pql_scope", 'certname ~ "^web"', self.project)
        refused = send_event(self.project, python_error_event(server_name="db01.example.com", fingerprint=["a"]))
        assert "node not found" in self.only_note(refused)
        allowed = send_event(self.project, python_error_event(server_name="web01.example.com", fingerprint=["b"]))
        assert "✅ finished" in self.only_note(allowed)

    def test_unknown_node_is_told_apart_from_a_stopped_agent(self):
        # PE answers both with "not connected to the PCP broker"; PuppetDB knows which it is
        saved = send_event(self.project, python_error_event(server_name="ghost.example.com"))
        note = self.only_note(saved)
        assert "node unknown to PE" in note and "Certname suffix" in note
        assert "ghost\\.example\\.com is not connected to the PCP broker" in note

    def test_offline_node(self):
        self.orch.faults.offline_nodes.add("web02.example.com")
        saved = send_event(self.project, python_error_event(server_name="web02.example.com"))
        note = self.only_note(saved)
        assert "node not connected" in note and "unknown to PE" not in note

    def test_without_puppetdb_access_the_note_names_both_causes(self):
        self.plugin.set_option("puppetdb_url", "https://localhost:%d" % unused_port(), self.project)
        saved = send_event(self.project, python_error_event(server_name="ghost.example.com"))
        note = self.only_note(saved)
        assert "node not connected" in note and "Certname suffix" in note

    def test_expired_token(self):
        self.orch.faults.token_expires_after = 0
        saved = send_event(self.project, python_error_event())
        note = self.only_note(saved)
        assert "token refused" in note and "has expired" in note and "puppet\\-access login" in note

    def test_not_permitted(self):
        self.orch.permitted_tasks = {"sample::plain"}
        saved = send_event(self.project, python_error_event())
        note = self.only_note(saved)
        assert "⚠️ not permitted" in note and "RBAC role" in note

    def test_task_failure_shows_its_error(self):
        self.plugin.set_option("task", "sample::error", self.project)
        saved = send_event(self.project, python_error_event())
        note = self.only_note(saved)
        assert "❌ failed" in note and "`sample/broken`" in note and "the widget is broken" in note

    def test_plain_text_output_renders(self):
        self.plugin.set_option("task", "sample::plain", self.project)
        saved = send_event(self.project, python_error_event())
        note = self.only_note(saved)
        assert "**Task output**" in note and "plain text output\nsecond line" in note

    def test_unknown_task(self):
        self.plugin.set_option("task", "diagnostics::nope", self.project)
        saved = send_event(self.project, python_error_event())
        assert "task not installed" in self.only_note(saved)

    def test_job_past_its_deadline_is_stopped(self):
        self.orch.faults.slow_start = 60
        self.plugin.set_option("job_timeout", 10, self.project)
        # the deadline passes ~0.5 s after the start
        with mock.patch.object(flow, "DEADLINE_GRACE", -9.5):
            saved = send_event(self.project, python_error_event())
        note = self.only_note(saved)
        assert "timed out" in note and "stopped through the orchestrator" in note
        (job,) = self.orch.jobs.values()
        assert job.stopping

    def test_transient_errors_are_retried_then_succeed(self):
        self.orch.faults.http_errors = [503, 429]
        self.orch.faults.job_404_gets = 1
        saved = send_event(self.project, python_error_event())
        assert "✅ finished" in self.only_note(saved)
        assert len(self.orch.jobs) == 1

    def test_unreachable_orchestrator_gives_a_note(self):
        self.orch.faults.http_errors = [503] * 50
        saved = send_event(self.project, python_error_event())
        note = self.only_note(saved)
        assert "orchestrator unreachable" in note and "tried 5 time" in note
        assert self.orch.jobs == {}

    def test_retried_note_writing_never_duplicates(self):
        from sentry.models import Group
        from sentry_autodiag.diagnosis import diagnosis_id
        from sentry_autodiag.sentry_glue import write_note_once

        saved = send_event(self.project, python_error_event())
        group = Group.objects.get(id=saved.group_id)
        assert write_note_once(group, diagnosis_id(group.id, saved.event_id), "again", False) is False
        assert len(self.notes(saved.group_id)) == 1


class SettingsApiTest(AutoDiagCase, APITestCase):
    def setUp(self):
        super().setUp()
        self.login_as(self.user)
        self.url = "/api/0/projects/%s/%s/plugins/autodiag/" % (self.organization.slug, self.project.slug)

    def valid(self, **overrides):
        body = {"url": self.orch.url, "token": self.orch.token, "ca_cert": self.orch.ca_pem}
        body.update(overrides)
        return body

    def test_bad_values_are_field_errors(self):
        response = self.client.put(self.url, data=self.valid(
            url="http://puppet.example.com:8143", ca_cert="not a cert", task="Bad Task!",
            log_lines="99999", node_pattern="([", pql_scope="certname = \"x\" } or { true",
            job_timeout="5", log_path="relative/app.log", certname_suffix="example.com", min_level="loud"),
            format="json")
        assert response.status_code == 400, response.content
        errors = response.data["errors"]
        assert set(errors) == {"url", "ca_cert", "task", "log_lines", "node_pattern", "pql_scope", "job_timeout",
                               "log_path", "certname_suffix", "min_level"}
        assert "https" in errors["url"] and "PEM" in errors["ca_cert"]

    def test_a_pql_scope_puppetdb_refuses_is_refused_in_its_words(self):
        # PQL's negation is `!`: the real PuppetDB (behind the local orchestrator) says so on save
        response = self.client.put(self.url, data=self.valid(pql_scope='not certname = "x"', puppetdb_url=self.orch.url),
                                   format="json")
        assert response.status_code == 400, response.content
        assert response.data["errors"]["__all__"].startswith(
            "PQL scope constraint: PuppetDB refuses it: PQL parse error at line 1, column 68:")
        response = self.client.put(self.url, data=self.valid(pql_scope='!certname = "x"', puppetdb_url=self.orch.url),
                                   format="json")
        assert response.status_code == 200, response.content

    def test_save_then_get_never_returns_the_token_and_empty_keeps_it(self):
        response = self.client.put(self.url, data=self.valid(), format="json")
        assert response.status_code == 200, response.content
        plugin = plugins.get("autodiag")
        assert plugin.get_option("token", self.project) == self.orch.token
        response = self.client.get(self.url)
        assert response.status_code == 200
        assert self.orch.token not in response.content.decode()
        token_field = next(f for f in response.data["config"] if f["name"] == "token")
        assert token_field["hasSavedValue"] is True and token_field["value"] is None
        assert token_field["required"] is False
        names = [f["name"] for f in response.data["config"]]
        assert names[:3] == ["url", "token", "ca_cert"] and "pql_scope" in names and "email_participants" in names
        assert all(f["help"] for f in response.data["config"])
        response = self.client.put(self.url, data=self.valid(token=""), format="json")
        assert response.status_code == 200, response.content
        assert plugin.get_option("token", self.project) == self.orch.token

    def test_test_plugin_button(self):
        assert self.client.put(self.url, data=self.valid(), format="json").status_code == 200
        assert self.client.post(self.url).status_code in (200, 201)  # enable
        response = self.client.post(self.url, data={"test": True}, format="json")
        assert response.status_code == 200
        assert response.data["detail"].startswith("Test passed"), response.data

        plugins.get("autodiag").set_option("task", "diagnostics::missing", self.project)
        response = self.client.post(self.url, data={"test": True}, format="json")
        assert "Test failed" in response.data["detail"] and "not installed" in response.data["detail"]

        plugins.get("autodiag").set_option("token", "wrong", self.project)
        response = self.client.post(self.url, data={"test": True}, format="json")
        assert "Test failed" in response.data["detail"] and "token" in response.data["detail"]
