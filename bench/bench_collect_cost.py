"""What diagnostics::collect costs the node: wall time, CPU time and peak RSS, on an idle
and on a loaded machine, and whether it still answers with a valid report when the node
is out of memory or out of process slots.

Targets (issues 11, 19): <= 2 s wall, <= 0.5 s CPU, <= 32 MiB RSS, printed against each
run ("within the targets: yes/NO"), also with the application's log held open by a process
(the cgroup lookup). The only assertions are that every run answers with a valid report.
CPU time and peak RSS come from wait4() on the task: CPU of the task and every process
it started, RSS of the largest of them. The load is generated here (one CPU spinner per
core plus a process touching 512 MiB over and over) and stopped after the run.
"""
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "puppet", "diagnostics", "tasks", "collect.sh")
LOAD_SECONDS = 120  # the load generators stop by themselves after this, whatever happens
RUNS = 5


# wait4() in a small helper process: a child forked from this Python would carry the
# interpreter's RSS high-water mark across exec() into ru_maxrss.
WAIT4 = ("import os, sys, time\n"
         "t = time.perf_counter(); pid = os.fork()\n"
         "if pid == 0:\n    os.execv('/bin/bash', ['bash', '-c', sys.argv[1]])\n"
         "_, status, ru = os.wait4(pid, 0)\n"
         "sys.stderr.write('%f %f %d\\n' % (time.perf_counter() - t, ru.ru_utime + ru.ru_stime, ru.ru_maxrss))\n")


def run_once(stdin=b"{}", preexec=None, env=None):
    """One run: (wall s, cpu s, peak RSS MiB of the largest process, parsed report or None)."""
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o777)
        command = (preexec + "; " if preexec else "") + "exec " + SCRIPT if not (preexec or "").startswith("exec ") else preexec
        proc = subprocess.run([sys.executable, "-S", "-c", WAIT4, command], input=stdin, capture_output=True,
                              env=dict({"PATH": os.environ["PATH"], "TMPDIR": tmp}, **(env or {})), timeout=120)
    wall, cpu, rss_kib = proc.stderr.decode().strip().splitlines()[-1].split()
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        report = None
    return float(wall), float(cpu), int(rss_kib) / 1024.0, report


def measure(label, **kw):
    runs = [run_once(**kw) for _ in range(RUNS)]
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    rss = max(r[2] for r in runs)
    valid = all(isinstance(r[3], dict) and "findings" in r[3] for r in runs)
    print("%-28s wall %.2f s  cpu %.2f s  peak RSS %.1f MiB  valid JSON: %s  (median of %d)"
          % (label, wall, cpu, rss, valid, RUNS), flush=True)
    return wall, cpu, rss, valid, runs[-1][3]


def _spin(deadline):
    while time.time() < deadline:
        pass


def _touch_memory(deadline, mib=512):
    block = bytearray(mib * 1024 * 1024)
    while time.time() < deadline:
        for i in range(0, len(block), 4096):
            block[i] = (block[i] + 1) & 0xFF


def _cgroup(controller, name, settings):
    """A child cgroup (v1 here; v2 unified if that is what the node has) or None."""
    own = None
    for line in open("/proc/self/cgroup"):
        parts = line.strip().split(":", 2)
        if controller in parts[1].split(",") or (parts[0] == "0" and own is None):
            own = ("/sys/fs/cgroup/%s%s" % (controller, parts[2])) if parts[1] else "/sys/fs/cgroup" + parts[2]
    if not own or not os.path.isdir(own):
        return None
    path = os.path.join(own, name)
    try:
        os.mkdir(path)
        for key, value in settings.items():
            with open(os.path.join(path, key), "w") as fh:
                fh.write(value)
    except OSError:
        return None
    return path


def _within(label, figures):
    wall, cpu, rss = figures[:3]
    over = [name for name, value, limit in (("wall", wall, 2.0), ("cpu", cpu, 0.5), ("RSS", rss, 32.0))
            if value > limit]
    print("%-28s within the targets (2 s wall, 0.5 s CPU, 32 MiB): %s"
          % (label, "yes" if not over else "NO: " + ", ".join(over)), flush=True)


def test_collect_cost_idle_loaded_and_exhausted():
    idle = measure("idle")
    _within("idle", idle)
    # the application's log held open by a process: the task looks up its writer's cgroup
    # (one find over /proc/*/fd) and samples its cgroup counters with the rest
    with tempfile.TemporaryDirectory() as logs:
        os.chmod(logs, 0o755)
        log = os.path.join(logs, "app.log")
        with open(log, "w") as fh:
            fh.write("".join("2026-11-21 03:12:%02d,000 ERROR [app] request failed: timed out\n" % (i % 60)
                             for i in range(2000)))
        holder = subprocess.Popen(["sleep", str(LOAD_SECONDS)], stdin=open(log))
        try:
            with_log = measure("idle, log held by the app", stdin=json.dumps(
                {"log_path": log, "allowed_log_dirs": [logs], "since": "2026-11-21T03:12:45Z"}).encode())
        finally:
            holder.kill()
            holder.wait()
    _within("idle, log held by the app", with_log)
    cgroup_body = next((s["body"] for s in (with_log[4] or {}).get("sections", []) if s["id"] == "cgroup"), "")
    print("cgroup section with the log held: %s" % (cgroup_body.splitlines()[:1] or ["-"])[0][:100])
    deadline = time.time() + LOAD_SECONDS
    load = [multiprocessing.Process(target=_spin, args=(deadline,)) for _ in range(os.cpu_count() or 1)]
    load.append(multiprocessing.Process(target=_touch_memory, args=(deadline,)))
    for p in load:
        p.start()
    try:
        time.sleep(2)
        loaded = measure("loaded (CPU + 512 MiB)")
    finally:
        for p in load:
            p.terminate()
            p.join()
    print("loaded / idle: wall x%.2f, cpu x%.2f, RSS x%.2f" % (loaded[0] / idle[0], loaded[1] / idle[1], loaded[2] / idle[2]))
    _within("loaded", loaded)
    print("targets: wall <= 2 s, cpu <= 0.5 s, RSS <= 32 MiB")

    results = {}
    results["nobody ulimit -u 2"] = measure("nobody, ulimit -u 2", preexec="exec runuser -u nobody -- bash -c 'ulimit -u 2; exec %s'" % SCRIPT)
    results["nobody ulimit -v 64 MiB"] = measure("nobody, ulimit -v 64 MiB", preexec="exec runuser -u nobody -- bash -c 'ulimit -v 65536; exec %s'" % SCRIPT)
    mem = _cgroup("memory", "diag-bench-%d" % os.getpid(), {"memory.limit_in_bytes": str(32 * 1024 * 1024)})
    pids = _cgroup("pids", "diag-bench-%d" % os.getpid(), {"pids.max": "3"})
    try:
        if mem:
            results["memory cgroup 32 MiB"] = measure("memory cgroup limit 32 MiB", preexec="echo $$ > %s/cgroup.procs" % mem)
        else:
            print("memory cgroup: not available here (no writable cgroup)")
        if pids:
            results["pids cgroup max 3"] = measure("pids cgroup, pids.max 3", preexec="echo $$ > %s/cgroup.procs" % pids)
        else:
            print("pids cgroup: not available here")
    finally:
        for path in (mem, pids):
            if path:
                os.rmdir(path)
    for label, (_w, _c, _r, valid, report) in results.items():
        codes = [f["code"] for f in (report or {}).get("findings", [])][:4]
        print("%-28s findings: %s" % (label, ", ".join(codes) or "-"))
    assert idle[3] and loaded[3] and with_log[3] and all(r[3] for r in results.values())
