"""remediation::restart_service, the real script, run as pxp-agent runs it (localorch's
taskrunner: PT_* variables, `_noop`), against a fake `systemctl` first on PATH that keeps
each unit's state in a file. The allowlist, validation, noop and reporting are the task's."""
import json
import os
import stat

import pytest

from localorch import taskrunner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = os.path.join(ROOT, "puppet")

# A node's systemctl, just enough of it: `show --property=… -- UNIT` prints the unit's state
# file, `restart -- UNIT` restarts it (a new MainPID and timestamp) unless the file says the
# unit dies at once (Broken=1), its restart fails (RestartFails=1) or hangs (Hang=1). Every
# call is logged, so a test sees whether a restart happened.
FAKE_SYSTEMCTL = r"""#!/usr/bin/env bash
set -u
dir=${FAKE_SYSTEMD_DIR:?}
printf '%s\n' "$*" >> "$dir/calls.log"
verb=$1; shift
[ "${1:-}" = "${1#--property=}" ] || { shift; }
[ "${1:-}" = "--" ] && shift
unit=$1
file="$dir/units/$unit"
case $verb in
show)
    if [ -f "$file" ]; then
        printf 'LoadState=loaded\n'
        grep -E '^(ActiveState|SubState|MainPID|NRestarts|ActiveEnterTimestamp)=' "$file"
    else
        printf 'LoadState=not-found\nActiveState=inactive\nSubState=dead\nMainPID=0\nNRestarts=0\nActiveEnterTimestamp=\n'
    fi ;;
restart)
    [ -f "$file" ] || { echo "Failed to restart $unit: Unit $unit not found." >&2; exit 5; }
    grep -q '^Hang=1' "$file" && sleep 100
    grep -q '^RestartFails=1' "$file" && { echo "Job for $unit failed because the control process exited with error code." >&2; exit 1; }
    pid=$(sed -n 's/^MainPID=//p' "$file"); n=$(sed -n 's/^NRestarts=//p' "$file")
    if grep -q '^Broken=1' "$file"; then
        state="ActiveState=failed\nSubState=failed\nMainPID=0"
    else
        state="ActiveState=active\nSubState=running\nMainPID=$((pid + 100))"
    fi
    extra=$(grep -E '^(Broken|RestartFails|Hang)=' "$file")
    printf "$state\nNRestarts=%s\nActiveEnterTimestamp=Sat 2026-11-21 20:30:00 UTC\n%s\n" "$((n + 1))" "$extra" > "$file" ;;
*) echo "fake systemctl: $verb not supported" >&2; exit 1 ;;
esac
"""


class FakeNode:
    """A directory with bin/systemctl and the units' state files."""

    def __init__(self, base):
        self.dir = str(base)
        os.makedirs(os.path.join(self.dir, "bin"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "units"), exist_ok=True)
        path = os.path.join(self.dir, "bin", "systemctl")
        with open(path, "w") as fh:
            fh.write(FAKE_SYSTEMCTL)
        os.chmod(path, stat.S_IRWXU)
        self.env = {"PATH": os.path.join(self.dir, "bin") + ":" + os.environ.get("PATH", "/usr/bin:/bin"),
                    "FAKE_SYSTEMD_DIR": self.dir}

    def unit(self, name, active="active", pid=4242, broken=False, fails=False, hang=False):
        lines = ["ActiveState=%s" % active, "SubState=%s" % ("running" if active == "active" else "failed"),
                 "MainPID=%d" % pid, "NRestarts=3", "ActiveEnterTimestamp=Sat 2026-11-21 03:00:00 UTC"]
        lines += [flag for flag, on in (("Broken=1", broken), ("RestartFails=1", fails), ("Hang=1", hang)) if on]
        with open(os.path.join(self.dir, "units", name), "w") as fh:
            fh.write("\n".join(lines) + "\n")

    def state(self, name):
        with open(os.path.join(self.dir, "units", name)) as fh:
            return dict(line.split("=", 1) for line in fh.read().splitlines() if "=" in line)

    def restarts(self):
        log = os.path.join(self.dir, "calls.log")
        if not os.path.exists(log):
            return []
        with open(log) as fh:
            return [line for line in fh.read().splitlines() if line.startswith("restart")]


@pytest.fixture
def node(tmp_path):
    fake = FakeNode(tmp_path)
    fake.unit("myapp.service", active="failed", pid=0)
    return fake


def run(node, params, noop=False, timeout=60):
    spec = taskrunner.load_task(MODULES, "remediation::restart_service")
    return taskrunner.run_task(spec, params, timeout=timeout, extra_env=node.env, noop=noop)


ALLOW = ["nginx", "myapp.service", "worker@2"]


def test_metadata_is_valid_and_supports_noop():
    spec = taskrunner.load_task(MODULES, "remediation::restart_service")
    assert spec.metadata["supports_noop"] is True
    assert taskrunner.validate_params(spec, {"service": "myapp", "allowed_services": ["myapp"]}) == []
    assert taskrunner.validate_params(spec, {"service": "myapp; reboot", "allowed_services": ["myapp"]})
    assert taskrunner.validate_params(spec, {"service": "myapp", "allowed_services": []})


def test_live_restart_reports_before_and_after(node):
    out = run(node, {"service": "myapp", "allowed_services": ALLOW, "settle_seconds": 0})
    assert out.state == "finished", out
    result = out.result
    assert result["service"] == "myapp.service" and result["noop"] is False
    assert result["ran"] == "systemctl restart -- myapp.service"
    assert result["before"] == {"LoadState": "loaded", "ActiveState": "failed", "SubState": "failed", "MainPID": 0,
                                "NRestarts": 3, "ActiveEnterTimestamp": "Sat 2026-11-21 03:00:00 UTC"}
    assert result["after"]["ActiveState"] == "active" and result["after"]["MainPID"] == 100
    assert result["after"]["NRestarts"] == 4
    assert node.restarts() == ["restart -- myapp.service"]


def test_noop_says_what_it_would_do_and_changes_nothing(node):
    out = run(node, {"service": "myapp.service", "allowed_services": ALLOW}, noop=True)
    assert out.state == "finished", out
    assert out.result["noop"] is True and out.result["after"] is None
    assert out.result["would_run"] == "systemctl restart -- myapp.service"
    assert "would restart myapp.service (now failed)" in out.result["message"]
    assert out.result["before"]["ActiveState"] == "failed"
    assert node.restarts() == [] and node.state("myapp.service")["ActiveState"] == "failed"


def test_service_outside_the_allowlist_is_refused_even_in_noop(node):
    node.unit("sshd.service")
    for noop in (False, True):
        out = run(node, {"service": "sshd", "allowed_services": ALLOW}, noop=noop)
        assert out.state == "failed" and out.exit_code == 1
        assert out.result["_error"]["kind"] == "remediation/not-allowed"
        assert "sshd.service is not in allowed_services" in out.result["_error"]["msg"]
    assert node.restarts() == []


def test_instance_and_suffix_forms_match_exactly(node):
    node.unit("worker@2.service")
    node.unit("worker@3.service")
    assert run(node, {"service": "worker@2.service", "allowed_services": ALLOW, "settle_seconds": 0}).state == "finished"
    refused = run(node, {"service": "worker@3", "allowed_services": ALLOW})
    assert refused.result["_error"]["kind"] == "remediation/not-allowed"
    assert node.restarts() == ["restart -- worker@2.service"]


@pytest.mark.parametrize("bad", [
    "-H", "--root=/", "myapp; reboot", "myapp service", "../../etc/passwd", "my*app", "myapp?", "$(reboot)",
    "myapp\nnginx", "nginx.socket", "multi-user.target", "worker@.service", "a..b", "x" * 201, "", "myäpp",
    "my\\x2dapp", "\"nginx\"", "nginx,myapp",
])
def test_bad_unit_names_are_refused_before_systemctl(node, bad):
    out = run(node, {"service": bad, "allowed_services": ALLOW + [bad] if bad else ALLOW})
    assert out.state == "failed" and out.result["_error"]["kind"] == "remediation/invalid-parameter", (bad, out)
    assert not os.path.exists(os.path.join(node.dir, "calls.log"))


@pytest.mark.parametrize("allowed", [
    "", "[]", "nginx", '["nginx",]', '["nginx" "myapp"]', '["-H"]', '["ng\\"inx"]', '[1]', '{"a": "nginx"}',
    json.dumps(["s%d" % i for i in range(65)]), '["nginx"] ["myapp"]',
])
def test_bad_allowlists_are_refused(node, allowed):
    spec = taskrunner.load_task(MODULES, "remediation::restart_service")
    env = dict(node.env, PT_service="nginx", PT_allowed_services=allowed)
    out = taskrunner.run_task(spec, {}, timeout=30, extra_env=env)
    assert out.result["_error"]["kind"] in ("remediation/invalid-parameter",), (allowed, out)
    assert node.restarts() == []


def test_unknown_unit_is_not_restarted(node):
    out = run(node, {"service": "nginx", "allowed_services": ALLOW})
    assert out.result["_error"]["kind"] == "remediation/not-found"
    assert node.restarts() == []


def test_service_dead_after_restart_fails_with_both_states(node):
    node.unit("myapp.service", active="failed", pid=0, broken=True)
    out = run(node, {"service": "myapp", "allowed_services": ALLOW, "settle_seconds": 0})
    assert out.state == "failed" and out.exit_code == 1
    error = out.result["_error"]
    assert error["kind"] == "remediation/not-active" and "failed after the restart" in error["msg"]
    assert error["details"]["before"]["ActiveState"] == "failed"
    assert error["details"]["after"]["ActiveState"] == "failed" and error["details"]["after"]["NRestarts"] == 4


def test_failing_restart_reports_systemctls_words(node):
    node.unit("myapp.service", fails=True)
    out = run(node, {"service": "myapp", "allowed_services": ALLOW, "settle_seconds": 0})
    error = out.result["_error"]
    assert error["kind"] == "remediation/restart-failed" and "control process exited" in error["msg"]
    assert error["details"]["exit_code"] == 1


def test_hanging_restart_is_bounded_by_its_timeout(node):
    node.unit("myapp.service", hang=True)
    out = run(node, {"service": "myapp", "allowed_services": ALLOW, "timeout_seconds": 5, "settle_seconds": 0})
    assert out.result["_error"]["kind"] == "remediation/restart-timeout"
    assert out.duration < 20


def test_hostile_systemctl_output_stays_valid_json(node):
    with open(os.path.join(node.dir, "units", "myapp.service"), "w") as fh:
        fh.write('ActiveState=act"ive\\\x01\nSubState=},"x":{\nMainPID=12; rm\nNRestarts=99999999999\n'
                 'ActiveEnterTimestamp=x' + "é" * 600 + "\n")
    out = run(node, {"service": "myapp", "allowed_services": ALLOW}, noop=True)
    before = out.result["before"]
    assert before["ActiveState"] == 'act"ive\\' and before["SubState"] == '},"x":{'
    assert before["MainPID"] is None and before["NRestarts"] is None
    assert before["ActiveEnterTimestamp"].startswith("xéé") and len(before["ActiveEnterTimestamp"].encode()) <= 512
    assert set(before) == {"LoadState", "ActiveState", "SubState", "MainPID", "NRestarts", "ActiveEnterTimestamp"}


def test_invalid_noop_and_numbers_are_refused(node):
    spec = taskrunner.load_task(MODULES, "remediation::restart_service")
    for extra in ({"PT__noop": "yes"}, {"PT_timeout_seconds": "1"}, {"PT_settle_seconds": "-1"},
                  {"PT_timeout_seconds": "99999999999999999999"}):
        env = dict(node.env, PT_service="myapp", PT_allowed_services='["myapp"]', **extra)
        out = taskrunner.run_task(spec, {}, timeout=30, extra_env=env)
        assert out.result["_error"]["kind"] == "remediation/invalid-parameter", (extra, out)
    assert node.restarts() == []
