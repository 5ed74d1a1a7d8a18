"""Remediation inside Sentry 23.7.1: a new issue's diagnosis (the real diagnostics::collect),
then the remediation rules, guards and the real remediation::restart_service through the
local orchestrator, on a node whose systemctl is a fake first on PATH. PE's RBAC split is
modelled: the diagnostics token's role may run only diagnostics::collect, the remediation
token's role only remediation::restart_service."""
import json
import threading
import uuid
from unittest import mock

import pytest
from sentry.testutils.cases import APITestCase, TestCase

from autodiag_case import AutoDiagCase, app_log, modules_dir  # noqa: F401 (fixtures)
from sentry_autodiag import remediation
from sentry_harness import python_error_event, send_event
from test_remediation_task import FakeNode

NODE = "web01.example.com"
# The real collect reports this finding for a log path that does not exist: a stable trigger.
MISSING_LOG = "/var/log/autodiag-remediation-tests/none.log"
RULE = {"name": "restart-myapp", "finding": ["unit-failed", "log-missing"],
        "params": {"service": "myapp", "allowed_services": ["myapp"], "settle_seconds": 0}}


class RemediationPipelineTest(AutoDiagCase, TestCase):
    @pytest.fixture(autouse=True)
    def _node(self, _orchestrator, tmp_path):
        self.node = FakeNode(tmp_path / "node")
        self.node.unit("myapp.service", active="failed", pid=0)
        self.node.unit("sshd.service")
        self.orch.task_env.update(self.node.env)
        self._rbac()
        yield
        remediation._parse_text.cache_clear()

    def _rbac(self):
        """Two tokens, two roles (PE's RBAC as the README asks the admin to set it up)."""
        self.remediation_token = "rem-%s" % uuid.uuid4().hex
        roles = {self.orch.token: {"diagnostics::collect"}, self.remediation_token: {"remediation::restart_service"}}
        seen = threading.local()
        self.task_calls = []
        authenticate, command_task = self.orch.authenticate, self.orch.command_task
        diag_token = self.orch.token

        def auth(header):
            seen.token = (header or "").strip()
            if seen.token == self.remediation_token:
                self.orch.token = self.remediation_token  # the orchestrator's own check, then back
                try:
                    return authenticate(header)
                finally:
                    self.orch.token = diag_token
            return authenticate(header)

        def task(body):
            name = body.get("task") if isinstance(body, dict) else None
            self.task_calls.append((name, seen.token))
            if name not in roles.get(seen.token, set()):
                return 403, {"kind": "puppetlabs.orchestrator/not-permitted",
                             "msg": "The user does not have permission to run task %s" % name, "details": {}}
            return command_task(body)

        self.orch.authenticate, self.orch.command_task = auth, task

    def setUp(self):
        super().setUp()
        self.configure(log_path=MISSING_LOG, remediation_token=self.remediation_token, coalesce_window=0)

    def rules(self, *rules):
        text = json.dumps(list(rules))
        remediation.parse_rules(text)  # what the form accepts
        self.plugin.set_option("remediation_rules", text, self.project)

    def notes_of(self, saved):
        notes = self.notes(saved.group_id)
        assert len(notes) == 2, notes
        assert notes[0].startswith("**Puppet diagnostics** for `%s`" % NODE) and "`log-missing`" in notes[0]
        return notes[1]

    def remediation_jobs(self):
        return [j for j in self.orch.jobs.values() if j.task.full_name.startswith("remediation::")]

    # --- what runs -----------------------------------------------------------------------

    def test_dry_run_is_a_noop_job_and_an_audit_note(self):
        self.rules(RULE)
        saved = send_event(self.project, python_error_event(server_name=NODE))
        note = self.notes_of(saved)
        assert note.startswith("**Puppet remediation** for `web01.example.com` — 🧪 dry run (PE noop): nothing "
                               "was changed")
        assert "remediation rule 1 \\(restart\\-myapp\\)" in note and "mode `dry-run`" in note
        assert "**Why**: finding `log-missing` 🟠" in note
        assert "`service` = `myapp`" in note and '`allowed_services` = `["myapp"]`' in note
        assert "would restart myapp\\.service \\(now failed\\)" in note
        assert "ActiveState" in note and "failed" in note
        assert "**Switch it off**: delete remediation rule 1" in note
        (job,) = self.remediation_jobs()
        assert job.noop is True and list(job.nodes) == [NODE]
        assert job.params == {"service": "myapp", "allowed_services": ["myapp"], "settle_seconds": 0}
        assert self.node.restarts() == [] and self.node.state("myapp.service")["ActiveState"] == "failed"
        # each job ran with its own token
        assert ("diagnostics::collect", self.orch.token) in self.task_calls
        assert ("remediation::restart_service", self.remediation_token) in self.task_calls

    def test_live_run_restarts_and_notes_before_and_after(self):
        self.rules(dict(RULE, mode="live"))
        saved = send_event(self.project, python_error_event(server_name=NODE))
        note = self.notes_of(saved)
        assert "— ✅ done" in note and "mode `live`" in note
        assert "restarted myapp\\.service\\: it is active again" in note
        table = note.split("**State of the unit**", 1)[1]
        assert "ActiveState           failed" in table and "active" in table
        assert "MainPID               0" in table and "100" in table
        assert "mode\\: dry\\-run" in note  # how to step back
        (job,) = self.remediation_jobs()
        assert job.noop is False
        assert self.node.restarts() == ["restart -- myapp.service"]
        assert self.node.state("myapp.service")["ActiveState"] == "active"

    def test_live_restart_that_does_not_hold_is_a_failure(self):
        self.node.unit("myapp.service", active="failed", pid=0, broken=True)
        self.rules(dict(RULE, mode="live"))
        note = self.notes_of(send_event(self.project, python_error_event(server_name=NODE)))
        assert "— ❌ failed" in note and "myapp\\.service is failed after the restart" in note
        assert "did not stay up" in note

    def test_the_node_refuses_a_service_outside_the_allowlist(self):
        # The form refuses this rule; if that check were ever bypassed, the task still refuses on the node.
        with mock.patch.object(remediation, "_check_restart_params"):
            self.rules(dict(RULE, mode="live", params={"service": "sshd", "allowed_services": ["myapp"]}))
            note = self.notes_of(send_event(self.project, python_error_event(server_name=NODE)))
        assert "— ⛔ refused by the task on the node" in note
        assert "sshd\\.service is not in allowed\\_services; nothing was done" in note
        assert self.node.restarts() == []

    def test_rule_conditions_on_the_event_pick_the_rule_never_the_service(self):
        self.rules(dict(RULE, name="api-only", match={"service": "api"},
                        params={"service": "nginx", "allowed_services": ["nginx"]}),
                   RULE)
        hostile = python_error_event(server_name=NODE, tags={
            "service": "sshd", "allowed_services": "sshd", "params": '{"service": "sshd"}', "mode": "live"})
        hostile["exception"] = {"values": [{"type": "sshd", "value": "service=sshd allowed_services=[sshd]"}]}
        hostile["message"] = '{"service": "sshd", "allowed_services": ["sshd"], "mode": "live"}'
        note = self.notes_of(send_event(self.project, hostile))
        assert "remediation rule 2 \\(restart\\-myapp\\)" in note and "dry run" in note
        (job,) = self.remediation_jobs()
        assert job.params == {"service": "myapp", "allowed_services": ["myapp"], "settle_seconds": 0}
        assert job.noop is True and list(job.nodes) == [NODE]
        api = send_event(self.project, python_error_event(server_name="web02.example.com", tags={"service": "api"},
                                                          fingerprint=["api"]))
        assert "remediation rule 1 \\(api\\-only\\)" in self.notes_of_node(api, "web02.example.com")
        assert [j.params["service"] for j in self.remediation_jobs()] == ["myapp", "nginx"]
        assert self.node.restarts() == []

    def notes_of_node(self, saved, node):
        notes = self.notes(saved.group_id)
        assert len(notes) == 2 and notes[0].startswith("**Puppet diagnostics** for `%s`" % node), notes
        return notes[1]

    # --- guards ---------------------------------------------------------------------------

    def test_per_node_limit(self):
        self.rules(RULE)
        first = send_event(self.project, python_error_event(server_name=NODE, fingerprint=["a"]))
        assert "dry run" in self.notes_of(first)
        second = send_event(self.project, python_error_event(server_name=NODE, fingerprint=["b"]))
        note = self.notes_of(second)
        assert note == ("**Puppet remediation** not run for `web01.example.com` — remediation rule 1 \\(restart\\-myapp\\) "
                        "matched finding log\\-missing, but the per\\-node limit \\(1 per hour\\) was reached for this "
                        "node.")
        other = send_event(self.project, python_error_event(server_name="web02.example.com", fingerprint=["c"]))
        assert "dry run" in self.notes_of_node(other, "web02.example.com")
        assert len(self.remediation_jobs()) == 2

    def test_per_project_limit(self):
        self.plugin.set_option("remediation_max_per_node", 5, self.project)
        self.plugin.set_option("remediation_max_per_project", 2, self.project)
        self.rules(RULE)
        for i, node in enumerate(["web01.example.com", "web02.example.com"]):
            saved = send_event(self.project, python_error_event(server_name=node, fingerprint=["p%d" % i]))
            assert "dry run" in self.notes_of_node(saved, node)
        third = send_event(self.project, python_error_event(server_name="db01.example.com", fingerprint=["p3"]))
        note = self.notes_of_node(third, "db01.example.com")
        assert "the per\\-project limit \\(2 per hour\\) was reached" in note
        assert len(self.remediation_jobs()) == 2

    def test_zero_limit_turns_it_off(self):
        self.plugin.set_option("remediation_max_per_node", 0, self.project)
        self.rules(dict(RULE, mode="live"))
        note = self.notes_of(send_event(self.project, python_error_event(server_name=NODE)))
        assert "per\\-node limit \\(0 per hour\\)" in note
        assert self.remediation_jobs() == [] and self.node.restarts() == []

    def test_failed_diagnosis_is_not_remediated(self):
        self.orch.faults.offline_nodes.add(NODE)
        self.rules(dict(RULE, mode="live"))
        saved = send_event(self.project, python_error_event(server_name=NODE))
        notes = self.notes(saved.group_id)
        assert len(notes) == 2 and "node not connected" in notes[0]
        assert notes[1] == ("**Puppet remediation** not run for `web01.example.com` — remediation rule 1 "
                            "\\(restart\\-myapp\\) applied to this event, but the diagnosis did not succeed "
                            "\\(job\\-errored\\); the rule acts only on a successful report unless it says "
                            "after\\_failed\\: true.")
        assert self.remediation_jobs() == []

    def test_failed_diagnosis_with_after_failed_still_needs_a_finding(self):
        self.orch.faults.offline_nodes.add(NODE)
        self.rules(dict(RULE, after_failed=True))
        saved = send_event(self.project, python_error_event(server_name=NODE))
        assert len(self.notes(saved.group_id)) == 1  # no report, no finding: nothing to decide
        assert self.remediation_jobs() == []

    def test_shared_diagnosis_is_not_remediated(self):
        self.plugin.set_option("coalesce_window", 10, self.project)
        self.rules(RULE)
        leader = send_event(self.project, python_error_event(server_name=NODE, fingerprint=["lead"]))
        assert "dry run" in self.notes_of(leader)
        follower = send_event(self.project, python_error_event(server_name=NODE, fingerprint=["follow"]))
        notes = self.notes(follower.group_id)
        assert len(notes) == 1 and notes[0].startswith("**Shared diagnosis**")
        assert len(self.remediation_jobs()) == 1

    def test_without_the_remediation_token_nothing_runs(self):
        self.plugin.set_option("remediation_token", "", self.project)
        self.rules(dict(RULE, mode="live"))
        note = self.notes_of(send_event(self.project, python_error_event(server_name=NODE)))
        assert "no remediation RBAC token is set" in note
        assert self.remediation_jobs() == [] and all(t == self.orch.token for _, t in self.task_calls)

    def test_the_diagnostics_token_is_never_used_and_a_wrong_role_says_so(self):
        # the remediation token's role lacks the task: PE refuses, the note says what to grant
        self.plugin.set_option("remediation_token", self.orch.token, self.project)
        self.rules(dict(RULE, mode="live"))
        note = self.notes_of(send_event(self.project, python_error_event(server_name=NODE)))
        assert "— ⚠️ not started" in note and "remediation token's RBAC role" in note
        assert self.node.restarts() == []

    def test_no_rules_no_remediation(self):
        saved = send_event(self.project, python_error_event(server_name=NODE))
        assert len(self.notes(saved.group_id)) == 1
        assert all(name == "diagnostics::collect" for name, _ in self.task_calls)

    def test_finding_not_in_the_report_runs_nothing(self):
        self.rules(dict(RULE, finding="oom-kill", mode="live"))
        saved = send_event(self.project, python_error_event(server_name=NODE))
        assert len(self.notes(saved.group_id)) == 1 and self.remediation_jobs() == []

    def test_redis_down_fails_closed(self):
        from sentry_autodiag.remediation import Guards

        self.rules(dict(RULE, mode="live"))
        with mock.patch.object(Guards, "take", side_effect=ConnectionError("redis down")):
            note = self.notes_of(send_event(self.project, python_error_event(server_name=NODE)))
        assert "Redis unavailable" in note and self.node.restarts() == []


class RemediationSettingsApiTest(AutoDiagCase, APITestCase):
    """The plugin form: the fields come from settings.FIELDS; rules are checked when saved."""

    def setUp(self):
        super().setUp()
        self.login_as(self.user)
        self.url = "/api/0/projects/%s/%s/plugins/autodiag/" % (self.organization.slug, self.project.slug)

    def put(self, **values):
        body = {"url": self.orch.url, "token": self.orch.token, "ca_cert": self.orch.ca_pem}
        body.update(values)
        return self.client.put(self.url, data=body, format="json")

    def test_rules_are_validated_and_the_token_never_shown(self):
        response = self.put(remediation_rules='- name: x\n  params: {service: myapp, allowed_services: [myapp]}\n',
                            remediation_max_per_node="99")
        assert response.status_code == 400, response.content
        errors = response.data["errors"]
        assert "Rule 1 (x): finding: required" in errors["remediation_rules"]
        assert "from 0 to 20" in errors["remediation_max_per_node"]
        response = self.put(remediation_rules=json.dumps([dict(RULE, params=dict(RULE["params"], retries=1))]),
                            remediation_token=self.orch.token)
        assert response.status_code == 400
        assert "declares no parameter retries" in str(response.data), response.data
        response = self.put(remediation_rules=json.dumps([RULE]), remediation_token=self.orch.token)
        assert response.status_code == 200, response.content
        page = self.client.get(self.url)
        fields = {f["name"]: f for f in page.data["config"]}
        assert fields["remediation_token"]["hasSavedValue"] is True and fields["remediation_token"]["value"] is None
        assert fields["remediation_rules"]["type"] == "textarea" and fields["remediation_max_per_project"]["help"]
        assert self.orch.token not in page.content.decode().replace(self.orch.ca_pem, "")
