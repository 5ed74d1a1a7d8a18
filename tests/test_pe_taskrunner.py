"""The local orchestrator's task runner behaves like pxp-agent / Bolt for what PE serves:
metadata `files` staged into an install dir."""
import json
import os

import pytest

from localorch import taskrunner

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE_MODULES = os.path.join(HERE, "modules")


# --- metadata `files` ------------------------------------------------------------------


def test_files_are_staged_into_an_install_dir_and_removed_afterwards():
    spec = taskrunner.load_task(SAMPLE_MODULES, "sample::helper")
    outcome = taskrunner.run_task(spec, {})
    assert outcome.state == "finished", outcome.result
    report = outcome.result
    installdir = report["installdir"]
    assert report["greeting"] == "hello from a staged file"
    assert report["self"] == os.path.join(installdir, "sample", "tasks", "helper.sh")
    # top-level files (a directory entry, recursively) and the implementation's own files
    assert report["files"].split() == ["./sample/files/lib/greet.sh", "./sample/files/lib/more/data.txt",
                                       "./sample/lib/sample/util.rb", "./sample/tasks/helper.sh"]
    assert report["stdin"]["_installdir"] == installdir and report["stdin"]["_task"] == "sample::helper"
    assert not os.path.exists(installdir)


def test_each_run_gets_a_fresh_install_dir():
    spec = taskrunner.load_task(SAMPLE_MODULES, "sample::helper")
    first = taskrunner.run_task(spec, {}).result["installdir"]
    second = taskrunner.run_task(spec, {}).result["installdir"]
    assert first != second


def test_tasks_without_files_get_no_installdir():
    spec = taskrunner.load_task(SAMPLE_MODULES, "sample::echo")
    assert spec.files == ()
    stdin, env = taskrunner.task_input(spec, {"message": "x"}, "web01")
    assert "_installdir" not in json.loads(stdin.decode())


def _module(tmp_path, files, extra=None):
    """A module `m` with one task `t` whose metadata lists `files`."""
    tasks = tmp_path / "m" / "tasks"
    tasks.mkdir(parents=True)
    (tmp_path / "m" / "files").mkdir()
    (tmp_path / "m" / "files" / "ok.sh").write_text("true\n")
    (tmp_path / "m" / "files" / "dir").mkdir()
    (tmp_path / "m" / "files" / "dir" / "a.txt").write_text("a\n")
    (tmp_path / "secret.txt").write_text("secret\n")
    (tasks / "t.sh").write_text("#!/bin/sh\necho '{}'\n")
    (tasks / "t.sh").chmod(0o755)
    meta = {"files": files}
    meta.update(extra or {})
    (tasks / "t.json").write_text(json.dumps(meta))
    return str(tmp_path)


@pytest.mark.parametrize("entry", [
    "m/files/../../secret.txt", "m/files/dir/../../../secret.txt", "m/../secret.txt", "../m/files/ok.sh",
    "/etc/passwd", "m/files//etc/passwd", "m/manifests/init.pp", "m", "m/files", "m/files/dir",
    "m/files/ok.sh/", "m/files/missing.sh", "nosuchmodule/files/x", 7, "",
])
def test_files_entries_that_escape_or_are_malformed_are_refused(tmp_path, entry):
    modules = _module(tmp_path, [entry])
    with pytest.raises(taskrunner.TaskMetadataError):
        taskrunner.load_task(modules, "m::t")


def test_a_symlink_out_of_the_module_is_refused(tmp_path):
    modules = _module(tmp_path, ["m/files/link"])
    os.symlink(str(tmp_path / "secret.txt"), str(tmp_path / "m" / "files" / "link"))
    with pytest.raises(taskrunner.TaskMetadataError):
        taskrunner.load_task(modules, "m::t")
    modules = _module(tmp_path / "again", ["m/files/dir/"])
    os.symlink(str(tmp_path / "secret.txt"), str(tmp_path / "again" / "m" / "files" / "dir" / "link"))
    with pytest.raises(taskrunner.TaskMetadataError):
        taskrunner.load_task(modules, "m::t")


def test_files_must_be_a_list(tmp_path):
    modules = _module(tmp_path, "m/files/ok.sh")
    with pytest.raises(taskrunner.TaskMetadataError):
        taskrunner.load_task(modules, "m::t")


def test_valid_entries_resolve_to_module_relative_names(tmp_path):
    modules = _module(tmp_path, ["m/files/ok.sh", "m/files/dir/", "m/files/ok.sh"])
    spec = taskrunner.load_task(modules, "m::t")
    assert [name for name, _ in spec.files] == ["m/files/ok.sh", "m/files/dir/a.txt"]
    assert taskrunner.run_task(spec, {}).state == "finished"


# --- metadata as Puppet accepts it -----------------------------------------------------


def test_modern_metadata_is_accepted_and_the_implementation_chosen_by_requirements():
    spec = taskrunner.load_task(SAMPLE_MODULES, "sample::modern")
    # modern.ps1 needs powershell, modern_other.sh needs facter: pxp-agent on Linux offers
    # puppet-agent and shell only, so the third implementation runs, with its own input_method
    assert os.path.basename(spec.executable) == "modern.sh" and spec.input_method == "environment"
    assert spec.impl_error is None
    outcome = taskrunner.run_task(spec, {"mode": "fast"})
    assert outcome.state == "finished", outcome.result
    assert outcome.result["impl"] == "modern.sh" and outcome.result["mode"] == "fast"
    assert outcome.result["stdin"] == ""  # environment only


def test_an_agent_with_more_features_takes_an_earlier_implementation():
    spec = taskrunner.load_task(SAMPLE_MODULES, "sample::modern", features=("puppet-agent", "shell", "facter"))
    assert os.path.basename(spec.executable) == "modern_other.sh"


def test_no_implementation_for_this_agent_errors_the_run_like_pxp_agent():
    spec = taskrunner.load_task(SAMPLE_MODULES, "sample::windows")
    outcome = taskrunner.run_task(spec, {})
    assert outcome.state == "errored" and outcome.exit_code is None
    assert outcome.result["_error"] == {"kind": "puppetlabs.pxp-agent/execution-error",
                                        "msg": "no implementations match supported features: puppet-agent, shell",
                                        "details": {}}


@pytest.mark.parametrize("params, ok", [
    ({"mode": "fast"}, True), ({"mode": "thorough"}, True), ({"mode": "slow"}, False), ({}, False),
    ({"mode": "fast", "window": [0, 10]}, True), ({"mode": "fast", "window": [0]}, False),
    ({"mode": "fast", "window": [0, "10"]}, False), ({"mode": "fast", "window": None}, True),
    ({"mode": "fast", "target": {"path": "/var/log/x"}}, True),
    ({"mode": "fast", "target": {"path": "/var/log/x", "lines": 5}}, True),
    ({"mode": "fast", "target": {"path": "/var/log/x", "lines": 500}}, False),
    ({"mode": "fast", "target": {"lines": 5}}, False),
    ({"mode": "fast", "target": {"path": "x", "extra": 1}}, False),
    ({"mode": "fast", "where": "/srv"}, True),
    ({"mode": "fast", "where": "relative/is/for/puppet/to/judge"}, True),  # module type: passed through
    ({"mode": "fast", "bogus": 1}, False),
])
def test_parameters_of_modern_metadata_are_checked_as_puppet_would(params, ok):
    spec = taskrunner.load_task(SAMPLE_MODULES, "sample::modern")
    assert (taskrunner.validate_params(spec, params) == []) is ok


def test_unknown_keys_and_identifiers_are_tolerated():
    taskrunner.check_metadata({"identifiers": {"id": "x"}, "whatever": [1], "parameters": {}})


@pytest.mark.parametrize("meta", [
    [], {"input_method": "telepathy"}, {"supports_noop": "yes"}, {"parameters": []},
    {"parameters": {"Bad-Name": {"type": "String"}}}, {"parameters": {"x": "String"}},
    {"parameters": {"x": {"type": "Enum["}}}, {"parameters": {"x": {"type": "Struct[String]"}}},
])
def test_metadata_puppet_would_not_load_is_still_refused(meta):
    with pytest.raises(taskrunner.TaskMetadataError):
        taskrunner.check_metadata(meta)


def test_a_listed_implementation_that_is_missing_is_refused(tmp_path):
    modules = _module(tmp_path, [], {"implementations": [{"name": "gone.sh", "requirements": ["shell"]}]})
    with pytest.raises(taskrunner.TaskMetadataError):
        taskrunner.load_task(modules, "m::t")


def test_two_executables_without_implementations_are_refused(tmp_path):
    modules = _module(tmp_path, [])
    (tmp_path / "m" / "tasks" / "t.py").write_text("print('{}')\n")
    with pytest.raises(taskrunner.TaskMetadataError):
        taskrunner.load_task(modules, "m::t")


# --- input and output as pxp-agent passes them -------------------------------------------


def test_no_target_and_noop_only_when_asked():
    spec = taskrunner.load_task(SAMPLE_MODULES, "sample::echo")
    report = taskrunner.run_task(spec, {"message": "x"}, target="web01.example.com").result
    assert "_target" not in report and "_noop" not in report and report["_task"] == "sample::echo"
    outcome = taskrunner.run_task(taskrunner.load_task(SAMPLE_MODULES, "sample::modern"), {"mode": "fast"},
                                  noop=True)
    assert outcome.result["noop"] == "true" and outcome.result["target_var"] == ""


def test_stderr_is_kept_not_mixed_into_the_result():
    spec = taskrunner.load_task(SAMPLE_MODULES, "sample::stderr")
    outcome = taskrunner.run_task(spec, {})
    assert outcome.state == "finished" and outcome.result == {"ok": True}
    assert outcome.stderr == "warning: dmesg is restricted\n"


def test_invalid_utf8_on_stdout_fails_the_run_like_pxp_agent():
    spec = taskrunner.load_task(SAMPLE_MODULES, "sample::badutf8")
    outcome = taskrunner.run_task(spec, {})
    assert outcome.state == "failed" and outcome.exit_code == 0
    error = outcome.result["_error"]
    assert set(outcome.result) == {"_error"} and error["kind"] == "puppetlabs.pxp-agent/execution-error"
    assert error["msg"].startswith("The task executed for the non-blocking 'task run' request (transaction ")
    assert error["msg"].endswith("returned invalid UTF-8 on stdout - stderr:\nwrote latin-1 by mistake\n")


@pytest.mark.parametrize("data, ok", [(b"plain", True), ("h\u00e9 \u2603".encode(), True), (b"\xff", False),
                                      (b"a\x00b", False), (b"\xc0\xaf", False), (b"\xed\xa0\x80", False)])
def test_utf8_check_matches_pxp_agent(data, ok):
    assert taskrunner.is_valid_utf8(data) is ok


def test_controls_in_valid_utf8_are_plain_output():
    outcome = taskrunner.run_task(taskrunner.load_task(SAMPLE_MODULES, "sample::binary"), {})
    assert outcome.state == "finished" and "\x1b[2J" in outcome.result["_output"]
