"""The snapshot runs beside the job, as it does under a real Celery worker: each flow step is
a separate call (no eager loop), the Prometheus answer waits in Redis under the diagnosis
id, and the step that sees the finished job writes the note once the snapshot is in
(or its budget is spent). Sentry-free: a minimal FrontEnd on the real Redis, the local
orchestrator over HTTPS, and a local Prometheus stand-in the test holds back at will."""
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest

from flow_frontend import QueueFrontEnd
from net_helpers import unused_port
from sentry_autodiag import flow, promsnapshot
from sentry_autodiag.flow import Flow
from localorch.server import LocalOrchestrator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE = "web01.example.com"
SINCE = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
RULES = "- name: echo\n  match: {service: api}\n  task: sample::echo\n  params: {message: routed}\n"


class HeldPrometheus:
    """Answers query_range with a series that jumps just before the event, once released."""

    def __init__(self):
        self.release = threading.Event()
        self.asked = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.asked.set()
                owner.release.wait(20)
                query = parse_qs(urlsplit(self.path).query)
                start, end = float(query["start"][0]), float(query["end"][0])
                event = start + promsnapshot.BEFORE
                values = [[t, "90" if t > event - 60 else "10"] for t in range(int(start), int(end) + 1, 15)]
                body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
                    {"metric": {"instance": NODE}, "values": values}]}}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", unused_port()), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def orchestrator(tmp_path):
    modules = tmp_path / "modules"
    modules.mkdir()
    os.symlink(os.path.join(ROOT, "tests", "modules", "sample"), str(modules / "sample"))
    with LocalOrchestrator(nodes=[NODE], modules_dir=str(modules), token="tok-%s" % uuid.uuid4().hex) as orch:
        yield orch


@pytest.fixture
def prometheus():
    server = HeldPrometheus()
    yield server
    server.close()


@pytest.fixture
def frontend(orchestrator, prometheus):
    fe = QueueFrontEnd({"url": orchestrator.url, "token": orchestrator.token, "ca_cert": orchestrator.ca_pem,
                        "routing_rules": RULES, "metrics_url": prometheus.url,
                        "metrics_queries": 'busy: {query: \'busy{instance="{node}"}\', unit: percent}'},
                       issue=("API-1", "ReadTimeout", "/issues/1/"))
    yield fe
    fe.cleanup()


def start(flow_):
    flow_.start(project=1, issue=101, event_id="a" * 32, node=NODE, since=SINCE, queued_at=time.time(),
                route={"index": 1, "name": "echo"})


def test_the_job_starts_while_prometheus_is_still_answering(frontend, prometheus, orchestrator):
    flow_ = Flow(frontend, eager=False)
    start(flow_)
    # start returned with the job running and the Prometheus query in flight, not answered
    assert prometheus.asked.wait(5) and not prometheus.release.is_set()
    (job,) = orchestrator.jobs.values()
    assert (job.task.module, job.task.name) == ("sample", "echo") and job.params == {"message": "routed"}
    # the job finishes first: the note waits for the snapshot instead of going out without it
    frontend.run_queued(flow_, until=lambda: job.finished is not None, limit=40)
    frontend.run_queued(flow_, until=lambda: False, limit=3)
    assert frontend.notes == {} and frontend.queue  # a later look is scheduled, no worker blocked
    prometheus.release.set()
    frontend.run_queued(flow_, until=lambda: frontend.notes)
    (note,) = frontend.notes.values()
    assert "Routed by rule 1 \\(echo\\)" in note and "task `sample::echo`" in note
    assert "**Metrics** (Prometheus" in note and "busy" in note and "90.0% ⚠" in note
    assert "`metric-jump`" in note and "busy rose from about 10\\.0% to 90\\.0%" in note


def test_a_snapshot_that_never_arrives_costs_at_most_its_budget(frontend, prometheus, orchestrator):
    flow_ = Flow(frontend, eager=False)
    with mock.patch.object(promsnapshot, "start_in_background", lambda *args: None), \
            mock.patch.object(promsnapshot, "BUDGET", 0.5), mock.patch.object(flow, "METRICS_GRACE", 0.5):
        start(flow_)
        frontend.run_queued(flow_, until=lambda: frontend.notes)
    (note,) = frontend.notes.values()
    assert "✅ finished" in note
    assert "**Metrics**: none from Prometheus: the snapshot did not come back within 0\\.5 s" in note
    assert not prometheus.asked.is_set()


def test_without_a_prometheus_url_nothing_is_stored_or_awaited(frontend, prometheus, orchestrator):
    frontend.config["metrics_url"] = ""
    flow_ = Flow(frontend, eager=False)
    start(flow_)
    frontend.run_queued(flow_, until=lambda: frontend.notes)
    (note,) = frontend.notes.values()
    assert "**Metrics**" not in note and not prometheus.asked.is_set()
    assert not list(frontend.client.scan_iter(frontend.namespace + ":metrics:*"))
