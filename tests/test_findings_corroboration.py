"""Issue 19: an application's words are judged by their class and position and against the
node, and the task reads the failing process's own cgroup. The real task runs on this
machine (a healthy node here) through the local orchestrator's task runner, with an
application log written by the test."""
import os
import subprocess

import pytest

from localorch import taskrunner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = os.path.join(ROOT, "puppet")
SINCE = "2026-11-21T03:12:45Z"


@pytest.fixture(scope="module")
def spec():
    return taskrunner.load_task(MODULES, "diagnostics::collect")


def collect(spec, tmp_path, lines, holder=False):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    log.write_text("".join(l + "\n" for l in lines))
    private = tmp_path / "tmp"
    private.mkdir()
    proc = subprocess.Popen(["sleep", "60"], stdin=open(str(log))) if holder else None
    try:
        outcome = taskrunner.run_task(spec, {"log_path": str(log), "allowed_log_dirs": [str(logs)], "since": SINCE},
                                      extra_env={"TMPDIR": str(private), "TZ": "UTC"}, timeout=120)
    finally:
        if proc:
            proc.kill()
            proc.wait()
    assert outcome.state == "finished", outcome.result
    return outcome.result, proc


def by_code(result, code):
    return [f for f in result["findings"] if f["code"] == code]


def stamped(msg, n=6, level="ERROR"):
    return ["2026-11-21 03:12:%02d,000 %s [app] %s" % (30 + i, level, msg) for i in range(n)]


@pytest.mark.parametrize("line", [
    "KeyError: 'OutOfMemoryError'",
    "java.lang.IllegalArgumentException: No enum constant com.example.RemoteErrorCode.OutOfMemoryError",
    "psycopg2.errors.OutOfMemory: out of memory DETAIL: Failed on request of size 8192 in memory context",
])
def test_a_name_or_a_relayed_error_is_not_an_out_of_memory(spec, tmp_path, line):
    result, _ = collect(spec, tmp_path, stamped(line))
    assert by_code(result, "app-out-of-memory") == []


def test_enomem_is_a_claim_the_node_must_confirm(spec, tmp_path):
    result, _ = collect(spec, tmp_path, stamped("OSError: [Errno 12] Cannot allocate memory"))
    (oom,) = by_code(result, "app-out-of-memory")
    node = {f["code"] for f in result["findings"] if f["severity"] in ("critical", "warning")}
    if node & {"oom-kill", "low-memory", "memory-pressure", "swap-storm", "cgroup-memory-limit", "overcommit-limit"}:
        pytest.skip("this machine shows a memory problem right now")
    assert oom["severity"] == "warning" and "the node shows no" in oom["message"]


def test_a_runtime_heap_cap_is_definitive(spec, tmp_path):
    result, _ = collect(spec, tmp_path, stamped("java.lang.OutOfMemoryError: Java heap space"))
    (oom,) = by_code(result, "app-out-of-memory")
    assert oom["severity"] == "critical" and "ran out of its memory 6 time(s)" in oom["message"]


def test_a_worker_killed_at_its_timeout_is_not_an_oom(spec, tmp_path):
    lines = []
    for i in range(3):
        lines += ["[2026-11-21 03:12:%02d +0000] [1980] [CRITICAL] WORKER TIMEOUT (pid:%d)" % (20 + i * 5, 4100 + i),
                  "[2026-11-21 03:12:%02d +0000] [1980] [ERROR] Worker (pid:%d) was sent SIGKILL! Perhaps out of memory?"
                  % (21 + i * 5, 4100 + i)]
    result, _ = collect(spec, tmp_path, lines)
    (timeout,) = by_code(result, "worker-timeout")
    assert timeout["severity"] == "warning" and "ended 3 job(s)" in timeout["message"]
    assert all(f["severity"] == "info" for f in by_code(result, "app-out-of-memory"))


def test_timeouts_at_a_steady_rate_are_not_new(spec, tmp_path):
    lines = ["2026-11-21 03:%02d:%02d,000 WARNING [urllib3] Read timed out. (read timeout=5) host=api.example.com:443"
             % (3 + i // 2, (i % 2) * 30) for i in range(20)]
    result, _ = collect(spec, tmp_path, lines)
    (t,) = by_code(result, "app-timeout")
    assert t["severity"] == "info" and "steady" in t["message"]


def test_the_cgroup_of_the_process_holding_the_log_is_read(spec, tmp_path):
    result, proc = collect(spec, tmp_path, stamped("request failed"), holder=True)
    body = next(s["body"] for s in result["sections"] if s["id"] == "cgroup")
    assert "no process holds the application log open" not in body
    assert body.startswith("/") or "holds the log open; it runs in root cgroups only" in body
    with open("/proc/self/cgroup") as fh:  # the holder is our child: it is in our cgroups
        ours = [l.split(":", 2) for l in fh.read().splitlines()]
    for _n, controllers, path in ours:
        if path != "/" and controllers in ("memory", "pids") and os.path.isdir("/sys/fs/cgroup/%s%s" % (controllers, path)):
            assert "/%s%s" % (controllers, path) in body.splitlines()
        if path != "/" and controllers == "" and os.path.isdir("/sys/fs/cgroup" + path):
            assert path in body.splitlines()
