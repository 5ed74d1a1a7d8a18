"""Ask again (issue 22) without Sentry: the /autodiag parser against a hostile corpus (and
property tests), the limits and the regression claim in the real Redis, the changes
section, and the `request` step driving the real task on the local orchestrator.
The same scenarios inside real Sentry 23.7.1: test_ask_again_sentry.py."""
import re
import time

import pytest
import redis as redis_py
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from flow_frontend import QueueFrontEnd
from sentry_autodiag import comment_command as cc, history, settings as settings_mod
from sentry_autodiag.flow import Flow
from localorch.server import LocalOrchestrator
from sentry_autodiag.targeting import CERTNAME_CHARS, DEFAULT_NODE_PATTERN, NodeRejected, certname_for

from autodiag_case import NODES, app_log, modules_dir  # noqa: F401 (fixtures)

REDIS_DB = 14


@pytest.fixture
def client():
    c = redis_py.StrictRedis(host="127.0.0.1", port=6379, db=REDIS_DB)
    c.flushdb()
    yield c
    c.flushdb()


# --- parsing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text,node", [
    ("/autodiag", None), ("/autodiag\n", None), ("/autodiag   ", None), ("/autodiag\r\nplease", None),
    ("/autodiag web02.example.com", "web02.example.com"), ("/autodiag \t db01  \nwhy not", "db01"),
])
def test_the_command_on_the_first_line(text, node):
    assert cc.parse(text) == cc.Command(node)


@pytest.mark.parametrize("text", [
    "", "autodiag", "please /autodiag", " /autodiag", "    /autodiag web01", "\t/autodiag", "> /autodiag",
    ">/autodiag web01", "```\n/autodiag\n```", "`/autodiag`", "\n/autodiag", "hello\n/autodiag web01",
    "/autodiagnose", "/autodiag:web01", "/autodiag\x00web01", "/autodiag\u00a0web01", "/AUTODIAG",
    "\u2215autodiag", "\uff0fautodiag web01", "\u2044autodiag", "\u29f8autodiag", "\u0338autodiag",
    "\ufeff/autodiag", "\u200b/autodiag", "/\u200bautodiag", "/аutodiag",  # Cyrillic а
    "/autodiag" + " " * 10 + "x" * (cc.MAX_COMMENT_CHARS), None, 42, ["/autodiag"], {"text": "/autodiag"},
])
def test_not_the_command(text):
    assert cc.parse(text) is None


def test_malformed_commands_get_the_usage():
    assert cc.parse("/autodiag web01 web02").usage == "only one node may follow /autodiag"
    assert "longer than" in cc.parse("/autodiag " + "a" * 400).usage


class Fixed:
    node_pattern = r"web\d\d\.example\.com"
    certname_suffix = ".example.com"


@pytest.mark.parametrize("node,code", [
    ("web02.example.com; rm -rf /", None), ('web01" or certname ~ ".*', None), ("WEB\u2024example.com", "invalid"),
    ("web01.example.com\x1b[31m", "invalid"), ("10.0.0.1", "invalid"), ("db01.example.com", "not-allowed"),
    ("web01.example.com/../x", "invalid"), ("ｗｅｂ01.example.com", "invalid"), ("a" * 260, "invalid"), ("a" * 400, "usage"),
])
def test_a_named_node_passes_the_checks_of_an_event_server_name_or_is_refused(node, code):
    command = cc.parse("/autodiag " + node)
    with pytest.raises(NodeRejected) as refused:
        cc.resolve_node(command, "web01.example.com", Fixed)
    if code:
        assert refused.value.code == code
    assert "The event's" not in refused.value.message


def test_the_node_diagnosed_before_and_short_names():
    assert cc.resolve_node(cc.Command(None), "web01.example.com", Fixed) == "web01.example.com"
    assert cc.resolve_node(cc.Command("web02"), None, Fixed) == "web02.example.com"
    with pytest.raises(NodeRejected) as none:
        cc.resolve_node(cc.Command(None), None, Fixed)
    assert none.value.code == "no-node"


@hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400) | st.builds(lambda a, b: "/autodiag" + a + b, st.text(" \t\u00a0\u2215\uff0f", max_size=3),
                                          st.text(max_size=300)))
def test_whatever_the_comment_only_a_node_an_event_could_name_reaches_pe(text):
    """Any comment: either nothing, or a refusal, or a certname that certname_for accepts for
    the same raw value as an event's server_name (so PE sees nothing an alert could not send)."""
    command = cc.parse(text)
    first = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]
    if command is None:
        assert not (first.startswith("/autodiag") and first[9:10] in ("", " ", "\t")) or len(text) > cc.MAX_COMMENT_CHARS
        return
    assert text.startswith("/autodiag")
    try:
        node = cc.resolve_node(command, None, settings_mod.load({}.get))
    except NodeRejected:
        return
    assert CERTNAME_CHARS.match(node) and re.fullmatch(DEFAULT_NODE_PATTERN, node)
    assert node == certname_for(command.node, "server_name", DEFAULT_NODE_PATTERN, "")


# --- limits ------------------------------------------------------------------------------------

def test_three_per_issue_and_twenty_per_project_in_any_hour(client):
    now = [1_000_000.0]
    limit = cc.RateLimit(client, "t:asked", now=lambda: now[0])
    assert [limit.take("p", 1, "1:c%d" % i, 3, 20) for i in range(4)] == [None, None, None, "issue"]
    assert limit.take("p", 1, "1:c1", 3, 20) is None  # a redelivered request is not counted twice
    for issue in range(2, 8):
        for i in range(3):
            limit.take("p", issue, "%d:c%d" % (issue, i), 3, 20)
    assert limit.take("p", 99, "99:c", 3, 20) == "project"   # 3 + 6 × 3 = 21 ≥ 20
    assert limit.take("other", 99, "99:c", 3, 20) is None      # projects do not share
    now[0] += 3601
    assert limit.take("p", 1, "1:c9", 3, 20) is None           # an hour later the window moved


# --- regressions: the per-issue claim ------------------------------------------------------------

def test_a_later_event_of_an_issue_is_diagnosed_again_once_the_last_diagnosis_is_older_than_the_interval():
    fe = QueueFrontEnd(settings_mod.load({"url": "https://pe:8143", "token": "t", "ca_cert": "x"}.get))
    flow = Flow(fe)
    try:
        assert flow.claim_issue(1, "e1", 3600) and flow.claim_issue(1, "e1", 3600)  # redelivery
        assert not flow.claim_issue(1, "e2", 3600)
        key = flow._key("issue", 1)
        fe.client.set(key, "e1 %f" % (time.time() - 3700))   # as if an hour and more passed
        assert flow.claim_issue(1, "e3", 3600) and not flow.claim_issue(1, "e4", 3600)
        fe.client.set(key, "e-from-0.1")                      # a claim written before this version
        assert flow.claim_issue(1, "e5", 3600)
    finally:
        fe.cleanup()


# --- the changes section ----------------------------------------------------------------------------

def report(srv, findings, puppet_at="2026-12-05T08:00:00Z", pkg_at="2026-12-04T10:00:00Z"):
    df = ("Filesystem 1024-blocks Used Available Capacity Mounted on\n"
          "/dev/sda1 1000 400 600 40%% /\n/dev/sdb1 1000 %d %d %d%% /srv\n" % (srv * 10, 1000 - srv * 10, srv))
    changes = ("puppet:   last run %s (5 min before the event), status changed, 2 of 300 resources changed, 0 failed,"
               " config 123\npackages: 3 change(s) in the logs read, last %s (1 d before the event): upgrade "
               "openssl 3.0.2\n" % (puppet_at, pkg_at))
    return {"findings": findings, "collected_at": "2026-12-05T08:10:00Z",
            "sections": [{"id": "disk", "body": df}, {"id": "changes", "body": changes}]}


DISK = {"severity": "warning", "code": "disk-full", "message": "/srv is 95 % full (space)", "section": "disk"}
OOM = {"severity": "critical", "code": "oom-kill", "message": "the OOM killer killed 1 process(es)", "section": "oom"}


def test_changes_name_findings_that_appeared_went_away_or_moved_and_the_figures():
    before = history.digest(report(71, [OOM, {"severity": "info", "code": "app-errors", "message": "3 error lines"}]))
    after = history.digest(report(100, [dict(DISK, severity="critical", message="/srv is 100 % full (space)"),
                                        {"severity": "warning", "code": "app-errors", "message": "30 error lines"}],
                                  puppet_at="2026-12-05T09:00:00Z"))
    text = history.render(before, after)
    assert text.startswith("**Changes since the last diagnosis**")
    assert "➕ new: 🔴 `disk-full`" in text and "✅ gone: 🔴 `oom-kill`" in text
    assert "`app-errors`" in text and "info → warning" in text and "3 → 30" in text
    assert "💾 `/srv` 71 % → 100 % used" in text and "`/`" not in text  # / did not change
    assert "Puppet ran since the last diagnosis: 2026\\-12\\-05T09:00:00Z" in text.replace("\\:", ":")
    assert "packages changed" not in text
    same = history.render(after, after)
    assert "none — the same findings and figures" in same


def test_the_digest_is_small_and_bounded_whatever_the_report():
    huge = report(50, [{"severity": "warning", "code": "x" * 500, "message": "9" * 5000 + " `evil` [l](javascript:1)"}
                       for _ in range(500)])
    huge["sections"][0]["body"] += "".join("/dev/x 1 1 1 50%% /m%d\n" % i for i in range(5000))
    digest = history.digest(huge)
    import json
    assert len(json.dumps(digest)) < 20000
    assert len(digest["findings"]) == history.MAX_FINDINGS and len(digest["mounts"]) == history.MAX_MOUNTS
    text = history.render(history.digest(report(10, [])), digest)
    assert "](javascript" not in text and text.count("\n- ") <= history.MAX_LINES + 1
    for hostile in (None, [], "x", {"findings": "x", "sections": [1, {"id": "disk", "body": 5}]}):
        found = history.digest(hostile)
        assert found is None if not isinstance(hostile, dict) else (found["findings"] == [] and found["mounts"] == {})


# --- the request step, on the local orchestrator with the real task ----------------------------------

@pytest.fixture
def world(modules_dir, app_log, tmp_path):  # noqa: F811
    with LocalOrchestrator(nodes=NODES, modules_dir=modules_dir, task_env={"TMPDIR": str(tmp_path)}) as orch:
        fe = QueueFrontEnd({"url": orch.url, "token": orch.token, "ca_cert": orch.ca_pem, "log_path": app_log,
                            "log_lines": 5, "puppetdb_url": orch.url, "node_pattern": r"(web|db)\d\d\.example\.com"})
        yield orch, fe
        fe.cleanup()


def ask(flow, fe, comment_id, node=None, usage=None, issue="7"):
    flow.run("request", {"project": "checkout", "issue": issue, "comment_id": str(comment_id), "node": node,
                         "usage": usage, "actor": "Jane \x1b[31mDoe", "at": "2026-12-05T08:30:00Z"})


def test_requests_diagnose_again_with_the_changes_and_respect_node_checks_and_limits(world):
    orch, fe = world
    flow = Flow(fe, eager=True)
    ask(flow, fe, 11)  # nothing diagnosed on this issue yet, and no node named
    assert "refused (no node)" in fe.notes["7:comment-11:answer"] and not orch.jobs
    ask(flow, fe, 12, "web01.example.com")
    assert len(orch.jobs) == 1 and list(list(orch.jobs.values())[0].nodes) == ["web01.example.com"]
    answer, first = fe.notes["7:comment-12:answer"], fe.notes["7:comment-12"]
    assert answer.startswith("**Puppet diagnostics** for `web01.example.com`: diagnosis started, job `1`")
    assert first.startswith("**Requested** by Jane \\\\x1b\\[31mDoe at `2026-12-05T08:30:00Z` with `/autodiag`")
    assert "Changes since" not in first and "**Puppet diagnostics** for `web01.example.com`" in first
    ask(flow, fe, 13)  # the node diagnosed before
    second = fe.notes["7:comment-13"]
    assert len(orch.jobs) == 2 and "**Changes since the last diagnosis**" in second
    assert second.index("Changes since") < second.index("**Puppet diagnostics** for `web01.example.com`")
    ask(flow, fe, 14, "web99.example.com", issue="8")  # valid name, unknown to PuppetDB
    assert "refused (unknown node)" in fe.notes["8:comment-14:answer"]
    ask(flow, fe, 15, "db01.example.com")   # the 4th request on issue 7 within the hour (refused ones count)
    assert "limit of 3 requested diagnoses per issue per hour" in fe.notes["7:comment-15:answer"]
    assert len(orch.jobs) == 2 and ("autodiag.request", {"outcome": "limit-issue"}) in fe.metrics


def test_a_refused_node_starts_no_job(world):
    orch, fe = world
    flow = Flow(fe, eager=True)
    for i, node in enumerate(["mail01.example.com", "web01.example.com;id", "10.1.1.1", "web01\u2024example.com"]):
        ask(flow, fe, 20 + i, node)
    assert not orch.jobs and len(fe.notes) == 4 and all("refused" in n for n in fe.notes.values())
    assert "limit of 3 requested diagnoses per issue" in fe.notes["7:comment-23:answer"]  # refusals count
    assert "node not allowed" in fe.notes["7:comment-20:answer"]


def test_a_request_waiting_for_a_slot_is_answered_queued_then_started(world):
    orch, fe = world
    fe.config["max_running_jobs"] = 1
    flow = Flow(fe, eager=False)
    settings = fe.settings("checkout")
    assert flow.storm(settings, "checkout").acquire("other:e", hold=60)  # another issue's job runs
    ask(flow, fe, 30, "web01.example.com")
    assert fe.notes == {"7:comment-30:queued": "**Puppet diagnostics** for `web01.example.com`: diagnosis queued; "
                                               "it starts when a running one ends."} and not orch.jobs
    flow.storm(settings, "checkout").release("other:e")
    flow.drain("checkout")
    fe.run_queued(flow, until=lambda: "7:comment-30" in fe.notes, max_sleep=0.5)
    assert fe.notes["7:comment-30:answer"].endswith("diagnosis started, job `1`.")
    assert fe.notes["7:comment-30"].startswith("**Requested** by Jane")


def test_times_and_ages_in_a_message_are_no_changed_figures():
    def one(message):
        return history.digest({"findings": [{"severity": "warning", "code": "unit-failed", "message": message}],
                               "sections": []})
    before = one("api-cache.service failed 88 s before the event at 2026-12-05 09:27:48,549 (3 restarts)")
    after = one("api-cache.service failed 90 s before the event at 2026-12-05 09:29:01,003 (3 restarts)")
    assert history.changes(before, after) == []
    more = one("api-cache.service failed 2 min before the event at 2026-12-05 09:29:01,003 (5 restarts)")
    (line,) = history.changes(before, more)
    assert line.endswith("\\(3 → 5\\)") and "`unit-failed`" in line
