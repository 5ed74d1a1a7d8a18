"""Real Bolt 4.0.0's recorded answers (tests/fixtures/bolt_answers) against (a) the product's
parser and check (sentry_autodiag.bolt) and (b) the Bolt stand-in the other Bolt tests run
(localorch.bolt_standin), which must answer every case as real Bolt did.

Bolt is not packaged in Debian, PyPI or npm, so it was run once to record these; the
recordings are data, not Bolt's code (see the fixtures' README)."""
import glob
import importlib.util
import json
import os
import shutil
import stat

import pytest

from bolt_lab import ROOT, lab
from sentry_autodiag import bolt, diagnosis
from sentry_autodiag.report import NoteContext

pytestmark = pytest.mark.xdist_group("bolt")

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "bolt_answers")
CTX = NoteContext(node="web01", task="diagnostics::collect", environment="production")
_spec = importlib.util.spec_from_file_location("record_bolt_answers", os.path.join(ROOT, "scripts",
                                                                                  "record_bolt_answers.py"))
recorder = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recorder)


def recorded(case):
    with open(os.path.join(FIXTURES, case + ".json")) as f:
        return json.load(f)


def test_every_case_is_recorded_and_nothing_else():
    names = {os.path.basename(p)[:-5] for p in glob.glob(os.path.join(FIXTURES, "*.json"))}
    assert names == set(recorder.CASES)


def run_of(case):
    answer = recorded(case)
    return bolt.parse_output(answer["stdout"].encode(), answer["exit_code"], answer["stderr"])


def node_of(case, target):
    return bolt.node_result(run_of(case).items[target])


# --- (a) the product's parser on what real Bolt printed -----------------------------------


def test_a_real_collect_run_becomes_the_report():
    run = run_of("collect_ok")
    assert run.rc == 0 and run.target_count == 1 and run.elapsed == 0.0
    node = bolt.node_result(run.items["web01"])
    assert node.state == "finished" and node.error is None and node.output is None
    assert [s["id"] for s in node.report["sections"]][:3] == ["host", "cpu", "memory"]
    note = diagnosis.note_for_node(CTX._replace(job="bolt-" + "a" * 32), node)
    assert note.startswith("**Puppet diagnostics** for `web01` — ✅ finished") and "**Host**" in note


def test_a_task_printing_json_gives_its_object():
    node = node_of("files_ok", "web01")
    assert node.state == "finished" and node.report["files"] == [
        "labtasks/files/data.txt", "labtasks/files/lib/helper.sh", "labtasks/tasks/files.sh"]


@pytest.mark.parametrize("case, target", [("env_only_ok", "web01"), ("garbled_task_output", "web01"),
                                          ("echo_ok", "web01.example.com")])
def test_a_task_printing_text_gives_its_output_not_a_report(case, target):
    node = node_of(case, target)
    assert node.state == "finished" and node.error is None and node.output and node.report is None


@pytest.mark.parametrize("case, msg", [
    ("task_failed", "The task failed with exit code 3"),
    ("task_failed_quietly", "The task failed with exit code 2 and no stdout, but stderr contained:\nnothing on stdout\n"),
])
def test_a_failed_task_is_a_failure_with_bolts_message(case, msg):
    run = run_of(case)
    assert run.rc == 1
    node = bolt.node_result(run.items["web01"])
    assert node.state == "failed" and node.error["kind"] == "puppetlabs.tasks/task-error"
    assert node.error["msg"] == msg and bolt.connect_failure(node) is None
    note = diagnosis.note_for_node(CTX, node)
    assert "❌ failed" in note and "The task failed with exit code" in note and msg.splitlines()[-1] in note


@pytest.mark.parametrize("case, target, headline", [
    ("closed_port", "down01", "node unreachable over SSH"),
    ("connect_timeout", "silent01", "node unreachable over SSH"),
    ("unresolvable_host", "nosuchhost.invalid", "node unreachable over SSH"),
    ("refused_key", "badkey01", "authentication refused"),
    ("unknown_host_key", "newhost01", "host key unknown"),
    ("command_closed_port", "down01", "node unreachable over SSH"),
    ("command_refused_key", "badkey01", "authentication refused"),
])
def test_connection_failures_are_named(case, target, headline):
    run = run_of(case)
    assert run.rc == 1
    node = bolt.node_result(run.items[target])
    assert node.state == "errored"
    said, msg, hint = bolt.connect_failure(node)
    assert said == headline and msg == json.loads(recorded(case)["stdout"])["items"][0]["value"]["_error"]["msg"]
    note = diagnosis.note_for_node(CTX._replace(node=target), node)
    assert "⚠️ %s" % headline in note and "**What to do**" in note


@pytest.mark.parametrize("case, headline", [
    ("missing_task", "task not found in the Bolt project"),
    ("params_out_of_range", "task parameters refused"),
    ("params_wrong_type", "task parameters refused"),
    ("params_unknown", "task parameters refused"),
    ("params_missing", "task parameters refused"),
    ("params_pattern", "task parameters refused"),
    ("params_two_wrong", "task parameters refused"),
])
def test_bolts_own_errors_become_their_notes(case, headline):
    with pytest.raises(bolt.BoltError) as caught:
        run_of(case)
    error = caught.value
    assert error.message == json.loads(recorded(case)["stdout"])["_error"]["msg"]
    assert "⚠️ %s" % headline in diagnosis.note_for_error(CTX, error)


def test_output_that_is_not_json_is_unreadable():
    with pytest.raises(bolt.BoltOutputError, match="Unable to parse --params"):
        run_of("params_not_json")


@pytest.fixture
def replay(tmp_path):
    """A `bolt` that prints recorded answers: --version, task show <case>, command run <case>."""
    def make(show, command):
        script = tmp_path / "bolt"
        script.write_text("#!%s\nimport json, sys\nargs = sys.argv[1:]\ncase = %r if args == ['--version'] else "
                          "%r if args[:2] == ['task', 'show'] else %r\nanswer = json.load(open(%r %% case))\n"
                          "sys.stdout.write(answer['stdout']); sys.stderr.write(answer['stderr'])\n"
                          "sys.exit(answer['exit_code'])\n" % (shutil.which("python3"), "version", show, command,
                                                              os.path.join(FIXTURES, "%s.json")))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        return str(script)
    return make


def test_the_check_on_real_bolts_answers(replay, tmp_path):
    ok, text = bolt.check(replay("task_show_found", "command_ok"), str(tmp_path), "diagnostics::collect", "web01")
    assert ok and "Bolt 4.0.0 runs" in text and "reached web01" in text
    ok, text = bolt.check(replay("task_show_missing", "command_ok"), str(tmp_path), "diagnostics::nope")
    assert not ok and "holds no task diagnostics::nope" in text and "bolt/unknown-task" in text
    ok, text = bolt.check(replay("task_show_found", "command_closed_port"), str(tmp_path),
                          "diagnostics::collect", "down01")
    assert not ok and "node unreachable over SSH" in text and "Connection refused" in text
    ok, text = bolt.check(replay("task_show_found", "command_refused_key"), str(tmp_path),
                          "diagnostics::collect", "badkey01")
    assert not ok and "authentication refused" in text
    ok, text = bolt.check(replay("task_show_found", "command_failed"), str(tmp_path), "diagnostics::collect", "web01")
    assert not ok and "command failed" in text and "exit code 1" in text


def test_the_deploy_example_inventory_names_its_targets():
    shown = json.loads(recorded("inventory_show_deploy")["stdout"])
    assert shown["targets"] == ["db01.example.com", "web01.example.com"] and not recorded(
        "inventory_show_deploy")["stderr"]


# --- (b) the stand-in answers as real Bolt did --------------------------------------------


@pytest.fixture(scope="module")
def standin_answers():
    the_lab = lab()
    assert not the_lab.real, "these compare the stand-in; unset AUTODIAG_REAL_BOLT"
    deploy = recorder.deploy_copy()
    try:
        yield recorder.answers(the_lab, deploy)
    finally:
        shutil.rmtree(os.path.dirname(deploy), ignore_errors=True)


def _json(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


def _same_error(real, mine, where):
    assert set(mine) == set(real), where
    for key in ("kind", "issue_code", "msg", "details"):
        assert mine.get(key) == real.get(key), (where, key, mine.get(key), real.get(key))


@pytest.mark.parametrize("case", sorted(recorder.CASES))
def test_the_standin_answers_as_real_bolt_did(standin_answers, case):
    real, mine = recorded(case), standin_answers[case]
    assert mine["argv"] == real["argv"]
    assert mine["exit_code"] == real["exit_code"], mine
    assert mine["stderr"] == real["stderr"]
    rdoc, mdoc = _json(real["stdout"]), _json(mine["stdout"])
    if rdoc is None:  # --version, and Bolt's words for --params that are not JSON
        assert mdoc is None
        if case == "params_not_json":
            assert mine["stdout"].startswith("Unable to parse --params value as JSON: ")
        else:
            assert mine["stdout"] == real["stdout"]
        return
    assert list(mdoc) == list(rdoc)
    if "_error" in rdoc:
        _same_error(rdoc["_error"], mdoc["_error"], case)
    if "items" in rdoc:
        assert len(mdoc["items"]) == len(rdoc["items"]) and mdoc.get("target_count") == rdoc.get("target_count")
        for ritem, mitem in zip(rdoc["items"], mdoc["items"]):
            assert list(mitem) == list(ritem)
            assert {k: mitem[k] for k in ("target", "action", "object", "status")} == \
                {k: ritem[k] for k in ("target", "action", "object", "status")}
            assert list(mitem["value"]) == list(ritem["value"])
            if "_error" in ritem["value"]:
                _same_error(ritem["value"]["_error"], mitem["value"]["_error"], case)
            if case == "collect_ok":  # the node's state differs from run to run; its report's shape does not
                assert [s["id"] for s in mitem["value"]["sections"]] == [s["id"] for s in ritem["value"]["sections"]]
            else:
                assert mitem["value"] == ritem["value"]
        # Bolt's JSON layout, line by line (the items differ only in what the node said)
        assert mine["stdout"].splitlines()[0] == real["stdout"].splitlines()[0] == '{ "items": ['
        assert mine["stdout"].splitlines()[-1] == real["stdout"].splitlines()[-1]
    else:
        assert mdoc == rdoc
