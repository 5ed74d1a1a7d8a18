"""How the flow paces itself against what PE says, step by step as a worker pool runs it
(Sentry-free: flow_frontend.QueueFrontEnd, the real Redis, the local orchestrator over HTTPS):
a Retry-After is honoured by the next start and the next poll; a job PE calls done while our
node's own item still says running gets another look instead of a "running" note; a 2xx to
the start that names no job is reported once, never sent again."""
import os
import time
import uuid

import pytest

from flow_frontend import QueueFrontEnd
from sentry_autodiag import flow as flow_mod
from sentry_autodiag.flow import Flow
from localorch.server import LocalOrchestrator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE = "web01.example.com"
START = "POST /orchestrator/v1/command/task"


@pytest.fixture
def orchestrator(tmp_path):
    modules = tmp_path / "modules"
    modules.mkdir()
    os.symlink(os.path.join(ROOT, "puppet", "diagnostics"), str(modules / "diagnostics"))
    with LocalOrchestrator(nodes=[NODE], modules_dir=str(modules), token="tok-%s" % uuid.uuid4().hex,
                           task_env={"TMPDIR": str(tmp_path)}) as orch:
        yield orch


@pytest.fixture
def frontend(orchestrator):
    fe = QueueFrontEnd({"url": orchestrator.url, "token": orchestrator.token, "ca_cert": orchestrator.ca_pem,
                        "job_timeout": "120"})
    yield fe
    fe.cleanup()


def start(flow_):
    flow_.start(project=1, issue=101, event_id="b" * 32, node=NODE, since=None, queued_at=time.time())


def test_a_retry_after_on_the_start_is_honoured(frontend, orchestrator):
    orchestrator.faults.retry_after = 40
    orchestrator.faults.http_errors = [503]
    start(Flow(frontend, eager=False))
    ((step, kwargs, countdown),) = frontend.queue
    assert step == "start" and kwargs["attempt"] == 2
    assert countdown >= 40  # the backoff alone would be a few seconds
    assert orchestrator.jobs == {}


def test_a_retry_after_on_a_poll_is_honoured_within_the_deadline(frontend, orchestrator):
    flow_ = Flow(frontend, eager=False)
    start(flow_)
    ((step, kwargs, _),) = frontend.queue
    assert step == "poll"
    frontend.queue.clear()
    orchestrator.faults.retry_after = 45
    orchestrator.faults.http_errors = [429]
    flow_.run(step, kwargs)
    ((step, again, countdown),) = frontend.queue
    assert step == "poll" and again["failures"] == 1 and 45 <= countdown <= again["deadline"] - time.time() + 1
    orchestrator.faults.retry_after = 10 ** 6  # never past the diagnosis deadline
    orchestrator.faults.http_errors = [503]
    frontend.queue.clear()
    flow_.run(step, again)
    ((_, last, countdown),) = frontend.queue
    assert countdown <= last["deadline"] - time.time() + 1 and frontend.notes == {}


def test_a_done_job_whose_node_item_still_runs_gets_another_look(frontend, orchestrator):
    orchestrator.faults.lagging_node_gets = 2
    flow_ = Flow(frontend, eager=False)
    start(flow_)
    frontend.run_queued(flow_, until=lambda: frontend.notes)
    (note,) = frontend.notes.values()
    assert "✅ finished" in note and "running" not in note.split("\n", 3)[0]
    assert ("autodiag.job.finished", {"state": "finished"}) in frontend.metrics


def test_a_node_item_that_never_catches_up_is_written_after_a_bounded_number_of_looks(frontend, orchestrator):
    orchestrator.faults.lagging_node_gets = 1000
    flow_ = Flow(frontend, eager=False)
    start(flow_)
    frontend.run_queued(flow_, until=lambda: frontend.notes)
    assert len(frontend.notes) == 1
    (job,) = orchestrator.jobs.values()
    assert 1000 - job.lagging_gets == flow_mod.SETTLE_LOOKS + 1  # the looks taken, then the note


def test_an_unreadable_2xx_to_the_start_is_reported_once_and_not_sent_again(frontend, orchestrator):
    orchestrator.faults.malformed = 1
    start(Flow(frontend, eager=False))
    (note,) = frontend.notes.values()
    assert "job start unconfirmed" in note and "not started again" in note
    assert frontend.queue == [] and orchestrator.calls.get(START, 0) <= 1
