"""diagnostics::collect wall time with a 1 MB and a 1 GB log: the ratio should be ~1.

The task reads a bounded window from the end of the log, so the log's size must not
matter. Logs are written under .var/bench (ignored); the 1 GB one is kept for re-runs.
"""
import os
import statistics
import time

from localorch import taskrunner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(ROOT, ".var", "bench")
LINE = b"2026-11-21 03:12:45,123 INFO [worker-7] GET /api/orders/12345 200 in 12ms user=42\n"


def make_log(path, size):
    if os.path.exists(path) and os.path.getsize(path) >= size:
        return
    block = LINE * (1024 * 1024 // len(LINE))
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            fh.write(block)
            written += len(block)


def time_task(spec, params, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        outcome = taskrunner.run_task(spec, params, timeout=120)
        times.append(time.perf_counter() - start)
        assert outcome.state == "finished", outcome.result
    return statistics.median(times)


def test_collect_wall_time_does_not_grow_with_the_log(runs=5):
    os.makedirs(BENCH_DIR, exist_ok=True)
    small, large = os.path.join(BENCH_DIR, "small.log"), os.path.join(BENCH_DIR, "large.log")
    make_log(small, 1024 * 1024)
    make_log(large, 1024 * 1024 * 1024)
    spec = taskrunner.load_task(os.path.join(ROOT, "puppet"), "diagnostics::collect")
    results = {}
    for label, path in (("1 MB", small), ("1 GB", large)):
        for mode, extra in (("tail", {}), ("since", {"since": "2026-11-21T03:12:45Z"})):
            params = dict({"log_path": path, "log_lines": 200, "allowed_log_dirs": [BENCH_DIR]}, **extra)
            results[(label, mode)] = time_task(spec, params, runs)
            print("collect %-5s log, %-5s mode: median %.3f s over %d runs"
                  % (label, mode, results[(label, mode)], runs), flush=True)
    for mode in ("tail", "since"):
        ratio = results[("1 GB", mode)] / results[("1 MB", mode)]
        print("ratio 1 GB / 1 MB (%s): %.2f" % (mode, ratio))
        assert ratio < 3, "a 1 GB log must cost about what a 1 MB log costs"
