"""Hostile event data through the core both front ends share (intake, targeting, the
rejection note), as property tests: whatever an SDK puts in tags, server_name, level,
environment, the exception or the event time, `decide` either filters the event or gives
flow arguments that hold only a vetted certname (or a rejection with a bounded message),
the event time in one fixed form, and the admin's rule references; and the note written
for a refused node is inert Markdown.

Plain Python: collected by the Sentry suite (Python 3.8) and the gateway's (3.11), so no
Sentry import and no syntax newer than 3.8.
"""
import calendar
import json
import math
import re
import time

import mistune
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sentry_autodiag import diagnosis, intake, routing, settings as settings_mod, targeting
from sentry_autodiag.intake import EventFacts
from sentry_autodiag.report import NoteContext

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = 1795000000.0  # 2026-11-18
ISO_OUT = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
START_KEYS = {"project", "issue", "event_id", "node", "rejection", "since", "queued_at", "route", "remedy"}

HOSTILE_PIECES = list("ab.-_`~*[]()<>!#:/\\\"' \n\t\r\x00\x1b\u202e\u200d\u0430\u0435é\ufeff\ud800") + [
    "```", "~~~", "</script>", "<script>alert(1)</script>", "javascript:", "[x](http://evil)", "http://",
    "<img src=x onerror=alert(1)>", "# ", "- ", "../", "../../etc/passwd", " or true", "*", "%2e%2e",
    "web01", ".example.com", "\x1b[31m", "$(reboot)", "`id`", ";", "|", "&&", "\"} or nodes {", "\u2024",
    "\uff0e", "\u0131", "WEB", "10.0.0.1", "::1", "[::1]", "x" * 300]
HOSTILE_TEXT = st.lists(st.sampled_from(HOSTILE_PIECES), max_size=40).map("".join)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-2 ** 70, max_value=2 ** 70),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), HOSTILE_TEXT)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.one_of(st.text(max_size=12), HOSTILE_TEXT), inner, max_size=5)),
    max_leaves=25)
TAG_KEYS = st.one_of(st.sampled_from(["server_name", "puppet_node", "service", "environment", "level", "logger",
                                      "transaction", "worker_host", ""]), st.text(max_size=10), HOSTILE_TEXT)
TAG_ENTRIES = st.one_of(
    st.tuples(TAG_KEYS, JSON_VALUES).map(list),                                           # [key, value]
    st.fixed_dictionaries({"key": st.one_of(TAG_KEYS, JSON_SCALARS), "value": JSON_VALUES}),  # {key, value}
    JSON_VALUES)                                                                          # junk
TAGS = st.one_of(st.lists(TAG_ENTRIES, max_size=12), st.dictionaries(TAG_KEYS, JSON_VALUES, max_size=8), JSON_VALUES)
TIMES = st.one_of(
    JSON_SCALARS,
    st.floats(min_value=-1e12, max_value=1e12),
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:?[0-9]{2})?\Z"),
    st.sampled_from(["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00", "0999-01-01T00:00:00Z",
                     "2026-02-30T00:00:00Z", "2999-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "NaN", "",
                     "2026-11-18T00:00:00+24:00", " 2026-11-18T00:00:00Z\n"]))

ROUTING_RULES = """
- name: api
  match: {service: api, environment: production}
  log_path: /var/log/api/app.log
- name: timeouts
  match: {exception_type: {regex: '.*Timeout(Error)?'}}
  task: sample::echo
  params: {message: timeout, count: 3}
- name: workers
  match: {logger: {glob: 'celery.*'}, level: [error, fatal]}
  node_tag: worker_host
- name: by puppet_node
  match: {service: {glob: '*'}}
  node_tag: puppet_node
- name: health checks
  match: {transaction: {glob: '/health*'}}
  diagnose: false
"""
REMEDIATION_RULES = """
- name: restart-myapp
  finding: [unit-failed]
  match: {service: checkout, exception_type: {glob: "*ConnectionError"}}
  params: {service: myapp, allowed_services: [myapp]}
"""
CONFIGS = {
    "defaults": settings_mod.load({"sentry_environments": "*"}.get),
    "rules": settings_mod.load({"sentry_environments": "*", "routing_rules": ROUTING_RULES,
                                "remediation_rules": REMEDIATION_RULES, "min_level": "warning"}.get),
    "tag-and-suffix": settings_mod.load({"sentry_environments": "production, staging", "node_tag": "puppet_node",
                                        "certname_suffix": ".example.com",
                                        "node_pattern": r"(web|db)\d+\.example\.com"}.get),
}
RULE_REFS = {(r.index, r.name) for r in routing.parse_rules(ROUTING_RULES)}


def render(markdown_text):
    return mistune.create_markdown(escape=False)(markdown_text)


def assert_inert(note):
    html = render(note)
    assert "<script" not in html and "<img" not in html and not re.search(r"<a\s", html), html
    tags = set(re.findall(r"<(/?[a-z0-9]+)", html))
    assert tags <= {"p", "/p", "strong", "/strong", "code", "/code", "br", "em", "/em", "ul", "/ul", "li", "/li"}, tags
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202e\ud800-\udfff]", note)


# --- the pieces ------------------------------------------------------------------------------


@SETTINGS
@given(TAGS)
@example([["server_name", "web01"], {"key": "puppet_node", "value": "db01"}, ["k"], "junk", [1, 2]])
@example({"server_name": "web01", "": "x", "k" * 201: "long"})
def test_tags_are_a_bounded_mapping_of_string_keys_whatever_the_shape(raw):
    tags = intake.tags_from_pairs(raw)
    assert isinstance(tags, dict) and len(tags) <= intake.MAX_TAGS
    assert all(isinstance(k, str) and 0 < len(k) <= intake.MAX_TAG_KEY for k in tags)


def test_the_three_tag_shapes_give_the_same_tags():
    pairs = [["server_name", "web01"], ["level", "error"], ["server_name", "second"]]
    objects = [{"key": k, "value": v} for k, v in pairs]
    assert intake.tags_from_pairs(pairs) == intake.tags_from_pairs(objects) == {"server_name": "web01",
                                                                                "level": "error"}
    assert intake.tags_from_pairs({"server_name": "web01"}) == {"server_name": "web01"}
    assert intake.tags_from_pairs([("a", 1)] * 1000 + [("b", 2)]) == {"a": 1}  # only MAX_TAGS entries read


@SETTINGS
@given(TIMES)
@example(float("nan"))
@example(1e308)
@example(-1.0)
@example(True)
def test_event_times_come_out_in_one_form_or_not_at_all(raw):
    when = intake.iso_utc(raw)
    if when is None:
        return
    assert ISO_OUT.match(when), when
    parsed = calendar.timegm(time.strptime(when, "%Y-%m-%dT%H:%M:%SZ"))  # what the receiver's stale check does
    assert 0 <= parsed < 253402300800  # 1970 .. 9999


@pytest.mark.parametrize("raw, expected", [
    ("2026-11-21T03:12:45.123456Z", "2026-11-21T03:12:45Z"),
    ("2026-11-21 05:12:45+02:00", "2026-11-21T03:12:45Z"),
    (1795000000, "2026-11-18T11:06:40Z"),
    ("9999-12-31T23:59:59-23:59", None),        # year 10000 in UTC: was OverflowError
    ("0001-01-01T00:00:00+01:00", None),        # year 0 in UTC: was OverflowError
    ("0999-01-01T00:00:00Z", None),             # came out as '999-01-01T…', which broke the stale check
    ("2026-02-30T00:00:00Z", None), ("2026-11-18T00:00:00+24:00", None), ("yesterday", None),
    (float("nan"), None), (float("inf"), None), (-5, None), (True, None), ("2" * 41, None),
])
def test_event_time_examples(raw, expected):
    assert intake.iso_utc(raw) == expected


def test_an_event_time_far_in_the_future_is_not_the_tasks_since():
    assert intake.plausible_since("2026-11-18T10:00:00Z", NOW) == "2026-11-18T10:00:00Z"
    assert intake.plausible_since("2999-01-01T00:00:00Z", NOW) is None
    assert intake.plausible_since("2026-11-18T10:00:00Z", None) == "2026-11-18T10:00:00Z"
    assert intake.plausible_since(None, NOW) is None


@SETTINGS
@given(JSON_VALUES)
@example({"values": [{"type": "A"}, {"type": "x" * 5000}, {"type": None}]})
def test_the_exception_type_is_a_bounded_string_or_none(raw):
    value = intake.exception_type(raw)
    assert value is None or (isinstance(value, str) and 0 < len(value) <= routing.MAX_INPUT)


@SETTINGS
@given(JSON_VALUES)
@example([[[[["deep"]]]]])
@example(10 ** 400)
@example({"k": "v" * 10 ** 5})
def test_a_refused_value_is_shown_short_whatever_it_is(raw):
    text = targeting.shown(raw)
    assert isinstance(text, str) and len(text) <= targeting.SHOWN_CHARS + 2


def test_a_deeply_nested_node_value_is_refused_by_its_type_not_its_repr():
    value = []
    for _ in range(5000):  # repr() of this raises RecursionError
        value = [value]
    with pytest.raises(targeting.NodeRejected) as raised:
        targeting.certname_for(value)
    assert raised.value.code == "invalid" and "a list of 1 item(s)" in raised.value.message


# --- decide: the whole intake --------------------------------------------------------------


facts_strategy = st.builds(
    EventFacts,
    event_id=st.just("e" * 32),
    environment=st.one_of(st.sampled_from(["production", "staging", None, ""]), JSON_SCALARS),
    level=st.one_of(st.sampled_from(["error", "fatal", "warning", "info", "debug", None]), JSON_SCALARS),
    node=st.one_of(st.sampled_from(["web01", "web01.example.com", "WEB02.EXAMPLE.COM", "db7"]), JSON_VALUES,
                   HOSTILE_TEXT),
    timestamp=TIMES.map(intake.iso_utc),
    tags=TAGS.map(intake.tags_from_pairs),
    exception_type=st.one_of(st.none(), st.sampled_from(["ReadTimeout", "ConnectionError"]), HOSTILE_TEXT),
    server_name=st.one_of(st.sampled_from(["web01.example.com", "../../etc", "web01 or true", "*", ""]),
                          JSON_VALUES, HOSTILE_TEXT),
)


@SETTINGS
@given(st.sampled_from(sorted(CONFIGS)), facts_strategy)
@example("rules", EventFacts("e" * 32, "production", "error", "web01", "2999-01-01T00:00:00Z",
                             tags={"service": "api", "puppet_node": "db01"}, server_name="web01"))
@example("rules", EventFacts("e" * 32, "production", "error", None, None,
                             tags={"service": "x", "puppet_node": "<img src=x onerror=alert(1)>`]("},
                             server_name="web01"))
@example("defaults", EventFacts("e" * 32, "production", "error", "web01\u202e`</script>[a](javascript:x)", None))
def test_decide_gives_only_a_vetted_node_and_admin_references(name, facts):
    config = CONFIGS[name]
    start = intake.decide(config, facts, "checkout", "4242", queued_at=NOW)
    if start is None:
        return
    assert set(start) <= START_KEYS
    assert (start["project"], start["issue"], start["event_id"], start["queued_at"]) == ("checkout", "4242",
                                                                                          "e" * 32, NOW)
    node, rejection = start["node"], start["rejection"]
    if node is None:
        assert rejection["code"] in ("missing", "invalid", "not-allowed") and set(rejection) == {"code", "message"}
        assert isinstance(rejection["message"], str) and len(rejection["message"]) < 400
    else:
        assert rejection is None and node.isascii() and targeting.CERTNAME_CHARS.match(node)
        assert re.fullmatch(config.node_pattern, node) and len(node) <= targeting.MAX_CERTNAME
        assert ".." not in node and "/" not in node
    since = start["since"]
    assert since is None or (ISO_OUT.match(since) and since == facts.timestamp and
                             calendar.timegm(time.strptime(since, "%Y-%m-%dT%H:%M:%SZ")) <= NOW + 3600)
    if "route" in start:
        assert set(start["route"]) == {"index", "name"} and (start["route"]["index"], start["route"]["name"]) \
            in RULE_REFS
    for ref in start.get("remedy", []):
        assert ref == {"index": 1, "name": "restart-myapp"}
    # what the queue carries: plain JSON, UTF-8 encodable, no NaN
    json.dumps(start, allow_nan=False).encode("utf-8")
    if rejection:
        ctx = NoteContext(node=node or "(none)", task=config.task, environment=config.environment)
        assert_inert(diagnosis.note_for_rejection(ctx, targeting.NodeRejected(rejection["code"],
                                                                              rejection["message"])))


@pytest.mark.parametrize("server_name, code", [
    ("../../etc", "invalid"), ("web01 or true", "invalid"), ("*", "invalid"), ("", "missing"), (None, "missing"),
    ("x" * 10000, "invalid"), ("w\u0435b01.example.com", "invalid"), ("web01\n.example.com", "invalid"),
    ("web01\x00", "invalid"), ("\u202eweb01", "invalid"), ("\x1b[31mweb01", "invalid"), ("`web01`", "invalid"),
    ("<b>web01</b>", "invalid"), ("[web01](http://evil)", "invalid"), ("10.0.0.1", "invalid"), ("[::1]", "invalid"),
    ('web01" or certname ~ "', "invalid"), ("web01.example.com.", "not-allowed"), ("-web01", "invalid"),
    (["web01"], "invalid"), ({"name": "web01"}, "invalid"), (42, "invalid"), (True, "invalid"),
    (float("nan"), "invalid"), ("web01..example.com", "invalid"), ("web01/../../etc", "invalid"),
])
def test_hostile_server_names_are_refused_with_an_inert_note(server_name, code):
    facts = EventFacts("e" * 32, "production", "error", server_name, None, tags={}, server_name=server_name)
    start = intake.decide(CONFIGS["defaults"], facts, "checkout", "1", queued_at=NOW)
    assert start["node"] is None and start["rejection"]["code"] == code
    ctx = NoteContext(node="(none)", task="diagnostics::collect", environment="production")
    note = diagnosis.note_for_rejection(ctx, targeting.NodeRejected(code, start["rejection"]["message"]))
    assert_inert(note)
    assert len(note) < 2000


def test_event_values_never_choose_the_task_or_its_parameters():
    """Tags named like settings are just tags: the task, log path and parameters come from
    the admin's rules (a matched rule is carried by reference only)."""
    tags = {"service": "api", "task": "evil::pwn", "log_path": "/etc/shadow", "params": "{}", "node_tag": "x",
            "since": "1970-01-01T00:00:00Z", "puppet_node": "web07"}
    facts = EventFacts("e" * 32, "production", "error", "web01", None, tags=tags, server_name="web01")
    start = intake.decide(CONFIGS["rules"], facts, "checkout", "1", queued_at=NOW)
    assert start["node"] == "web01" and start["route"] == {"index": 1, "name": "api"}
    assert set(start) <= START_KEYS and "evil" not in json.dumps(start) and "/etc" not in json.dumps(start)


def test_nan_and_infinite_numbers_in_facts_are_harmless():
    facts = EventFacts("e" * 32, float("nan"), float("inf"), float("-inf"), intake.iso_utc(float("nan")),
                       tags={"service": float("nan"), "level": math.inf}, server_name=float("nan"))
    start = intake.decide(CONFIGS["rules"], facts, "checkout", "1", queued_at=NOW)
    assert start is None or json.dumps(start, allow_nan=False)
