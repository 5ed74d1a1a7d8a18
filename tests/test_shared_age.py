"""A shared diagnosis says how old it is for the issue that receives it, and a follower whose
event came well after the snapshot gets a fresh job instead (issue 19, item 5).

Sentry-free: the flow step by step on the real Redis (QueueFrontEnd), the local orchestrator
running the real diagnostics::collect on this machine."""
import os
import time
import uuid

import pytest

from flow_frontend import QueueFrontEnd
from sentry_autodiag import shared
from sentry_autodiag.flow import Flow
from localorch.server import LocalOrchestrator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE = "web01.example.com"


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@pytest.fixture
def frontend():
    with LocalOrchestrator(nodes=[NODE], modules_dir=os.path.join(ROOT, "puppet"),
                           token="tok-%s" % uuid.uuid4().hex) as orch:
        fe = QueueFrontEnd({"url": orch.url, "token": orch.token, "ca_cert": orch.ca_pem,
                            "task": "diagnostics::collect", "log_path": "/var/log/nonexistent-autodiag.log"},
                           issue=("API-1", "ReadTimeout", "/issues/1/"))
        fe.orch = orch
        yield fe
        fe.cleanup()


def test_followers_get_the_age_or_a_fresh_job(frontend):
    flow_ = Flow(frontend, eager=False)
    now = time.time()
    leader, near, late = iso(now - 30), iso(now - 10), iso(now + 11 * 60)
    flow_.start(project=1, issue=101, event_id="a" * 32, node=NODE, since=leader, queued_at=now)
    flow_.start(project=1, issue=102, event_id="b" * 32, node=NODE, since=near, queued_at=now)
    flow_.start(project=1, issue=103, event_id="c" * 32, node=NODE, since=late, queued_at=now)
    frontend.run_queued(flow_, until=lambda: len(frontend.notes) == 3, limit=200)
    notes = {k.split(":")[0]: v for k, v in frontend.notes.items()}
    assert set(notes) == {"101", "102", "103"}
    assert not notes["101"].startswith("**Shared diagnosis**")
    # the near follower: shared, with when the report was collected relative to its event
    # and the event time the findings were judged against
    assert notes["102"].startswith("**Shared diagnosis**")
    age = notes["102"].split("\n\n")[0]
    assert "The shared report was collected at" in age and "after this issue\\'s event" in age.replace("'", "\\'")
    assert "judged against the first issue\\'s event time, %s" % leader.replace("-", "\\-").replace(":", "\\:") \
        in age.replace("'", "\\'")
    # the late follower (11 min after the snapshot > the 5 min default): its own job
    assert not notes["103"].startswith("**Shared diagnosis**")
    assert len(frontend.orch.jobs) == 2
    assert ("autodiag.share.stale", None) in frontend.metrics


def test_age_is_judged_from_the_report_times():
    result = {"collected_at": "2026-11-21T03:14:00Z", "event_time": "2026-11-21T03:12:45Z"}
    assert not shared.is_stale(result, "2026-11-21T03:18:59Z", 5)
    assert shared.is_stale(result, "2026-11-21T03:19:01Z", 5)
    assert not shared.is_stale(result, "2026-11-21T03:30:00Z", 0)   # 0: always share
    assert not shared.is_stale({}, "2026-11-21T03:30:00Z", 5)       # a report without times: share
    line = shared.age_line(result, "2026-11-21T03:13:30Z")
    assert line == ("The shared report was collected at 2026-11-21T03:14:00Z, 30 s after this issue's event "
                    "(2026-11-21T03:13:30Z); its findings were judged against the first issue's event time, "
                    "2026-11-21T03:12:45Z (45 s before this issue's).")
    assert shared.snapshot_of({"collected_at": "junk", "event_time": "2026-11-21T03:12:45Z"}) == {
        "event_time": "2026-11-21T03:12:45Z"}
