"""The `remediate` step as the gateway's queue runs it (not eager: each look at the job is a
step scheduled again), with a minimal front end, a real Redis, the local orchestrator and
the real remediation::restart_service on a fake systemctl. Also: a redelivered step follows
the job it started instead of starting another, and writes one note."""
import json
import os
import shutil
import tempfile

import pytest

from sentry_autodiag import flow as flow_mod, settings as settings_mod
from sentry_autodiag.flow import Flow
from flow_frontend import QueueFrontEnd
from localorch.server import LocalOrchestrator
from test_remediation_task import FakeNode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE = "web01.example.com"
RULE = {"name": "restart-myapp", "finding": "unit-failed", "mode": "live",
        "params": {"service": "myapp", "allowed_services": ["myapp"], "settle_seconds": 0}}
FINDINGS = [{"code": "unit-failed", "severity": "warning", "message": "myapp.service failed 2 min before the event"}]


@pytest.fixture
def world(tmp_path):
    modules = tempfile.mkdtemp(prefix="autodiag-rem-modules-")
    os.symlink(os.path.join(ROOT, "puppet", "remediation"), os.path.join(modules, "remediation"))
    node = FakeNode(tmp_path / "node")
    node.unit("myapp.service", active="failed", pid=0)
    with LocalOrchestrator(nodes=[NODE], modules_dir=modules, task_env=node.env) as orch:
        settings = settings_mod.load({"url": orch.url, "token": "diagnostics-token-unused", "ca_cert": orch.ca_pem,
                                      "remediation_token": orch.token, "remediation_rules": json.dumps([RULE])}.get)
        fe = QueueFrontEnd(settings)
        yield orch, node, fe
        fe.cleanup()
    shutil.rmtree(modules)


def first_step():
    return dict(project="checkout", issue="1", event_id="e1", node=NODE,
                remedy=[{"index": 1, "name": "restart-myapp"}], outcome="job-finished", findings=FINDINGS)


def drain(flow, fe, limit=200):
    ran = fe.run_queued(flow, limit=limit, max_sleep=0)
    assert all(r == ("remediate", flow_mod.REMEDIATION_POLL) for r in ran), ran
    return len(ran)


def test_queued_steps_follow_the_job_to_one_audit_note(world):
    orch, node, fe = world
    flow = Flow(fe, eager=False)
    flow.run("remediate", first_step())
    assert len(orch.jobs) == 1 and fe.queue and fe.notes == {}  # started, not waited for in place
    assert fe.queue[0][1]["job"] == "1"
    drain(flow, fe)
    (note,) = fe.notes.values()
    assert list(fe.notes) == ["1:e1:remediation"]
    assert "— ✅ done" in note and "myapp\\.service" in note
    assert node.restarts() == ["restart -- myapp.service"]
    assert ("autodiag.remediation", {"outcome": "done"}) in fe.metrics


def test_a_redelivered_first_step_follows_the_same_job(world):
    orch, node, fe = world
    flow = Flow(fe, eager=False)
    flow.run("remediate", first_step())
    fe.queue.clear()
    flow.run("remediate", first_step())  # the queue delivered the first message again
    assert len(orch.jobs) == 1
    drain(flow, fe)
    flow.run("remediate", first_step())  # and once more after the note: no second note, no second job
    drain(flow, fe)
    assert len(fe.notes) == 1 and len(orch.jobs) == 1 and node.restarts() == ["restart -- myapp.service"]


def test_a_job_that_outlasts_the_wait_is_noted_as_still_running(world, monkeypatch):
    orch, node, fe = world
    orch.faults.slow_start = 30
    monkeypatch.setattr(flow_mod, "REMEDIATION_WAIT", 0.0)
    flow = Flow(fe, eager=False)
    flow.run("remediate", first_step())
    drain(flow, fe)
    (note,) = fe.notes.values()
    assert "⏳ still running" in note and "did not finish within 0 s" in note and "job 1" in note
    assert ("autodiag.remediation", {"outcome": "pending"}) in fe.metrics


def test_a_second_diagnosis_of_the_same_issue_is_not_remediated_again(world):
    orch, node, fe = world
    flow = Flow(fe, eager=False)
    flow.run("remediate", first_step())
    drain(flow, fe)
    flow.run("remediate", dict(first_step(), event_id="e2"))  # next day's claim, same issue
    assert len(orch.jobs) == 1
    assert "this issue already had its one remediation" in fe.notes["1:e2:remediation"]
