"""diagnostics::collect 0.2: the task contract (null = absent, helper files via
_installdir), findings' shape and ranking, log signatures, and reports under resource
exhaustion. Runs the real task through the local orchestrator's task runner."""
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from localorch import taskrunner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = os.path.join(ROOT, "puppet")
TASK_DIR = os.path.join(MODULES, "diagnostics", "tasks")
SCRIPT = os.path.join(TASK_DIR, "collect.sh")
LIB = os.path.join(MODULES, "diagnostics", "files", "lib")
SEVERITIES = ["critical", "warning", "info"]


@pytest.fixture(scope="module")
def spec():
    return taskrunner.load_task(MODULES, "diagnostics::collect")


def run(spec, params, tmp_path, env=None):
    private = tmp_path / "tmp"
    private.mkdir(exist_ok=True)
    extra = {"TMPDIR": str(private), "TZ": "UTC"}
    extra.update(env or {})
    outcome = taskrunner.run_task(spec, params, extra_env=extra, timeout=120)
    assert os.listdir(str(private)) == []
    return outcome


def section(result, sid):
    return next(s for s in result["sections"] if s["id"] == sid)


# --- contract ------------------------------------------------------------------------


@pytest.mark.parametrize("input_method", ["stdin", "environment", "both"])
def test_null_parameters_are_treated_as_absent(spec, tmp_path, input_method):
    params = {"log_path": None, "log_lines": None, "since": None, "max_bytes": None, "allowed_log_dirs": None,
              "change_window_minutes": None}
    outcome = run(spec._replace(input_method=input_method), params, tmp_path)
    assert outcome.state == "finished", outcome.result
    assert section(outcome.result, "log")["body"] == "no log_path was given to the task"
    assert outcome.result["max_bytes"] == 262144 and outcome.result["event_time"] is None
    assert "change window 60 min" in section(outcome.result, "changes")["command"]


def test_null_log_lines_keeps_the_default_with_a_log(spec, tmp_path):
    logdir = tmp_path / "log"
    logdir.mkdir()
    (logdir / "app.log").write_text("".join("line %d\n" % i for i in range(300)))
    outcome = run(spec, {"log_path": str(logdir / "app.log"), "log_lines": None, "allowed_log_dirs": [str(logdir)]}, tmp_path)
    assert section(outcome.result, "log")["body"].splitlines() == ["line %d" % i for i in range(100, 300)]


@pytest.mark.parametrize("value", [0, 10081, "soon"])
def test_change_window_is_checked_by_the_script_too(spec, tmp_path, value):
    outcome = run(spec._replace(input_method="stdin"), {"change_window_minutes": value}, tmp_path)
    assert outcome.state == "failed"
    assert outcome.result["_error"]["details"]["parameter"] == "change_window_minutes"


def test_metadata_ships_every_helper_file_and_the_entry_point_loads_them_all(spec):
    assert spec.metadata["files"] == ["diagnostics/files/lib/"]
    shipped = sorted(os.path.basename(src) for _name, src in spec.files)
    assert shipped == sorted(os.listdir(LIB))
    listed = re.search(r"LIB_FILES=\(([^)]*)\)", open(SCRIPT).read()).group(1).split()
    assert sorted(f + ".sh" for f in listed) == [f for f in shipped if f.endswith(".sh")]
    # every awk program is loaded by a collector, and every one loaded is shipped
    loaded = set()
    for f in shipped:
        if f.endswith(".sh"):
            loaded |= set(re.findall(r'<"\$LIB/([a-z_]+\.awk)"', open(os.path.join(LIB, f)).read()))
    assert loaded == {f for f in shipped if f.endswith(".awk")}


def test_helpers_are_found_through_installdir_only_when_not_beside_the_script(tmp_path):
    alone = tmp_path / "alone" / "diagnostics" / "tasks"
    alone.mkdir(parents=True)
    shutil.copy2(SCRIPT, str(alone / "collect.sh"))
    env = {"PATH": os.environ["PATH"], "TMPDIR": str(tmp_path)}
    proc = subprocess.run([str(alone / "collect.sh")], input=b"{}", capture_output=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["_error"]["kind"] == "diagnostics/missing-files"
    for how in ("stdin", "env"):
        stdin = json.dumps({"_installdir": MODULES}).encode() if how == "stdin" else b"{}"
        env2 = dict(env, **({"PT__installdir": MODULES} if how == "env" else {}))
        proc = subprocess.run([str(alone / "collect.sh")], input=stdin, capture_output=True, env=env2, timeout=60)
        assert proc.returncode == 0, proc.stdout[:300]
        assert json.loads(proc.stdout)["version"] == "0.3.0"


# --- findings --------------------------------------------------------------------------


def test_findings_have_a_stable_shape_and_are_ranked(spec, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "dmesg").write_text("#!/bin/sh\ncat <<'EOF'\n"
                                  "[Sat Nov 21 03:12:40 2026] Out of memory: Killed process 4242 (java) total-vm:8388608kB\n"
                                  "[Sat Nov 21 03:12:44 2026] php-fpm[77]: segfault at 0 ip 00007f error 4 in libc.so.6\n"
                                  "[Sat Nov 01 03:12:44 2026] INFO: task jbd2/sda1-8:311 blocked for more than 120 seconds.\n"
                                  "EOF\n")
    (bindir / "dmesg").chmod(0o755)
    outcome = run(spec, {"since": "2026-11-21T03:12:45Z"}, tmp_path, env={"PATH": "%s:%s" % (bindir, os.environ["PATH"])})
    findings = outcome.result["findings"]
    ids = {s["id"] for s in outcome.result["sections"]}
    for f in findings:
        assert set(f) <= {"severity", "code", "message", "section", "at"} and f["section"] in ids
        assert re.match(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", f["code"]) and f["severity"] in SEVERITIES
    ranks = [SEVERITIES.index(f["severity"]) for f in findings]
    assert ranks == sorted(ranks)
    by_code = {f["code"]: f for f in findings}
    assert by_code["oom-kill"]["severity"] == "critical" and by_code["segfault"]["severity"] == "warning"
    assert by_code["hung-task"]["severity"] == "info" and "20 d before the event" in by_code["hung-task"]["message"]
    # same severity: the evidence closest to the event comes first
    crit_warn = [f["code"] for f in findings if f["code"] in ("oom-kill", "segfault")]
    assert crit_warn == ["oom-kill", "segfault"]


def test_repeated_errors_are_grouped_by_signature_with_ids_masked(spec, tmp_path):
    logdir = tmp_path / "log"
    logdir.mkdir()
    lines = ["2026-11-21 03:10:%02d,123 INFO GET /api/orders 200" % s for s in range(0, 40, 2)]
    lines += ["2026-11-21 03:12:%02d,%03d ERROR [worker-%d] order %d failed: upstream 0x%x request 1b4e28ba-2fa1-11d2-883f-0016d3cca4%02d timed out"
              % (s, s * 7, s % 4, 1000 + s, 0xdead00 + s, s) for s in range(20, 50)]
    (logdir / "app.log").write_text("\n".join(lines) + "\n")
    outcome = run(spec, {"log_path": str(logdir / "app.log"), "since": "2026-11-21T03:12:45Z",
                         "allowed_log_dirs": [str(logdir)]}, tmp_path)
    body = section(outcome.result, "app_errors")["body"]
    assert "error lines: 30" in body
    assert re.search(r"^\s+30  error \[worker-N\] order N failed: upstream <hex> request <uuid> timed out$", body, re.M), body
    timeouts = [f for f in outcome.result["findings"] if f["code"] == "app-timeout"]
    assert timeouts and timeouts[0]["severity"] == "critical" and "30 time(s)" in timeouts[0]["message"]


# --- exhaustion ------------------------------------------------------------------------


def _as_nobody(limits):
    """The task as `nobody` (root is exempt from RLIMIT_NPROC) under the given ulimits."""
    base = tempfile.mkdtemp(prefix="diag-nobody-")
    try:
        os.chmod(base, 0o777)
        cmd = ["runuser", "-u", "nobody", "--", "bash", "-c", "%s; exec %s" % (limits, SCRIPT)]
        proc = subprocess.run(cmd, input=b"{}", capture_output=True, env={"PATH": os.environ["PATH"], "TMPDIR": base},
                              timeout=120)
        assert os.listdir(base) == []
        return proc
    finally:
        shutil.rmtree(base)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the task as nobody (root ignores RLIMIT_NPROC)")
def test_out_of_process_slots_still_gives_a_valid_report_that_says_so():
    proc = _as_nobody("ulimit -u 2")
    assert proc.returncode == 0
    result = json.loads(proc.stdout)
    assert [f["code"] for f in result["findings"]] == ["process-limit"]
    assert "RLIMIT_NPROC" in result["findings"][0]["message"]
    assert "builtins only" in result["sections"][0]["title"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the task as nobody")
def test_a_tight_address_space_limit_still_gives_a_full_valid_report():
    proc = _as_nobody("ulimit -v 65536")
    assert proc.returncode == 0
    result = json.loads(proc.stdout)
    assert len(result["sections"]) == 22 and result["findings"] is not None
