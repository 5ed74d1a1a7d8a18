"""Runs diagnostics::collect against one scenario of tests/scenarios/ for real.

A scenario is a directory of fake node state laid over the real paths the task reads:
`proc/...` files are bind-mounted over /proc (a file with `.1`/`.2` siblings becomes a
FIFO that serves the first sample, then the second: the task reads each counter file
exactly twice), `net/` over the task's own /proc/<pid>/net (/proc/net is a link into
/proc/self, so the wrapper binds it for the pid that execs the task), `proc/mounts` over
/proc/<pid>/mounts, `var/log`, `opt` and `etc/resolv.conf` over theirs, `sys/fs/cgroup`
over /sys/fs/cgroup (its `.1`/`.2` counters as FIFOs too), and `bin/` goes first on PATH (fake dmesg, ss, ps, df, systemctl, ...). All of it inside a private mount
namespace (`unshare -m`), so the machine itself is untouched. A scenario with
`proc/app/cgroup` (or `proc/<pid>/cgroup`) gets a stand-in application process that holds the log open and whose
/proc/<pid>/cgroup is that file (how the task finds the failing process's unit/container). `_base/` is a healthy node;
a scenario holds only what differs (and lists under `remove` the base files it lacks).
`scenario.json` names the event time, the log, the expected cause codes and what must
not be raised.
"""
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, NamedTuple, Optional

from localorch import taskrunner

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCENARIOS = os.path.join(HERE, "scenarios")
BASE = os.path.join(SCENARIOS, "_base")
MODULES = os.path.join(ROOT, "puppet")
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}

# /proc files bound in place (they exist on every kernel this runs on).
PROC_FILES = ["stat", "vmstat", "diskstats", "meminfo", "loadavg", "uptime", "pressure/cpu", "pressure/memory",
              "pressure/io", "sys/fs/file-nr", "sys/net/netfilter/nf_conntrack_count",
              "sys/net/netfilter/nf_conntrack_max", "sys/net/ipv4/ip_local_port_range", "sys/kernel/pid_max",
              "sys/kernel/threads-max", "sys/vm/overcommit_memory", "sys/vm/overcommit_ratio"]

WRAPPER = r"""#!/bin/sh
# Lays the scenario over the node inside a private mount namespace, then execs the task
# (same pid: the /proc/<pid>/net and /proc/<pid>/mounts binds are the task's own).
exec unshare -m --propagation private /bin/sh -c '
set -e
D=$DIAG_SCENARIO
for f in %(proc_files)s; do
    if [ -e "$D/proc/$f" ]; then mount --bind "$D/proc/$f" "/proc/$f"; fi
done
mount --bind "$D/net" "/proc/$$/net"
mount --bind "$D/proc/mounts" "/proc/$$/mounts"
mount --bind "$D/var/log" /var/log
mount --bind "$D/opt" /opt
mount --bind "$D/etc/resolv.conf" /etc/resolv.conf
if [ -d "$D/sys/fs/cgroup" ]; then mount --bind "$D/sys/fs/cgroup" /sys/fs/cgroup; fi
# The application: a stand-in process holding its log open, in the cgroup the scenario
# gives it (proc/app/cgroup or proc/<pid>/cgroup, bound over the /proc/<pid>/cgroup of the stand-in);
# the runner ends it.
if [ -n "$DIAG_APP_CGROUP" ]; then
    if [ -f "$DIAG_APP_LOG" ]; then sleep 60 3<"$DIAG_APP_LOG" & else sleep 60 & fi
    echo $! >"$DIAG_APP_PIDFILE"
    mount --bind "$DIAG_APP_CGROUP" "/proc/$!/cgroup"
    n=0; while [ ! -e "/proc/$!/fd/3" ] && [ -f "$DIAG_APP_LOG" ] && [ $n -lt 1000 ]; do sleep 0.01; n=$((n + 1)); done
fi
PATH="$D/bin:$PATH"
export PATH
exec "$DIAG_TASK"
'
"""


class Scenario(NamedTuple):
    name: str
    path: str
    manifest: Dict[str, Any]


def names() -> List[str]:
    return sorted(d for d in os.listdir(SCENARIOS)
                  if not d.startswith("_") and os.path.isfile(os.path.join(SCENARIOS, d, "scenario.json")))


def load(name: str) -> Scenario:
    path = os.path.join(SCENARIOS, name)
    with open(os.path.join(path, "scenario.json")) as fh:
        return Scenario(name, path, json.load(fh))


def _overlay(src: str, dest: str) -> None:
    for dirpath, _dirs, files in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        os.makedirs(os.path.join(dest, rel), exist_ok=True)
        for f in files:
            if f == "scenario.json":
                continue
            target = os.path.join(dest, rel, f)
            if os.path.lexists(target):
                os.unlink(target)
            shutil.copy2(os.path.join(dirpath, f), target)


class _Feeder:
    """Serves sample 1 then sample 2 (then 2 again) to each reader of a FIFO."""

    def __init__(self, fifo: str, samples: List[bytes]):
        self.fifo, self.samples, self.stop = fifo, samples, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        served = 0
        while not self.stop.is_set():
            fd = os.open(self.fifo, os.O_WRONLY)  # blocks until the task opens it
            try:
                if not self.stop.is_set():
                    os.write(fd, self.samples[min(served, len(self.samples) - 1)])
            except BrokenPipeError:
                pass
            finally:
                os.close(fd)
            served += 1
            self._wait_reader_gone()

    def _wait_reader_gone(self):
        """A writer's open() does not block while a reader is there: wait until this
        reader has closed, or the next sample would be appended to its read."""
        while not self.stop.is_set():
            try:
                probe = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: no reader
                return
            os.close(probe)
            time.sleep(0.002)

    def close(self):
        self.stop.set()
        try:  # releases a writer blocked in open()
            fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass
        self.thread.join(timeout=5)


def _make_fifos(merged: str) -> List[_Feeder]:
    """Every `X.1` (+ `X.2`) sample pair becomes a FIFO `X` fed by a thread."""
    feeders = []
    for dirpath, _dirs, files in os.walk(merged):
        for f in sorted(files):
            if not f.endswith(".1"):
                continue
            base = os.path.join(dirpath, f[:-2])
            samples = [open(os.path.join(dirpath, f), "rb").read()]
            if os.path.exists(base + ".2"):
                samples.append(open(base + ".2", "rb").read())
            if os.path.lexists(base):
                os.unlink(base)
            os.mkfifo(base, 0o644)
            feeders.append(_Feeder(base, samples))
    return feeders


def _fd_hog(count: int, limit: int):
    """A real process holding `count` open files under RLIMIT_NOFILE `limit`."""
    code = ("import os, resource, sys, time\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (%d, %d))\n"
            "fds = [os.open('/dev/null', os.O_RDONLY) for _ in range(%d)]\n"
            "sys.stdout.write('ready\\n'); sys.stdout.flush(); time.sleep(120)\n") % (limit, limit, count)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    proc.stdout.readline()
    return proc


def _app_cgroup(merged: str) -> str:
    """The application's /proc/<pid>/cgroup in the scenario: proc/app/cgroup or proc/<pid>/cgroup."""
    proc = os.path.join(merged, "proc")
    for d in ["app"] + sorted(d for d in os.listdir(proc) if d.isdigit()):
        if os.path.isfile(os.path.join(proc, d, "cgroup")):
            return os.path.join(proc, d, "cgroup")
    return ""


def _end_stand_in(pidfile: str) -> None:
    """Ends the scenario's stand-in application process (a `sleep` the wrapper started)."""
    try:
        with open(pidfile) as fh:
            pid = int(fh.read().strip())
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            if fh.read().split(b"\0")[0] != b"sleep":
                return
        os.kill(pid, 9)
    except (OSError, ValueError):
        pass


def run(scenario: Scenario, workdir: str, params: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Runs the task through the local orchestrator's task runner inside the scenario."""
    merged = os.path.join(workdir, "node")
    _overlay(BASE, merged)
    _overlay(scenario.path, merged)
    for rel in scenario.manifest.get("remove", []):  # base files this node does not have
        os.unlink(os.path.join(merged, rel))
    for d in ("bin",):
        for f in os.listdir(os.path.join(merged, d)):
            os.chmod(os.path.join(merged, d, f), 0o755)
    wrapper = os.path.join(workdir, "in-scenario.sh")
    with open(wrapper, "w") as fh:
        fh.write(WRAPPER % {"proc_files": " ".join(PROC_FILES)})
    os.chmod(wrapper, 0o755)
    private_tmp = os.path.join(workdir, "tmp")
    os.makedirs(private_tmp, exist_ok=True)
    manifest = scenario.manifest
    task_params = {"since": manifest["event_time"], "log_path": manifest.get("log_path", "/var/log/app/app.log")}
    task_params.update(manifest.get("params", {}))
    task_params.update(params or {})
    feeders = _make_fifos(merged)
    app_pidfile = os.path.join(workdir, "app.pid")
    hog = _fd_hog(**manifest["fd_hog"]) if manifest.get("fd_hog") else None
    try:
        spec = taskrunner.load_task(MODULES, "diagnostics::collect")
        spec = spec._replace(executable=wrapper)
        env = {"DIAG_SCENARIO": merged, "DIAG_APP_PIDFILE": app_pidfile, "DIAG_APP_CGROUP": _app_cgroup(merged),
               "DIAG_APP_LOG": task_params["log_path"],
               "DIAG_TASK": os.path.join(MODULES, "diagnostics", "tasks", "collect.sh"),
               "TMPDIR": private_tmp, "TZ": manifest.get("tz", "UTC")}
        outcome = taskrunner.run_task(spec, task_params, extra_env=env, timeout=60)
    finally:
        for feeder in feeders:
            feeder.close()
        if hog:
            hog.kill()
            hog.wait()
        _end_stand_in(app_pidfile)
    assert outcome.state == "finished", outcome.result
    assert os.listdir(private_tmp) == [], "the task left files in its temp dir"
    return outcome.result


def corpus(name: str) -> str:
    """The corpus a scenario belongs to, by its name: original, blind, blind2, blind3, ...
    (a healthy baseline `baseline-blind3-x` belongs to blind3, `baseline-x` to original)."""
    rest = name[len("baseline-"):] if name.startswith("baseline-") else name
    m = re.match(r"(blind[0-9]*)-", rest)
    return m.group(1) if m else "original"


def judge(scenario: Scenario, result: Dict[str, Any]) -> Dict[str, Any]:
    """Right cause flagged (each expected code at or above its severity), the cause ranked
    first (the first finding's code is an expected one), false alarms (forbidden codes
    raised as warning/critical, or any warning/critical on a healthy baseline) and false
    criticals (a critical finding whose code is forbidden, or any critical on a baseline:
    its claim is false on that node)."""
    manifest = scenario.manifest
    findings = result.get("findings", [])
    best: Dict[str, int] = {}
    for f in findings:
        rank = SEVERITY_RANK.get(f.get("severity"), 3)
        best[f["code"]] = min(rank, best.get(f["code"], 9))
    missing = [e for e in manifest.get("expect", [])
               if best.get(e["code"], 9) > SEVERITY_RANK[e["severity"]]]
    wrong = lambda f: manifest.get("baseline") or f["code"] in manifest.get("forbid", [])  # noqa: E731
    alarms = [f for f in findings if f["severity"] in ("critical", "warning") and wrong(f)]
    false_criticals = [f for f in findings if f["severity"] == "critical" and wrong(f)]
    expected = {e["code"] for e in manifest.get("expect", [])}
    first = bool(expected) and bool(findings) and findings[0]["code"] in expected
    return {"flagged": not missing, "missing": missing, "false_alarms": alarms,
            "false_criticals": false_criticals, "cause_first": first}
