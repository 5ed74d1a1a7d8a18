"""Routing rules and the metrics snapshot through Sentry's real pipeline: the plugin's tasks,
the local orchestrator over HTTPS running the real collect task, and a real Prometheus
scraping a real node_exporter."""
import os
import shutil
import uuid

import pytest
from sentry.plugins.base import plugins
from sentry.testutils.cases import APITestCase, TestCase

from autodiag_case import AutoDiagCase, app_log, modules_dir  # noqa: F401 (fixtures)
from net_helpers import unused_port
from prometheus_fixtures import real_prometheus  # noqa: F401 (fixture)
from sentry_autodiag.promsnapshot import EVENT_MARK
from sentry_harness import python_error_event, send_event


@pytest.fixture(scope="module")
def api_log():
    """The API's own log, where the task may read it (/var/log)."""
    d = os.path.join("/var/log", "autodiag-api-%s" % uuid.uuid4().hex[:8])
    os.makedirs(d)
    path = os.path.join(d, "api.log")
    with open(path, "w") as fh:
        for i in range(50):
            fh.write("2026-11-21 03:00:%02d ERROR API-LOG-LINE request=%d\n" % (i, i))
    yield path
    shutil.rmtree(d)


def rules(api_log_path):
    return """
- name: api
  match: {service: api}
  log_path: %s
  log_lines: 10
- name: echo timeouts
  match: {exception_type: {regex: '.*Timeout'}}
  task: sample::echo
  params: {message: routed, count: 2}
- name: health checks
  match: {transaction: {glob: '/health*'}}
  diagnose: false
""" % api_log_path


class RoutingPipelineTest(AutoDiagCase, TestCase):
    @pytest.fixture(autouse=True)
    def _metrics(self, real_prometheus, api_log):  # noqa: F811
        self.prom = real_prometheus
        self.api_log = api_log

    def setUp(self):
        super().setUp()
        self.configure(routing_rules=rules(self.api_log), metrics_url=self.prom.url,
                       metrics_ca_cert=self.prom.ca_pem, metrics_user=self.prom.user,
                       metrics_password=self.prom.password, metrics_node_value=self.prom.node_value)

    def test_a_routed_event_gets_its_rules_log_and_the_metrics_table(self):
        saved = send_event(self.project, python_error_event(tags={"service": "api"}))
        note = self.only_note(saved)
        (job,) = self.orch.jobs.values()
        assert job.params["log_path"] == self.api_log and job.params["log_lines"] == 10
        assert "✅ finished" in note and "Routed by rule 1 \\(api\\)" in note
        assert "API-LOG-LINE request=49" in note and "checkout failed" not in note
        metrics = note.split("**Metrics** (Prometheus")[1]
        for name in ("cpu_busy", "load1", "mem_available", "fs_free"):
            assert name in metrics, name
        assert EVENT_MARK in metrics and "GiB" in metrics

    def test_an_event_no_rule_matches_gets_the_default_settings(self):
        saved = send_event(self.project, python_error_event(tags={"service": "web"}))
        note = self.only_note(saved)
        (job,) = self.orch.jobs.values()
        assert job.params["log_path"] == self.app_log and job.params["log_lines"] == 20
        assert "Routed by" not in note and "checkout failed" in note

    def test_a_rule_runs_another_task_with_its_own_parameters(self):
        saved = send_event(self.project, python_error_event(message="ReadTimeout: upstream took too long"))
        note = self.only_note(saved)
        (job,) = self.orch.jobs.values()
        assert (job.task.module, job.task.name) == ("sample", "echo")
        assert job.params == {"message": "routed", "count": 2}
        assert "task `sample::echo`" in note and "Routed by rule 2 \\(echo timeouts\\)" in note

    def test_a_rule_can_say_do_not_diagnose(self):
        saved = send_event(self.project, python_error_event(tags={"transaction": "/healthz"}))
        assert self.notes(saved.group_id) == [] and self.orch.jobs == {}

    def test_hostile_tags_choose_a_rule_but_never_a_parameter(self):
        saved = send_event(self.project, python_error_event(tags={"service": "api", "log_path": "/etc/shadow"}))
        self.only_note(saved)
        (job,) = self.orch.jobs.values()
        assert job.params["log_path"] == self.api_log

    def test_issues_share_a_job_only_under_the_same_rule(self):
        first = send_event(self.project, python_error_event(tags={"service": "api"}, fingerprint=["a"]))
        same_rule = send_event(self.project, python_error_event(tags={"service": "api"}, fingerprint=["b"]))
        other_rule = send_event(self.project, python_error_event(message="ReadTimeout: x", fingerprint=["c"]))
        assert len({first.group_id, same_rule.group_id, other_rule.group_id}) == 3
        assert len(self.orch.jobs) == 2  # one per rule on the same node
        assert self.only_note(same_rule).startswith("**Shared diagnosis**")
        assert not self.only_note(other_rule).startswith("**Shared") and "sample::echo" in self.only_note(other_rule)

    def test_a_failing_prometheus_is_one_line_and_the_report_still_comes(self):
        self.plugin.set_option("metrics_url", "https://localhost:%d" % unused_port(), self.project)
        saved = send_event(self.project, python_error_event(tags={"service": "api"}))
        note = self.only_note(saved)
        assert "✅ finished" in note and "API-LOG-LINE" in note
        assert note.count("**Metrics**") == 1 and "**Metrics**: none from Prometheus: unreachable" in note


class RoutingSettingsApiTest(AutoDiagCase, APITestCase):
    def setUp(self):
        super().setUp()
        self.login_as(self.user)
        self.url = "/api/0/projects/%s/%s/plugins/autodiag/" % (self.organization.slug, self.project.slug)

    def put(self, **fields):
        body = {"url": self.orch.url, "token": self.orch.token, "ca_cert": self.orch.ca_pem}
        body.update(fields)
        return self.client.put(self.url, data=body, format="json")

    def test_a_bad_rule_is_a_field_error_naming_the_rule_and_key(self):
        response = self.put(routing_rules="- name: api\n  match: {service: api}\n  log_lines: lots")
        assert response.status_code == 400
        assert response.data["errors"] == {"routing_rules": "Rule 1 (api): log_lines: must be a whole number "
                                                            "from 1 to 5000."}

    def test_parameters_are_checked_against_the_tasks_metadata_in_pe(self):
        response = self.put(routing_rules="- name: api\n  params: {colour: red}")
        assert response.status_code == 400
        assert "Rule 1 (api): params.colour: the task diagnostics::collect declares no parameter colour" in \
            response.data["errors"]["__all__"]
        assert any("/tasks/diagnostics/collect" in call for call in self.orch.calls)

    def test_good_rules_and_metrics_settings_are_saved(self):
        text = "- name: api\n  match: {service: api}\n  log_path: /var/log/api/app.log\n"
        response = self.put(routing_rules=text, metrics_url="https://prometheus.example.com:9090/",
                            metrics_queries="load1: node_load1{instance=\"{node}\"}")
        assert response.status_code == 200, response.content
        plugin = plugins.get("autodiag")
        assert plugin.get_option("routing_rules", self.project) == text.strip()
        assert plugin.get_option("metrics_url", self.project) == "https://prometheus.example.com:9090"
        fields = {f["name"]: f for f in self.client.get(self.url).data["config"]}
        assert fields["metrics_token"]["required"] is False and fields["metrics_password"]["required"] is False
        assert fields["token"]["required"] is False  # saved: an empty submission keeps it

    def test_prometheus_credentials_over_http_are_refused(self):
        response = self.put(metrics_url="http://prometheus.example.com:9090", metrics_token="t0k")
        assert response.status_code == 400 and "only sent over https" in response.data["errors"]["__all__"]
