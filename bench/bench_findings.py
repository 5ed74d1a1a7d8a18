"""Recall and false alarms of the findings over the scenario corpus (tests/scenarios/).

Recall: incidents whose expected cause code(s) were flagged at (at least) the expected
severity. False alarms: warning/critical findings on healthy baselines, plus forbidden
codes raised on incidents. Printed per scenario and in total; the task really runs in
each scenario's fake node (see tests/scenario_runner.py). Needs root.
"""
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import scenario_runner  # noqa: E402


def test_corpus_recall_and_false_alarms():
    incidents = flagged = baselines = noisy_baselines = alarms = 0
    top1 = 0
    start = time.perf_counter()
    for name in scenario_runner.names():
        scenario = scenario_runner.load(name)
        with tempfile.TemporaryDirectory() as work:
            result = scenario_runner.run(scenario, work)
        verdict = scenario_runner.judge(scenario, result)
        shown = ", ".join("%s:%s" % (f["severity"][0].upper(), f["code"]) for f in result["findings"][:6])
        if scenario.manifest.get("baseline"):
            baselines += 1
            noisy_baselines += bool(verdict["false_alarms"])
            status = "ok" if not verdict["false_alarms"] else "FALSE ALARM"
        else:
            incidents += 1
            flagged += verdict["flagged"]
            expected = {e["code"] for e in scenario.manifest["expect"]}
            top1 += bool(result["findings"]) and result["findings"][0]["code"] in expected
            status = "flagged" if verdict["flagged"] else "MISSED " + ",".join(e["code"] for e in verdict["missing"])
        alarms += len(verdict["false_alarms"])
        print("%-36s %-14s %s" % (name, status, shown), flush=True)
    print("incidents: %d, right cause flagged: %d (recall %.0f %%), expected cause ranked first: %d (%.0f %%)"
          % (incidents, flagged, 100.0 * flagged / incidents, top1, 100.0 * top1 / incidents))
    print("healthy baselines: %d, with a warning/critical finding: %d; false alarms in all: %d"
          % (baselines, noisy_baselines, alarms))
    print("corpus run in %.1f s" % (time.perf_counter() - start))
    assert incidents and baselines
