"""Routing rules on their own: parsing and its errors, matching, the guards against hostile
patterns and inputs, what intake.decide makes of a rule, and the check of a rule's
parameters against the task metadata a (local, HTTPS) orchestrator serves."""
import json
import os
import uuid

import pytest

from sentry_autodiag import intake, routing, settings as settings_mod
from sentry_autodiag.flow import task_params
from sentry_autodiag.intake import EventFacts
from localorch.server import LocalOrchestrator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RULES = """
# API errors: the API's own log
- name: api
  match:
    service: api
    environment: production
  log_path: /var/log/api/app.log
  log_lines: 300
- name: timeouts anywhere
  match:
    exception_type: {regex: '.*Timeout(Error)?'}
  task: sample::echo
  params: {message: timeout, count: 3}
- name: workers
  match:
    logger: {glob: 'celery.*'}
    level: [error, fatal]
  node_tag: worker_host
- name: health checks
  match: {transaction: {glob: '/health*'}}
  diagnose: false
"""


def facts(tags=None, exception_type=None, environment="production", level="error", node="web01.example.com",
          server_name="web01.example.com"):
    return EventFacts("e" * 32, environment, level, node, "2026-11-21T03:12:45Z", tags=tags or {},
                      exception_type=exception_type, server_name=server_name)


def settings(**options):
    values = {"routing_rules": RULES}
    values.update(options)
    return settings_mod.load(values.get)


# --- parsing -----------------------------------------------------------------------------------


def test_yaml_and_json_give_the_same_rules():
    from_yaml = routing.parse_rules(RULES)
    import yaml

    from_json = routing.parse_rules(json.dumps(yaml.safe_load(RULES)))
    assert [r.name for r in from_yaml] == ["api", "timeouts anywhere", "workers", "health checks"]
    assert [(r.index, r.task, r.log_path, r.log_lines, r.params, r.node_tag, r.diagnose) for r in from_yaml] == \
        [(r.index, r.task, r.log_path, r.log_lines, r.params, r.node_tag, r.diagnose) for r in from_json]
    assert from_yaml[1].params == (("message", "timeout"), ("count", 3))


@pytest.mark.parametrize("text, message", [
    ("- name: a\n  match: {service: api}\n  log_pat: /x", "Rule 1 (a): log_pat: unknown key; did you mean `log_path`?"),
    ("- name: a\n- name: b\n  log_path: relative.log", "Rule 2 (b): log_path: must be an absolute path"),
    ("- match: {service: api}\n  log_lines: 0", "Rule 1 (rule 1): log_lines: must be a whole number"),
    ("- name: a\n  match: {level: {regex: '(a+)+$'}}", "Rule 1 (a): match.level: a repetition inside a repetition"),
    ("- name: a\n  match: {level: {regex: '(a|ab)*c'}}", "Rule 1 (a): match.level: alternatives (|) inside"),
    ("- name: a\n  match: {level: {regex: '(x)\\1'}}", "backreferences are not allowed"),
    ("- name: a\n  match: {level: {regex: '.*a.*b.*c'}}", "more than 2 unbounded repetitions"),
    ("- name: a\n  match: {level: {regex: 'a{1,9}b{1,9}c{1,9}d{1,9}'}}", "more than 3 repetitions of variable"),
    ("\n".join("- name: r%d\n  match: {t: [{regex: x}, {regex: y}]}" % i for i in range(26)),
     "Rule 26 (r25): match: more than 50 regexes"),
    ("- name: a\n  match: {level: {regex: '[z-a]'}}", "Rule 1 (a): match.level: not a valid regular expression"),
    ("- name: a\n  match: {level: {glob: '%s'}}" % ("x" * 201), "longer than 200 characters"),
    ("- name: a\n  match: {level: {fuzzy: x}}", "one of {exact: …}, {glob: …}, {regex: …}"),
    ("- name: a\n  match: {debug: yes}", "Rule 1 (a): match.debug: true/false is not a tag value; quote it"),
    ("- name: a\n  match: {'bad key!': x}", "Rule 1 (a): match: 'bad key!' is not a tag name"),
    ("- name: a\n  task: Bad::Task", "Rule 1 (a): task: a task is named module::task"),
    ("- name: a\n  task: sample::echo\n  log_path: /var/log/x.log", "only diagnostics::collect takes it here"),
    ("- name: a\n  params: {since: '2020-01-01'}", "Rule 1 (a): params.since: set by the plugin itself"),
    ("- name: a\n  params: {log_path: /x}", "Rule 1 (a): params.log_path: give it as the rule's own log_path"),
    ("- name: a\n  params: {x: {nested: map}}", "Rule 1 (a): params.x: must be text, a number"),
    ("- name: a\n  params: {x: .nan}", "Rule 1 (a): params.x: must be a finite number"),
    ("- name: a\n  params: {x: \"a\\nb\"}", "Rule 1 (a): params.x: text must be one line"),
    ("- name: a\n  diagnose: false\n  log_path: /var/log/x.log", "a rule that does not diagnose takes no task"),
    ("- name: a\n  diagnose: 'no'", "Rule 1 (a): diagnose: must be true or false"),
    ("- name: a\n- name: a", "Rule 2 (a): name: another rule has this name"),
    ("- name: a\n  match: {service: []}", "an empty list matches nothing"),
    ("- &r {name: a}\n- *r", "YAML aliases"),
    ("name: a", "The rules must be a list"),
    ("- name: [a", "neither valid JSON nor valid YAML at line"),
    ("\n".join("- name: r%d" % i for i in range(51)), "At most 50 rules"),
    ("# " + "x" * 20001, "longer than 20000 characters"),
    ("- name: a\n  match: {%s}" % ", ".join("t%d: x" % i for i in range(21)), "at most 20 conditions"),
])
def test_errors_name_the_rule_and_the_key(text, message):
    with pytest.raises(routing.RuleError) as raised:
        routing.parse_rules(text)
    assert message in str(raised.value)


def test_the_settings_field_keeps_the_text_and_refuses_bad_rules():
    assert settings_mod.clean_field("routing_rules", RULES) == RULES.strip()
    with pytest.raises(ValueError) as raised:
        settings_mod.clean_field("routing_rules", "- name: a\n  log_lines: many")
    assert "Rule 1 (a): log_lines" in str(raised.value)
    assert settings_mod.load({"routing_rules": "- name: [broken"}.get).routing_rules == ()
    assert [r.name for r in settings().routing_rules][:1] == ["api"]


# --- matching ------------------------------------------------------------------------------------


def test_first_matching_rule_wins_and_no_match_is_none():
    rules = settings().routing_rules
    assert routing.choose(rules, facts({"service": "api"})).name == "api"
    # both the first and second rules hold: the first wins
    assert routing.choose(rules, facts({"service": "api"}, exception_type="ReadTimeout")).name == "api"
    assert routing.choose(rules, facts({"service": "web"}, exception_type="ReadTimeout")).name == "timeouts anywhere"
    assert routing.choose(rules, facts({"service": "api"}, environment="staging")) is None
    assert routing.choose(rules, facts({"logger": "celery.worker"}, level="fatal")).name == "workers"
    assert routing.choose(rules, facts({"logger": "celery.worker"}, level="warning")) is None
    assert routing.choose(rules, facts({"logger": "celeryish"})) is None
    assert routing.choose(rules, facts({})) is None


def test_a_missing_tag_never_matches_even_a_catch_all_glob():
    (rule,) = routing.parse_rules("- match: {runtime: {glob: '*'}}")
    assert routing.choose((rule,), facts({"runtime": "CPython 3.11"})) is rule
    assert routing.choose((rule,), facts({})) is None
    (anything,) = routing.parse_rules("- name: all")
    assert routing.choose((anything,), facts({})) is anything


def test_exact_glob_and_regex_semantics():
    rules = routing.parse_rules("""
- name: exact
  match: {t: a.b}
- name: glob
  match: {t: {glob: 'x?z*'}}
- name: regex
  match: {t: {regex: 'v\\d+'}}
- name: numbers
  match: {t: 500}
""")
    chosen = lambda value: getattr(routing.choose(rules, facts({"t": value})), "name", None)  # noqa: E731
    assert chosen("a.b") == "exact" and chosen("aXb") is None and chosen("A.B") is None
    assert chosen("xyz") == "glob" and chosen("xyzzy") == "glob" and chosen("xz") is None
    assert chosen("v12") == "regex" and chosen("v12a") is None and chosen("xv12") is None  # the whole value
    assert chosen("500") == "numbers" and chosen(500) == "numbers"
    assert chosen(["a.b"]) is None and chosen({"a": "b"}) is None and chosen(True) is None


def test_glob_is_linear_on_hostile_patterns_and_values():
    pattern = "*a" * 50 + "*b"
    assert routing.glob_match(pattern, "a" * 200 + "b")
    assert not routing.glob_match(pattern, "a" * routing.MAX_INPUT)  # would take ~n^50 steps with backtracking
    assert routing.glob_match("?" * 3, "abc") and not routing.glob_match("?" * 3, "ab")


def test_event_values_are_cut_before_matching():
    (rule,) = routing.parse_rules("- match: {t: {glob: '*END'}}")
    assert routing.choose((rule,), facts({"t": "x" * 10 + "END"})) is rule
    assert routing.choose((rule,), facts({"t": "x" * 10_000 + "END"})) is None  # END lies past MAX_INPUT


@pytest.mark.parametrize("pattern", ["api-.*", ".*Timeout.*", "(?i)(read|write)timeout", "[a-z]+-[0-9]{1,4}",
                                     "(foo|bar)-x", "a{2,5}b", "a{3}b{3}c{3}d{3}"])
def test_ordinary_regexes_are_accepted(pattern):
    assert routing.vet_regex(pattern).pattern == pattern


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a*)*b", "(.*a){3}", "(a|a)*b", "(?:\\w+\\s?)+$", "(a{1,60})+"])
def test_catastrophic_regexes_are_refused(pattern):
    with pytest.raises(ValueError):
        routing.vet_regex(pattern)


# --- intake: what a rule does to the decision ------------------------------------------------------


def test_decide_puts_the_rule_reference_into_the_start_arguments():
    start = intake.decide(settings(), facts({"service": "api"}), 1, 2)
    assert start["route"] == {"index": 1, "name": "api"} and start["node"] == "web01.example.com"
    json.dumps(start)  # queue-safe
    assert "route" not in intake.decide(settings(), facts({"service": "other"}), 1, 2)


def test_a_rule_can_drop_the_event():
    assert intake.decide(settings(), facts({"transaction": "/healthz"}), 1, 2) is None


def test_a_rule_chooses_the_node_tag():
    start = intake.decide(settings(), facts({"logger": "celery.beat", "worker_host": "db01.example.com"}), 1, 2)
    assert start["node"] == "db01.example.com" and start["route"]["name"] == "workers"
    missing = intake.decide(settings(), facts({"logger": "celery.beat"}), 1, 2)
    assert missing["node"] is None and missing["rejection"]["code"] == "missing"


def test_filters_come_before_rules():
    assert intake.decide(settings(min_level="fatal"), facts({"service": "api"}), 1, 2) is None


def test_event_data_never_reaches_task_parameters():
    hostile = {"service": "api", "log_path": "/etc/shadow", "log_lines": "5000", "message": "$(reboot)"}
    start = intake.decide(settings(log_path="/var/log/default.log"), facts(hostile, "ReadTimeout"), 1, 2)
    loaded = settings(log_path="/var/log/default.log")
    rule = routing.find(loaded.routing_rules, start["route"])
    params = task_params(loaded, start["since"], rule)
    assert params == {"log_path": "/var/log/api/app.log", "log_lines": 300, "since": "2026-11-21T03:12:45Z"}
    echo = routing.find(loaded.routing_rules, {"index": 2, "name": "timeouts anywhere"})
    assert task_params(loaded, "2026-11-21T03:12:45Z", echo) == {"message": "timeout", "count": 3}
    assert task_params(loaded, None, None) == {"log_path": "/var/log/default.log", "log_lines": 200}


def test_a_queued_reference_to_an_edited_rule_finds_nothing():
    rules = settings().routing_rules
    assert routing.find(rules, {"index": 1, "name": "api"}).log_path == "/var/log/api/app.log"
    assert routing.find(rules, {"index": 2, "name": "api"}) is None
    assert routing.find(rules, "garbage") is None


def test_exception_type_is_the_one_sentry_shows():
    exception = {"values": [{"type": "KeyError"}, {"type": "ReadTimeout", "value": "x"}]}
    assert intake.exception_type(exception) == "ReadTimeout"
    assert intake.exception_type({"values": [{"type": "A"}, {"value": "no type"}]}) == "A"
    assert intake.exception_type({"values": "nope"}) is None and intake.exception_type(None) is None


# --- checked against PE's task metadata when saved --------------------------------------------------


@pytest.fixture(scope="module")
def orchestrator(tmp_path_factory):
    modules = tmp_path_factory.mktemp("modules")
    os.symlink(os.path.join(ROOT, "puppet", "diagnostics"), str(modules / "diagnostics"))
    os.symlink(os.path.join(ROOT, "tests", "modules", "sample"), str(modules / "sample"))
    with LocalOrchestrator(nodes=["web01.example.com"], modules_dir=str(modules),
                           token="tok-%s" % uuid.uuid4().hex) as orch:
        yield orch


def form(orch, rules):
    return {"url": orch.url, "token": orch.token, "ca_cert": orch.ca_pem, "environment": "production",
            "task": "diagnostics::collect", "routing_rules": rules}


def test_declared_parameters_of_the_right_type_pass(orchestrator):
    settings_mod.check_together(form(orchestrator, RULES))


@pytest.mark.parametrize("rules, message", [
    ("- name: a\n  params: {colour: red}",
     "Routing rules: Rule 1 (a): params.colour: the task diagnostics::collect declares no parameter colour"),
    ("- name: a\n  params: {max_bytes: 10}", "Rule 1 (a): params.max_bytes: 10 does not fit the task's declared "
                                             "type Optional[Integer[16384, 16777216]]"),
    ("- name: a\n  task: sample::echo\n  params: {message: hi, count: 11}",
     "Rule 1 (a): params.count: 11 does not fit"),
    ("- name: a\n  task: sample::nope", "Rule 1 (a): task: sample::nope cannot be checked"),
])
def test_undeclared_or_mistyped_parameters_are_refused(orchestrator, rules, message):
    with pytest.raises(ValueError) as raised:
        settings_mod.check_together(form(orchestrator, rules))
    assert message in str(raised.value)


def test_nothing_is_asked_before_the_orchestrator_is_configured(orchestrator):
    before = dict(orchestrator.calls)
    settings_mod.check_together(dict(form(orchestrator, "- name: a\n  params: {colour: red}"), token=""))
    assert orchestrator.calls == before
    with pytest.raises(ValueError):
        settings_mod.check_together(form(orchestrator, "- name: a\n  params: {colour: red}"))
    assert orchestrator.calls != before


def test_prometheus_credentials_need_https():
    with pytest.raises(ValueError) as raised:
        settings_mod.check_together({"metrics_url": "http://prom:9090", "metrics_token": "t"})
    assert "only sent over https" in str(raised.value)
    settings_mod.check_together({"metrics_url": "https://prom:9090", "metrics_token": "t"})
