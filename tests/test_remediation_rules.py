"""Remediation rules, guards and texts without Sentry: parsing (errors name the rule and the
key), matching (event data picks rules, never parameters), the Redis guards (atomic under
concurrency), the settings fields in both front ends, the save-time check against PE's task
metadata, and the audit note's escaping."""
import json
import os
import re
import threading
import uuid

import pytest
import redis as redis_py

from sentry_autodiag import diagnosis, hourly_limits, remediation, settings as settings_mod
from sentry_autodiag import orchestrator as oc
from sentry_autodiag.gateway import config as config_mod
from sentry_autodiag.intake import EventFacts, decide
from localorch.server import LocalOrchestrator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESTART = {"service": "myapp", "allowed_services": ["myapp"]}
EXAMPLE = """\
# dry run until the team has seen a few notes
- name: restart-myapp
  finding: [unit-failed, app-connection-refused]
  match: {service: checkout, exception_type: {glob: "*ConnectionError"}}
  params: {service: myapp, allowed_services: [myapp, myapp-worker]}
- name: worker-live
  finding: unit-failed
  match: {service: worker}
  params: {service: myapp-worker, allowed_services: [myapp-worker]}
  mode: live
"""


def facts(**kw):
    base = dict(event_id="e1", environment="production", level="error", node="web01.example.com",
                timestamp="2026-11-21T03:00:00Z", tags={}, exception_type=None, server_name="web01.example.com")
    base.update(kw)
    return EventFacts(**base)


# --- parsing ------------------------------------------------------------------------------


def test_example_parses_with_dry_run_the_default():
    first, second = remediation.parse_rules(EXAMPLE)
    assert first.mode == "dry-run" and not first.live and first.task == "remediation::restart_service"
    assert first.findings == ("unit-failed", "app-connection-refused") and first.after_failed is False
    assert first.task_params() == {"service": "myapp", "allowed_services": ["myapp", "myapp-worker"]}
    assert second.live and second.label() == "remediation rule 2 (worker-live)"
    assert remediation.parse_rules("") == () and remediation.parse_rules(None) == ()


@pytest.mark.parametrize("rules, words", [
    ([{"name": "a", "params": RESTART}], "Rule 1 (a): finding: required"),
    ([{"name": "a", "finding": "Unit Failed", "params": RESTART}], "Rule 1 (a): finding: 'Unit Failed' is not"),
    ([{"name": "a", "finding": "x", "params": RESTART, "mode": "Live"}], "Rule 1 (a): mode: dry-run"),
    ([{"name": "a", "finding": "x", "params": RESTART, "mode": True}], "Rule 1 (a): mode:"),
    ([{"name": "a", "finding": "x", "params": RESTART, "after_failed": "yes"}], "Rule 1 (a): after_failed:"),
    ([{"name": "a", "finding": "x", "params": RESTART, "nodes": ["db01"]}], "Rule 1 (a): nodes: unknown key"),
    ([{"name": "a", "finding": "x", "params": {"service": "sshd", "allowed_services": ["myapp"]}}],
     "Rule 1 (a): params.service: sshd is not in allowed_services"),
    ([{"name": "a", "finding": "x", "params": {"service": "myapp"}}], "Rule 1 (a): params.allowed_services:"),
    ([{"name": "a", "finding": "x", "params": {"allowed_services": ["myapp"]}}], "Rule 1 (a): params.service:"),
    ([{"name": "a", "finding": "x", "params": {"service": "-H", "allowed_services": ["-H"]}}],
     "Rule 1 (a): params.service:"),
    ([{"name": "a", "finding": "x", "task": "diagnostics::collect"}], "Rule 1 (a): task: remediation runs"),
    ([{"name": "a", "finding": "x", "task": "Bad Task"}], "Rule 1 (a): task:"),
    ([{"name": "a", "finding": "x", "task": "other::fix", "params": {"p": {"nested": 1}}}], "Rule 1 (a): params.p:"),
    ([{"name": "a", "finding": "x", "params": RESTART, "match": {"service": {"regex": "(a+)+"}}}],
     "Rule 1 (a): match.service:"),
    ([{"name": "a", "finding": "x", "params": RESTART}, {"name": "a", "finding": "y", "params": RESTART}],
     "Rule 2 (a): name: another rule"),
    ([{"name": "r%d" % i, "finding": "x", "params": RESTART} for i in range(21)], "At most 20"),
    ({"name": "a"}, "must be a list"),
])
def test_errors_name_the_rule_and_the_key(rules, words):
    with pytest.raises(remediation.RuleError) as err:
        remediation.parse_rules(json.dumps(rules))
    assert words in str(err.value)


def test_yaml_aliases_and_oversized_text_are_refused():
    with pytest.raises(remediation.RuleError, match="aliases"):
        remediation.parse_rules("- &a {name: a, finding: x}\n- *a\n")
    with pytest.raises(remediation.RuleError, match="longer than"):
        remediation.parse_rules("#" * 30000)


def test_other_tasks_take_their_own_params():
    (rule,) = remediation.parse_rules([{"name": "tmp", "finding": "disk-full", "task": "remediation::clean_tmp",
                                        "params": {"older_than_days": 7}}])
    assert rule.task_params() == {"older_than_days": 7}


# --- matching: the event picks rules, never what they run --------------------------------------


def test_event_conditions_choose_rules_by_reference_only():
    rules = remediation.parse_rules(EXAMPLE)
    hostile = facts(tags={"service": "checkout", "params": '{"service": "sshd"}', "mode": "live",
                          "allowed_services": "sshd"}, exception_type="requests.ConnectionError")
    assert remediation.event_candidates(rules, hostile) == [{"index": 1, "name": "restart-myapp"}]
    assert remediation.event_candidates(rules, facts(tags={"service": "worker"})) == [
        {"index": 2, "name": "worker-live"}]
    assert remediation.event_candidates(rules, facts(tags={"service": ["checkout"]}, exception_type=7)) == []


def test_intake_carries_only_the_references():
    settings = settings_mod.load({"url": "https://p:8143", "token": "t", "ca_cert": "x",
                                  "remediation_rules": EXAMPLE}.get)
    start = decide(settings, facts(tags={"service": "worker", "x" * 300: "y" * 10000}), 1, 2)
    assert start["remedy"] == [{"index": 2, "name": "worker-live"}]
    assert "worker" not in json.dumps({k: v for k, v in start.items() if k != "remedy"})
    off = settings_mod.load({"url": "https://p:8143", "token": "t", "ca_cert": "x"}.get)
    assert "remedy" not in decide(off, facts(tags={"service": "worker"}), 1, 2)


def test_choose_in_rule_order_and_after_failed():
    rules = list(remediation.parse_rules([
        {"name": "a", "finding": "oom-kill", "params": RESTART},
        {"name": "b", "finding": ["unit-failed", "log-missing"], "params": RESTART, "after_failed": True}]))
    findings = [{"code": "log-missing", "message": "m"}, {"code": "oom-kill", "message": "k"}]
    assert remediation.choose(rules, findings, True).rule.name == "a"
    match = remediation.choose(rules, findings, False)
    assert match.rule.name == "b" and match.finding["code"] == "log-missing"
    assert remediation.choose(rules[:1], findings, False) is None
    assert remediation.choose(rules, [{"code": "disk-full"}], True) is None


def test_resolve_refuses_moved_or_renamed_rules():
    rules = remediation.parse_rules(EXAMPLE)
    found, changed = remediation.resolve(rules, [{"index": 2, "name": "worker-live"}, {"index": 1, "name": "gone"},
                                                 "junk", {"index": "2"}])
    assert [r.name for r in found] == ["worker-live"] and changed is True


def test_carried_findings_are_bounded():
    report = {"findings": [{"code": "c" * 100, "message": "m" * 5000, "severity": "warning"}] * 100 + ["junk"]}
    carried = remediation.carried_findings(report)
    assert len(carried) == remediation.MAX_CARRIED_FINDINGS
    assert len(carried[0]["code"]) == 64 and len(carried[0]["message"]) == 400
    assert remediation.carried_findings(None) == [] and remediation.carried_findings({"findings": "x"}) == []


# --- guards in Redis ---------------------------------------------------------------------------


@pytest.fixture
def guards():
    client = redis_py.Redis(host="127.0.0.1", port=6379, db=5)
    prefix = "autodiag-test-%s" % uuid.uuid4().hex
    yield lambda now=None: remediation.Guards(client, prefix, "proj", **({"now": now} if now else {}))
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)


def test_limits_hold_under_concurrency(guards):
    g = guards()
    answers = []

    def take(i):
        answers.append(g.take("web01", "diag-%d" % i, 3, 100))

    threads = [threading.Thread(target=take, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers.count("ok") == 3 and answers.count("node") == 27


def test_project_limit_and_redelivery_and_window(guards):
    clock = [1000.0]
    g = guards(now=lambda: clock[0])
    assert g.take("web01", "d1", 5, 2) == "ok"
    assert g.take("web01", "d1", 5, 2) == "ok"   # the same diagnosis again: counted once
    assert g.take("web02", "d2", 5, 2) == "ok"
    assert g.take("web03", "d3", 5, 2) == "project"
    assert g.take("web03", "d4", 0, 2) == "node"  # 0 turns it off
    clock[0] += hourly_limits.WINDOW + 1
    assert g.take("web03", "d3", 5, 2) == "ok"


def test_one_remediation_per_issue(guards):
    g = guards()
    assert g.claim_issue(7, "7:e1") and g.claim_issue(7, "7:e1")
    assert not g.claim_issue(7, "7:e2")
    g.remember_job("7:e1", "42")
    assert g.recorded_job("7:e1") == "42" and g.recorded_job("7:e2") is None


# --- what the node said ------------------------------------------------------------------------


def node(state, result, error=None):
    return oc.NodeResult("web01", state, result, None, error, 1.0, None, None)


def test_outcomes_of_the_node_item():
    ok = node("finished", {"message": "noop: would restart", "before": {"ActiveState": "failed"}, "after": None})
    assert remediation.outcome_of(ok, live=False)[:3] == ("dry-run", "dry-run", "noop: would restart")
    assert remediation.outcome_of(ok, live=True).status == "done"
    assert remediation.outcome_of(ok, False).rows == [("ActiveState", "failed", "—")]
    refused = node("failed", {"version": "0.1.0"}, {"kind": "remediation/not-allowed", "msg": "no", "details": {}})
    assert remediation.outcome_of(refused, True)[:2] == ("refused", "refused")
    dead = node("failed", None, {"kind": "remediation/not-active", "msg": "dead", "details": {
        "before": {"ActiveState": "failed", "MainPID": 0}, "after": {"ActiveState": "failed", "MainPID": 0}}})
    assert remediation.outcome_of(dead, True).rows == [("ActiveState", "failed", "failed"), ("MainPID", "0", "0")]
    assert remediation.outcome_of(None, True).status == "not-run"
    assert remediation.outcome_of(node("errored", None, {"kind": "x", "msg": "not connected"}), True).tag == "not-run"


def test_audit_note_escapes_hostile_text():
    (rule,) = remediation.parse_rules([{"name": "r", "finding": "x", "params": RESTART}])
    finding = {"code": "x`y", "severity": "warning",
               "message": "[click](https://evil.example) <img src=x> password=hunter2 ```"}
    text = diagnosis.note_for_remediation("web01", rule, finding, "failed", "```\n# owned\n[a](b)",
                                          [("ActiveState", "```x", "a" * 500)], "9", "remediation/not-active")
    assert not re.search(r"(?<!\\)\[click|(?<!\\)<img", text) and "\\<img" in text and "hunter2" not in text
    assert "\n# owned" not in text and "\\[a\\]\\(b\\)" in text
    assert "did not stay up" in text and "**Switch it off**" in text
    body = text.split("**State of the unit**\n", 1)[1].split("\n\n**Switch it off**")[0]
    fence = body.split("text", 1)[0]
    assert len(fence) >= 4 and body.rstrip().endswith(fence.strip())  # the fence outlasts the ``` inside


# --- the settings, in both front ends ----------------------------------------------------------


def test_fields_and_defaults():
    names = [f.name for f in settings_mod.FIELDS]
    assert {"remediation_rules", "remediation_token", "remediation_max_per_node",
            "remediation_max_per_project"} <= set(names)
    assert settings_mod.FIELDS_BY_NAME["remediation_token"].type == "secret"
    loaded = settings_mod.load({"url": "u", "token": "t", "ca_cert": "c"}.get)
    assert loaded.remediation_rules == () and loaded.remediation_token == ""
    assert loaded.remediation_max_per_node == 1 and loaded.remediation_max_per_project == 5
    with pytest.raises(ValueError, match="Rule 1"):
        settings_mod.clean_field("remediation_rules", '[{"name": "x"}]')
    with pytest.raises(ValueError, match="from 0 to 20"):
        settings_mod.clean_field("remediation_max_per_node", "21")
    broken = settings_mod.load({"url": "u", "token": "t", "ca_cert": "c", "remediation_rules": "[{]"}.get)
    assert broken.remediation_rules == ()  # a stored value that no longer validates: off


def test_gateway_config_reads_the_fields_and_the_token_from_a_file(tmp_path):
    for name, text in (("sentry-token", "sntrys_x"), ("client-secret", "s" * 40), ("pe-token", "diag"),
                       ("rem-token", "rem-secret")):
        (tmp_path / name).write_text(text)
    (tmp_path / "ca.pem").write_text(open(os.path.join(ROOT, "tests", "gateway", "ca.pem")).read())
    data = {"sentry": {"url": "https://sentry.example.com", "organization": "acme", "token_file": "sentry-token",
                       "client_secret_file": "client-secret"},
            "projects": {"checkout": {"url": "https://p:8143", "token_file": "pe-token", "ca_cert_file": "ca.pem",
                                      "remediation_rules": EXAMPLE, "remediation_token_file": "rem-token",
                                      "remediation_max_per_project": 3}}}
    config = config_mod.parse(data, base_dir=str(tmp_path))
    settings = config.settings_for("checkout")
    assert settings.remediation_token == "rem-secret" and settings.token == "diag"
    assert [r.name for r in settings.remediation_rules] == ["restart-myapp", "worker-live"]
    assert settings.remediation_max_per_project == 3 and settings.remediation_max_per_node == 1
    data["projects"]["checkout"]["remediation_token"] = "inline"
    del data["projects"]["checkout"]["remediation_token_file"]
    with pytest.raises(config_mod.ConfigError, match="remediation_token: secrets are not written in the file"):
        config_mod.parse(data, base_dir=str(tmp_path))
    data["projects"]["checkout"]["remediation_token_file"] = "rem-token"
    del data["projects"]["checkout"]["remediation_token"]
    data["projects"]["checkout"]["remediation_rules"] = [{"name": "x", "finding": "y"}]
    with pytest.raises(config_mod.ConfigError, match="projects.checkout.remediation_rules: Rule 1 \\(x\\)"):
        config_mod.parse(data, base_dir=str(tmp_path))


# --- checked against PE when saved, with the remediation token -------------------------------


@pytest.fixture(scope="module")
def orch():
    with LocalOrchestrator(nodes=["web01.example.com"], modules_dir=os.path.join(ROOT, "puppet")) as o:
        yield o


def values(orch, rules, token=None):
    return {"url": orch.url, "token": "diagnostics-token-not-used-here", "ca_cert": orch.ca_pem,
            "remediation_token": token or orch.token, "remediation_rules": json.dumps(rules)}


def test_save_time_check_against_the_task_metadata(orch):
    settings_mod.check_together(values(orch, [{"name": "ok", "finding": "x", "params": RESTART}]))
    with pytest.raises(ValueError, match=r"Rule 1 \(p\): params.retries: the task remediation::restart_service "
                                         r"declares no parameter retries"):
        settings_mod.check_together(values(orch, [{"name": "p", "finding": "x", "params": dict(RESTART, retries=2)}]))
    with pytest.raises(ValueError, match=r"Rule 1 \(t\): params.timeout_seconds: 1 does not fit"):
        settings_mod.check_together(values(orch, [{"name": "t", "finding": "x",
                                                   "params": dict(RESTART, timeout_seconds=1)}]))
    with pytest.raises(ValueError, match=r"Rule 1 \(d\): task: remediation::nothing cannot be checked"):
        settings_mod.check_together(values(orch, [{"name": "d", "finding": "x", "task": "remediation::nothing"}]))
    with pytest.raises(ValueError, match="cannot be checked with the remediation token"):
        settings_mod.check_together(values(orch, [{"name": "w", "finding": "x", "params": RESTART}], token="wrong"))


def test_dry_run_needs_a_task_that_supports_noop_and_required_params():
    info = {"metadata": {"supports_noop": False, "parameters": {"path": {"type": "String[1]"},
                                                                "days": {"type": "Optional[Integer]"}}}}
    rules = remediation.parse_rules([{"name": "c", "finding": "disk-full", "task": "tidy::tmp",
                                      "params": {"path": "/tmp"}}])
    with pytest.raises(remediation.RuleError, match=r"Rule 1 \(c\): mode: the task tidy::tmp does not support noop"):
        remediation.verify_tasks(rules, lambda task: info, lambda t, v: True)
    live = remediation.parse_rules([{"name": "c", "finding": "disk-full", "task": "tidy::tmp", "mode": "live",
                                     "params": {"days": 3}}])
    with pytest.raises(remediation.RuleError, match=r"Rule 1 \(c\): params.path: required by the task"):
        remediation.verify_tasks(live, lambda task: info, lambda t, v: True)
