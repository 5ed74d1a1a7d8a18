"""The Bolt runner (sentry_autodiag.bolt) against the Bolt lab (tests/bolt_lab.py): the Bolt
stand-in, which answers as real Bolt 4.0.0 did (tests/test_bolt_answers.py), running the real
task over a real OpenSSH server; every way a run ends becomes the report or a note that says why.

The runs of one module start together and are followed the way the flow follows them:
start → job → job_node, no worker waiting on Bolt."""
import json
import os
import time

import pytest

from bolt_lab import lab
from sentry_autodiag import bolt, diagnosis
from sentry_autodiag import orchestrator as oc
from sentry_autodiag.report import NoteContext

# make test runs this file with the task's tests under pytest-xdist (--dist loadgroup): one
# worker takes the whole module, so its runs and its sshd start once.
pytestmark = pytest.mark.xdist_group("bolt")

PARAMS = {"log_lines": 5, "max_bytes": 65536}
CTX = NoteContext(node="web01", task="diagnostics::collect", environment="production")


def wait(client, job, limit=90.0):
    """Polls like the flow: the state until done; returns (Job, error raised by job() or None)."""
    deadline = time.time() + limit
    while True:
        try:
            state = client.job(job)
        except bolt.BoltError as exc:
            return None, exc
        if state.done:
            return state, None
        assert time.time() < deadline, "Bolt run %s still running after %s s" % (job, limit)
        time.sleep(0.3)


@pytest.fixture(scope="module")
def runs():
    """One run per case, all started at once, then followed to their end."""
    the_lab = lab()
    client = bolt.BoltClient(the_lab.bolt, the_lab.project, the_lab.state_dir)
    os.makedirs(the_lab.state_dir, exist_ok=True)
    garbled = bolt.BoltClient(the_lab.garbled_bolt, the_lab.project, the_lab.state_dir)
    small = bolt.BoltClient(the_lab.bolt, the_lab.project, the_lab.state_dir, max_output=4096)
    started = time.time()
    cases = {
        "ok": (client, "diagnostics::collect", "web01", 120),
        "down": (client, "diagnostics::collect", "down01", 60),
        "badkey": (client, "diagnostics::collect", "badkey01", 60),
        "newhost": (client, "diagnostics::collect", "newhost01", 60),
        "notask": (client, "diagnostics::nope", "web01", 60),
        "garbled": (garbled, "diagnostics::collect", "down01", 60),
        "timeout": (client, "diagnostics::collect", "tarpit01", 4),
        "toobig": (small, "diagnostics::collect", "web01", 120),
    }
    jobs = {name: (c, c.run_task(task, PARAMS, nodes=[node], timeout=timeout), node)
            for name, (c, task, node, timeout) in cases.items()}
    assert time.time() - started < 10, "starting Bolt must not wait for it"
    out = {}
    for name, (c, job, node) in jobs.items():
        state, error = wait(c, job)
        out[name] = (job, state, error, c.job_node(job, node) if state else None)
    return out


def test_the_real_task_runs_over_ssh_and_its_report_comes_back(runs):
    job, state, error, node = runs["ok"]
    assert error is None and state.state == "finished"
    assert job.startswith("bolt-") and node.state == "finished" and node.error is None
    assert node.report["version"] and node.report["max_bytes"] == 65536  # our params reached the task
    assert [s["id"] for s in node.report["sections"]][:2] == ["host", "cpu"]
    note = diagnosis.note_for_node(CTX._replace(job=job), node)
    assert note.startswith("**Puppet diagnostics** for `web01` — ✅ finished")
    assert "Bolt run `%s`" % job in note and "PE job" not in note and "**Host**" in note


@pytest.mark.parametrize("case, headline, words", [
    ("down", "node unreachable over SSH", "Connection refused"),
    ("badkey", "authentication refused", "Authentication failed"),
    ("newhost", "host key unknown", "Host key verification failed"),
])
def test_connection_failures_name_their_cause(runs, case, headline, words):
    job, state, error, node = runs[case]
    assert error is None and state.state == "failed"
    assert node.state == "errored" and node.error["kind"] == "puppetlabs.tasks/connect-error"
    note = diagnosis.note_for_node(CTX._replace(job=job), node)
    assert "⚠️ %s" % headline in note and words in note
    assert "**What to do**" in note
    for other in {"node unreachable over SSH", "authentication refused", "host key unknown"} - {headline}:
        assert other not in note


def test_a_task_missing_from_the_project_is_said(runs):
    job, state, error, node = runs["notask"]
    assert state is None and isinstance(error, bolt.BoltError) and error.kind == "bolt/unknown-task"
    note = diagnosis.note_for_error(CTX, error)
    assert "⚠️ task not found in the Bolt project" in note and "nope" in note


def test_output_that_is_not_bolts_json_is_a_clear_error(runs):
    job, state, error, node = runs["garbled"]
    assert isinstance(error, bolt.BoltOutputError)
    assert "without its JSON result" in error.message and '{ "items": [' in error.message
    assert "⚠️ unreadable Bolt output" in diagnosis.note_for_error(CTX, error)


def test_a_run_past_the_job_timeout_is_ended(runs):
    job, state, error, node = runs["timeout"]
    assert isinstance(error, bolt.BoltTimeout), error
    assert "job timeout of 4 seconds" in error.message
    assert "⚠️ timed out" in diagnosis.note_for_error(CTX, error)


def test_output_beyond_the_bound_is_cut_and_said(runs):
    job, state, error, node = runs["toobig"]
    assert isinstance(error, bolt.BoltOutputError) and "exceeded the limit of 4096 bytes" in error.message


def test_stop_ends_bolt_and_its_ssh_session():
    the_lab = lab()
    client = bolt.BoltClient(the_lab.bolt, the_lab.project, the_lab.state_dir)
    job = client.run_task("diagnostics::collect", {}, nodes=["tarpit01"], timeout=300)
    assert client.job(job).state == "running"
    pgid = int(open(os.path.join(the_lab.state_dir, job, "pgid")).read())
    assert client.stop(job, force=True) == {"stopped": 1}
    for _ in range(50):
        if not bolt._alive(pgid):
            break
        time.sleep(0.1)
    assert not bolt._alive(pgid)
    assert client.job(job).state == "stopped" and client.job_node(job, "tarpit01") is None


@pytest.mark.parametrize("nodes, query", [(["web01,down01"], None), (["*"], None), (["-x"], None),
                                          (["a", "b"], None), (["web01"], "certname ~ 'x'")])
def test_only_one_plain_node_is_ever_targeted(nodes, query):
    the_lab = lab()
    client = bolt.BoltClient(the_lab.bolt, the_lab.project, the_lab.state_dir)
    with pytest.raises(oc.ConfigurationError):
        client.run_task("diagnostics::collect", {}, nodes=nodes, query=query)


def test_a_missing_binary_or_project_is_a_configuration_error(tmp_path):
    with pytest.raises(oc.ConfigurationError, match="does not exist or is not executable"):
        bolt.BoltClient(str(tmp_path / "bolt"), str(tmp_path), str(tmp_path)).run_task(
            "diagnostics::collect", {}, nodes=["web01"])
    with pytest.raises(oc.ConfigurationError, match="project directory .* does not exist"):
        bolt.BoltClient(lab().bolt, str(tmp_path / "none"), str(tmp_path)).run_task(
            "diagnostics::collect", {}, nodes=["web01"])


def test_a_job_of_another_host_is_lost_not_crashed(tmp_path):
    client = bolt.BoltClient(lab().bolt, lab().project, str(tmp_path))
    with pytest.raises(bolt.BoltJobLost):
        client.job("bolt-" + "0" * 32)
    with pytest.raises(bolt.BoltJobLost):
        client.job("../../etc")


# --- the parser against Bolt's documented output (documentation/json_output_reference.md) ---

DOC_TASK_RUN = """{
  "items":[
    {
      "target": "localhost",
      "action": "task",
      "object": "example",
      "status":"success",
      "value":{
        "phrase": "Hello world!"
      }
    }
  ],
  "target_count": 1,
  "elapsed_time": 1
}"""


def test_documented_task_run_example():
    run = bolt.parse_output(DOC_TASK_RUN.encode(), 0)
    assert run.target_count == 1 and run.elapsed == 1.0
    node = bolt.node_result(run.items["localhost"])
    assert node.state == "finished" and node.report == {"phrase": "Hello world!"} and node.error is None


def test_a_failed_task_keeps_its_error_and_output():
    # Bolt's result for a task exiting 1 with plain stdout (Bolt::Result.for_task)
    out = {"items": [{"target": "web01", "action": "task", "object": "diagnostics::collect", "status": "failure",
                      "value": {"_output": "boom\n", "_error": {
                          "kind": "puppetlabs.tasks/task-error", "issue_code": "TASK_ERROR",
                          "msg": "The task failed with exit code 1", "details": {"exit_code": 1}}}}],
           "target_count": 1, "elapsed_time": 0}
    node = bolt.node_result(bolt.parse_output(json.dumps(out).encode(), 1).items["web01"])
    assert node.state == "failed" and node.output == "boom\n"
    assert node.error["msg"] == "The task failed with exit code 1" and bolt.connect_failure(node) is None
    note = diagnosis.note_for_node(CTX, node)
    assert "The task failed with exit code 1" in note and "boom" in note


@pytest.mark.parametrize("text", ["", "Bolt might be installed as a gem", '{"items": [', "[]", '{"items": 3}'])
def test_malformed_output_never_passes_as_a_result(text):
    with pytest.raises(bolt.BoltOutputError):
        bolt.parse_output(text.encode(), 1, "stderr text")


# --- the check (Test Plugin / sentry-autodiag check) --------------------------------------

def test_check_reports_version_task_and_connection():
    the_lab = lab()
    ok, text = bolt.check(the_lab.bolt, the_lab.project, "diagnostics::collect", "web01")
    assert ok, text
    assert "Bolt 4.0.0 runs" in text and "holds the task diagnostics::collect" in text and "reached web01" in text


def test_check_says_what_fails():
    the_lab = lab()
    ok, text = bolt.check(the_lab.bolt, the_lab.project, "diagnostics::nope")
    assert not ok and "holds no task diagnostics::nope" in text
    ok, text = bolt.check(the_lab.bolt, the_lab.project, "diagnostics::collect", "badkey01")
    assert not ok and "authentication refused" in text and "Authentication failed" in text
    ok, text = bolt.check("/nonexistent/bolt", the_lab.project, "diagnostics::collect")
    assert not ok and "does not exist" in text


def test_the_deploy_example_project_is_valid_for_bolt(tmp_path):
    """deploy/bolt (the README's example project) loads without unknown-option warnings (the
    stand-in warns as Bolt does; real Bolt 4.0.0's answer is recorded: inventory_show_deploy)."""
    import shutil
    import subprocess

    from bolt_lab import ROOT

    project = tmp_path / "bolt"
    shutil.copytree(os.path.join(ROOT, "deploy", "bolt"), str(project))
    done = subprocess.run([lab().bolt, "inventory", "show", "--project", str(project), "--inventoryfile",
                           str(project / "inventory.example.yaml"), "--format", "json"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["targets"] == ["db01.example.com", "web01.example.com"]
    assert b"nknown option" not in done.stderr and b"Warning" not in done.stderr, done.stderr
    # a misspelt option is said (so the check above can fail)
    bad = project / "inventory.example.yaml"
    bad.write_text(bad.read_text().replace("host-key-check:", "host-key-chek:"))
    done = subprocess.run([lab().bolt, "inventory", "show", "--project", str(project), "--inventoryfile", str(bad),
                           "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert b"Unknown option 'host-key-chek'" in done.stderr, done.stderr


def test_the_flows_own_deadline_note_names_bolt():
    note = diagnosis.note_for_timeout(CTX._replace(job="bolt-" + "1" * 32), 120, True)
    assert "⚠️ timed out" in note and "its Bolt process was ended" in note and "orchestrator" not in note
