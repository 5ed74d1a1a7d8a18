"""The orchestrator client against the local orchestrator (real HTTPS, real tasks), and
the local orchestrator itself: it must answer and refuse like PE."""
import json
import os
import socket
import threading
import time

import pytest

from net_helpers import unused_port
from sentry_autodiag import orchestrator as oc
from localorch.server import LocalOrchestrator
from localorch import pki

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE_MODULES = os.path.join(HERE, "modules")
NODES = ["web01.example.com", "web02.example.com", "db01.example.com"]


@pytest.fixture
def orch():
    with LocalOrchestrator(nodes=NODES, modules_dir=SAMPLE_MODULES, token="s3cret-token",
                           permitted_tasks=None) as server:
        yield server


@pytest.fixture
def client(orch):
    with oc.OrchestratorClient(orch.url, orch.token, orch.ca_pem, read_timeout=10) as c:
        yield c


def wait_done(client, name, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.job(name)
        if job.done:
            return job
        time.sleep(0.05)
    raise AssertionError("job %s not done" % name)


def run_one(client, task, params, node="web01.example.com"):
    name = client.run_task(task, params, nodes=[node])
    job = wait_done(client, name)
    (result,) = client.job_nodes(name)
    return job, result


# --- success paths -------------------------------------------------------------------


def test_task_result_json_object(client, orch):
    name = client.run_task("sample::echo", {"message": "hi", "count": 2}, nodes=["web01.example.com"],
                           description="Sentry issue 42", userdata={"sentry_issue": 42}, timeout=60)
    job = wait_done(client, name)
    assert (job.state, job.node_count, job.node_states) == ("finished", 1, {"finished": 1})
    assert job.raw["description"] == "Sentry issue 42" and job.raw["userdata"] == {"sentry_issue": 42}
    (node,) = client.job_nodes(name)
    assert node.state == "finished" and node.error is None and node.output is None
    assert node.report["message"] == "hi" and node.report["count"] == 2
    assert node.report["_task"] == "sample::echo" and "_target" not in node.report  # _target: remote tasks only
    assert node.duration is not None and node.start_timestamp and node.finish_timestamp


def test_plain_text_output_is_wrapped(client):
    job, node = run_one(client, "sample::plain", {})
    assert job.state == "finished"
    assert node.output == "plain text output\nsecond line\n" and node.report is None


def test_non_zero_exit_is_a_failed_node_with_the_task_error(client):
    job, node = run_one(client, "sample::fail", {})
    assert job.state == "failed" and node.state == "failed"
    assert node.error == {"kind": "puppetlabs.tasks/task-error", "msg": "The task errored with a code 3",
                          "details": {"exitcode": 3}}
    assert node.output == "something went wrong\n"


def test_task_own_error_object(client):
    job, node = run_one(client, "sample::error", {})
    assert node.state == "failed"
    assert node.error == {"kind": "sample/broken", "msg": "the widget is broken", "details": {"widget": 7}}


def test_real_diagnostics_task_runs(orch, client):
    orch.modules_dir = os.path.join(os.path.dirname(HERE), "puppet")
    job, node = run_one(client, "diagnostics::collect", {"log_lines": 3})
    assert job.state == "finished"
    assert [s["id"] for s in node.report["sections"]][0] == "host"


def test_query_scope_runs_only_matching_nodes(client):
    name = client.run_task("sample::echo", {"message": "q"},
                           query='nodes[certname] { certname ~ "^web0[0-9]\\\\.example\\\\.com$" }')
    wait_done(client, name)
    assert sorted(n.name for n in client.job_nodes(name)) == ["web01.example.com", "web02.example.com"]


def test_query_scope_outside_allowlist_is_empty_target(client):
    with pytest.raises(oc.EmptyTarget) as exc:
        client.run_task("sample::echo", {"message": "q"},
                        query='nodes[certname] { certname = "evil.example.com" and certname ~ "^web" }')
    assert not exc.value.retryable and "No Puppet node matched" in exc.value.message


def test_inventory(client, orch):
    orch.set_connected("db01.example.com", False)
    assert client.inventory(["web01.example.com", "db01.example.com", "ghost"]) == {
        "web01.example.com": True, "db01.example.com": False, "ghost": False}


def test_token_whitespace_is_stripped(orch):
    with oc.OrchestratorClient(orch.url, "\n  %s \n" % orch.token, orch.ca_pem) as c:
        assert c.inventory(["web01.example.com"]) == {"web01.example.com": True}


def test_ca_may_be_a_path(orch, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text(orch.ca_pem)
    with oc.OrchestratorClient(orch.url + "/orchestrator/v1/", orch.token, str(ca)) as c:
        assert c.inventory(["web01.example.com"])["web01.example.com"] is True


# --- errors --------------------------------------------------------------------------


def test_bad_token_is_auth_error_and_never_leaks(orch):
    with oc.OrchestratorClient(orch.url, "wrong-token-value", orch.ca_pem) as c:
        with pytest.raises(oc.AuthError) as exc:
            c.run_task("sample::echo", {"message": "x"}, nodes=["web01.example.com"])
        assert "wrong-token-value" not in repr(c)
    assert exc.value.status == 401 and not exc.value.retryable
    assert "wrong-token-value" not in exc.value.message and "puppet-access" in exc.value.message


def test_token_expiry_after_n_calls(client, orch):
    orch.faults.token_expires_after = 2
    client.inventory(["web01.example.com"])
    client.inventory(["web01.example.com"])
    with pytest.raises(oc.AuthError) as exc:
        client.inventory(["web01.example.com"])
    assert exc.value.kind == "puppetlabs.rbac/token-expired" and "has expired" in exc.value.message


def test_not_permitted(orch, client):
    orch.permitted_tasks = {"sample::plain"}
    with pytest.raises(oc.NotPermitted) as exc:
        client.run_task("sample::echo", {"message": "x"}, nodes=["web01.example.com"])
    assert exc.value.status == 403 and "RBAC role" in exc.value.message


def test_unknown_environment_and_task(client):
    with pytest.raises(oc.UnknownEnvironment):
        client.run_task("sample::echo", {"message": "x"}, nodes=["web01.example.com"], environment="staging")
    with pytest.raises(oc.UnknownTask) as exc:
        client.run_task("sample::nope", {}, nodes=["web01.example.com"])
    assert exc.value.status == 404 and not exc.value.retryable


@pytest.mark.parametrize("params", [{"message": "x", "extra": 1}, {"message": ""}, {"count": 1},
                                    {"message": "x", "count": 11}, {"message": 5}])
def test_params_are_validated_like_pe(client, params):
    with pytest.raises(oc.RequestInvalid) as exc:
        client.run_task("sample::echo", params, nodes=["web01.example.com"])
    assert exc.value.status == 400 and exc.value.kind == "puppetlabs.orchestrator/validation-error"


def test_bad_pql_is_query_error(client):
    with pytest.raises(oc.QueryError):
        client.run_task("sample::echo", {"message": "x"}, query="nodes { certname = }")


def test_offline_node_is_errored_with_the_broker_message(client, orch):
    orch.faults.offline_nodes.add("web02.example.com")
    job, node = run_one(client, "sample::echo", {"message": "x"}, node="web02.example.com")
    assert job.state == "failed" and node.state == "errored"
    assert node.error["msg"] == "web02.example.com is not connected to the PCP broker"
    assert node.error["kind"] == "puppetlabs.orchestrator/execution-failure"
    assert client.inventory(["web02.example.com"]) == {"web02.example.com": False}


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_5xx_and_429_are_retryable(client, orch, status):
    orch.faults.http_errors = [status]
    with pytest.raises(oc.TransientError) as exc:
        client.inventory(["web01.example.com"])
    assert exc.value.retryable and exc.value.status == status
    assert client.inventory(["web01.example.com"])["web01.example.com"] is True  # burst over


def test_connection_reset_is_retryable(client, orch):
    orch.faults.resets = 1
    with pytest.raises(oc.TransientError) as exc:
        client.inventory(["web01.example.com"])
    assert exc.value.retryable
    assert client.inventory(["web01.example.com"])["web01.example.com"] is True


def test_malformed_json_is_a_protocol_error(client, orch):
    name = client.run_task("sample::echo", {"message": "x"}, nodes=["web01.example.com"])
    orch.faults.malformed = 1
    with pytest.raises(oc.ProtocolError) as exc:
        client.job(name)
    assert "not JSON" in exc.value.message and exc.value.retryable  # a look can be repeated


def test_an_unreadable_2xx_to_the_start_is_not_retried(client, orch):
    """A 2xx to POST /command/task took the task: sending it again could run it twice."""
    orch.faults.malformed = 1
    with pytest.raises(oc.StartUnconfirmed) as exc:
        client.run_task("sample::echo", {"message": "x"}, nodes=["web01.example.com"])
    assert isinstance(exc.value, oc.ProtocolError) and not exc.value.retryable
    assert "HTTP 200" in exc.value.message and "not started again" in exc.value.message
    assert exc.value.reason == "start-unconfirmed"


def test_job_404_right_after_creation_is_retryable(client, orch):
    orch.faults.job_404_gets = 2
    name = client.run_task("sample::echo", {"message": "x"}, nodes=["web01.example.com"])
    for _ in range(2):
        with pytest.raises(oc.JobNotFound) as exc:
            client.job(name)
        assert exc.value.retryable
    assert wait_done(client, name).state == "finished"


def test_oversized_output_fails_the_node(client, orch):
    orch.faults.oversized_nodes.add("web01.example.com")
    job, node = run_one(client, "sample::noisy", {})
    assert node.state == "failed" and node.error["kind"] == "puppetlabs.pxp-agent/output-too-large"


def test_slow_start_then_stop_stops_the_job(client, orch):
    orch.faults.slow_start = 30
    name = client.run_task("sample::echo", {"message": "x"}, nodes=["web01.example.com"])
    assert client.job(name).state in ("new", "ready")
    counts = client.stop(name)
    assert sum(counts.values()) == 1
    job = wait_done(client, name, timeout=5)
    assert job.state == "stopped" and client.job_nodes(name)[0].state == "stopped"
    assert client.stop(name) == {"stopped": 1}  # idempotent


def test_slow_task_forced_stop_kills_it(client, orch):
    name = client.run_task("sample::sleep", {"seconds": 60}, nodes=["web01.example.com"])
    deadline = time.monotonic() + 10
    while client.job(name).state != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    client.stop(name, force=True)
    job = wait_done(client, name, timeout=10)
    assert job.state == "stopped"


def test_per_node_task_timeout_fails_the_node(client):
    name = client.run_task("sample::sleep", {"seconds": 30}, nodes=["web01.example.com"], timeout=1)
    job = wait_done(client, name, timeout=15)
    node = client.job_nodes(name)[0]
    assert job.state == "failed" and node.error["kind"] == "puppetlabs.tasks/task-timeout"


def test_slow_task_fault_delays_the_node(client, orch):
    orch.faults.slow_task = {"web01.example.com": 0.6}
    start = time.monotonic()
    job, node = run_one(client, "sample::echo", {"message": "x"})
    assert time.monotonic() - start >= 0.6 and node.state == "finished"


def test_connection_refused_is_retryable(orch):
    with oc.OrchestratorClient("https://localhost:%d" % unused_port(), "t", orch.ca_pem) as c:
        with pytest.raises(oc.TransientError) as exc:
            c.inventory(["x"])
    assert "unreachable" in exc.value.message


def test_read_timeout_is_retryable(orch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    try:
        with oc.OrchestratorClient("https://localhost:%d" % listener.getsockname()[1], "t", orch.ca_pem,
                                   connect_timeout=1, read_timeout=0.5) as c:
            with pytest.raises(oc.TransientError):
                c.inventory(["x"])
    finally:
        listener.close()


# --- TLS -----------------------------------------------------------------------------


def test_wrong_ca_is_refused(orch):
    other_ca = pki.generate(["localhost"]).ca_pem
    with oc.OrchestratorClient(orch.url, orch.token, other_ca) as c:
        with pytest.raises(oc.TLSError) as exc:
            c.inventory(["web01.example.com"])
    assert not exc.value.retryable and "does not verify" in exc.value.message


def test_host_name_must_match_the_certificate():
    with LocalOrchestrator(nodes=NODES, modules_dir=SAMPLE_MODULES, cert_hostnames=["pe.example.com"]) as server:
        with oc.OrchestratorClient(server.url, server.token, server.ca_pem) as c:
            with pytest.raises(oc.TLSError):
                c.inventory(["web01.example.com"])


def test_system_cas_are_not_trusted(orch):
    # Only the configured CA counts: a context built from another CA has exactly that one.
    context = oc.make_ssl_context(orch.ca_pem)
    assert len(context.get_ca_certs()) == 1 and context.check_hostname


@pytest.mark.parametrize("ca", ["", "not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                                "/nonexistent/ca.pem"])
def test_invalid_ca_is_a_configuration_error(ca):
    with pytest.raises(oc.ConfigurationError):
        oc.OrchestratorClient("https://pe.example.com:8143", "t", ca)


@pytest.mark.parametrize("url", ["http://pe.example.com:8143", "pe.example.com", "https://user:pw@pe:8143",
                                 "https://pe:8143/other", "https://pe:99999", "", "https://pe:8143?x=1"])
def test_invalid_url_is_a_configuration_error(orch, url):
    with pytest.raises(oc.ConfigurationError):
        oc.OrchestratorClient(url, "t", orch.ca_pem)


def test_url_forms_are_normalized():
    assert oc.normalize_base_url("https://pe.example.com") == "https://pe.example.com:8143"
    assert oc.normalize_base_url("https://pe.example.com:443/orchestrator/v1/") == "https://pe.example.com:443"


# --- concurrency ---------------------------------------------------------------------


def test_fifty_concurrent_jobs_all_complete(orch, client):
    names, errors = {}, []

    def submit(i):
        try:
            names[i] = client.run_task("sample::echo", {"message": "job-%d" % i}, nodes=[NODES[i % 3]])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(names.values())) == 50
    assert orch.wait_idle(60)
    for i, name in names.items():
        job = client.job(name)
        (node,) = client.job_nodes(name)
        assert job.state == "finished" and node.report["message"] == "job-%d" % i and node.name == NODES[i % 3]
    assert orch.task_runs == 50


# --- the local orchestrator refuses what PE refuses ----------------------------------


def post(client, path, body, raw=False):
    url = client.base_url + "/orchestrator/v1" + path
    response = client.session.post(url, data=body if raw else json.dumps(body), timeout=10)
    return response.status_code, response.json()


@pytest.mark.parametrize("body, kind", [
    ({"task": "sample::echo", "params": {"message": "x"}, "scope": {"nodes": ["web01.example.com"]}, "bogus": 1},
     "puppetlabs.orchestrator/validation-error"),
    ({"task": "sample::echo", "params": {"message": "x"}, "scope": {}}, "puppetlabs.orchestrator/validation-error"),
    ({"task": "sample::echo", "params": {"message": "x"},
      "scope": {"nodes": ["web01.example.com"], "query": "nodes {}"}}, "puppetlabs.orchestrator/validation-error"),
    ({"task": "sample::echo", "params": ["x"], "scope": {"nodes": ["web01.example.com"]}},
     "puppetlabs.validators/validation-error"),
    ({"task": "sample::echo", "scope": {"nodes": ["web01.example.com"]}}, "puppetlabs.orchestrator/validation-error"),
    ({"task": "sample::echo", "params": {"message": "x"}, "scope": {"nodes": []}}, "puppetlabs.orchestrator/empty-target"),
    ({"task": "sample::echo", "params": {"message": "x"}, "scope": {"nodes": ["web01.example.com"]}, "noop": True},
     "puppetlabs.orchestrator/validation-error"),
    ({"task": "sample::echo", "params": {"message": "x"}, "scope": {"nodes": ["web01.example.com"]}, "timeout": 0},
     "puppetlabs.orchestrator/validation-error"),
    ({"task": "../etc::passwd", "params": {}, "scope": {"nodes": ["web01.example.com"]}},
     "puppetlabs.orchestrator/unknown-task"),
])
def test_local_orchestrator_rejects_bad_task_requests(client, orch, body, kind):
    status, answer = post(client, "/command/task", body)
    assert status in (400, 404) and answer["kind"] == kind and answer["msg"]
    assert orch.jobs == {}


def test_local_orchestrator_rejects_bad_json_and_missing_auth(client, orch):
    status, answer = post(client, "/command/task", "{not json", raw=True)
    assert status == 400 and answer["kind"] == "puppetlabs.orchestrator/validation-error"
    url = client.base_url + "/orchestrator/v1/inventory"
    response = client.session.get(url, headers={"X-Authentication": ""}, timeout=10)
    assert response.status_code == 401 and response.json()["kind"] == "puppetlabs.rbac/user-unauthenticated"
    status, answer = post(client, "/command/stop", {"job": "999"})
    assert status == 404


def test_cli_starts_and_stops_cleanly(tmp_path):
    import subprocess
    import sys

    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-m", "localorch", "--port", "0",
                             "--nodes", "web01.example.com", "--token-file", str(tmp_path / "token"),
                             "--ca-out", str(tmp_path / "ca.pem"), "--ready-file", str(ready)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "devtools")))
    try:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        url = ready.read_text().strip()
        token = (tmp_path / "token").read_text()
        assert oct((tmp_path / "token").stat().st_mode & 0o777) == "0o600"
        with oc.OrchestratorClient(url, token, str(tmp_path / "ca.pem")) as c:
            assert c.inventory(["web01.example.com"]) == {"web01.example.com": True}
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
