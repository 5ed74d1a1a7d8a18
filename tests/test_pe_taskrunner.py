"""The local orchestrator's task runner behaves like pxp-agent / Bolt for what PE serves:
metadata `files` staged into an install dir."""
import json
import os

import pytest

from sentry_autodiag.localorch import taskrunner

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
