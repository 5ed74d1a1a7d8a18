"""Every scenario of the corpus (tests/scenarios/), run for real inside its fake node.

An incident must get its cause code(s) at (at least) the expected severity and none of
its forbidden codes as warning/critical; a healthy baseline must get no warning and no
critical finding at all. Needs root (unshare -m and bind mounts), like the task on a node.
"""
import os

import pytest

import scenario_runner

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="scenarios bind-mount fake /proc files: run as root")


def _summary(result):
    return "\n".join("%s %s [%s] %s" % (f["severity"], f["code"], f.get("section"), f["message"][:140])
                     for f in result["findings"])


@pytest.mark.parametrize("name", scenario_runner.names())
def test_scenario(name, tmp_path):
    scenario = scenario_runner.load(name)
    result = scenario_runner.run(scenario, str(tmp_path))
    verdict = scenario_runner.judge(scenario, result)
    assert verdict["missing"] == [], "cause not flagged:\n" + _summary(result)
    assert verdict["false_alarms"] == [], "false alarm:\n" + _summary(result)
    for f in result["findings"]:
        assert f["section"] in {s["id"] for s in result["sections"]}, f


def test_the_corpus_is_large_enough():
    manifests = [scenario_runner.load(n).manifest for n in scenario_runner.names()]
    assert sum(1 for m in manifests if m.get("baseline")) >= 6
    assert sum(1 for m in manifests if not m.get("baseline") and m["expect"]) >= 35
