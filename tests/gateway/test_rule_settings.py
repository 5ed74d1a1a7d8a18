"""The alert rule's own form: the schema Sentry stores, and its fields validated by the
same definitions as the config file."""
import json
import os

import pytest

from sentry_autodiag.gateway import rule_settings
from sentry_autodiag.gateway.rule_settings import RuleSettingsError, clean, field_errors
from conftest import ROOT, SECRET
from payloads import event_alert, signed
from test_receiver import post, queued, receiver  # noqa: F401 (fixture)


def test_the_shipped_schema_is_the_one_the_gateway_serves():
    with open(os.path.join(ROOT, "deploy", "alert-rule-action-schema.json")) as fh:
        assert json.load(fh) == rule_settings.schema()
    settings = rule_settings.schema()["elements"][0]["settings"]
    names = [f["name"] for f in settings["required_fields"] + settings["optional_fields"]]
    assert names == ["log_path", "log_lines", "task", "node_tag", "pql_scope"]
    assert not {"token", "ca_cert", "url"} & set(names)  # secrets never go into Sentry



def test_the_form_carries_hints_sentry_renders():
    """The Settings dialog's description (Sentry's limit: 140 characters) and, per field, a
    placeholder and a help line (tests/test_browser.py checks they reach the rendered form)."""
    settings = rule_settings.schema()["elements"][0]["settings"]
    assert 0 < len(settings["description"]) <= 140
    for field in settings["required_fields"] + settings["optional_fields"]:
        assert field["placeholder"] and field["help"], field
    by_name = {f["name"]: f for f in settings["required_fields"] + settings["optional_fields"]}
    assert by_name["log_path"]["placeholder"].startswith("/var/log/")
    assert clean([{"name": "log_lines", "value": by_name["log_lines"]["placeholder"]}]) == {"log_lines": 200}


def test_sentry_shaped_fields_are_cleaned_and_empty_means_default():
    assert clean([{"name": "log_path", "value": " /var/log/api/app.log "}, {"name": "log_lines", "value": "40"},
                  {"name": "task", "value": ""}, {"name": "node_tag", "value": None}]) == {
        "log_path": "/var/log/api/app.log", "log_lines": 40}


@pytest.mark.parametrize("fields, words", [
    ([{"name": "log_path", "value": "relative/app.log"}], "log_path (Application log path): The log path"),
    ([{"name": "log_lines", "value": "0"}], "log_lines (Log lines)"),
    ([{"name": "task", "value": "Not A Task"}], "task (Task)"),
    ([{"name": "pql_scope", "value": "x } or { y"}], "pql_scope"),
    ([{"name": "token", "value": "x"}], "token: not a setting of this form"),
    ([{"name": "log_path", "value": ["a"]}], "log_path: must be text"),
    ("nope", "expected a list"),
    ([["log_path", "/x"]], "each field must be an object"),
])
def test_invalid_fields_are_named(fields, words):
    with pytest.raises(RuleSettingsError) as raised:
        clean(fields)
    assert words in str(raised.value)


def test_every_invalid_field_is_reported_at_once():
    errors = field_errors([{"name": "log_path", "value": "x"}, {"name": "log_lines", "value": "99999"},
                           {"name": "node_tag", "value": "puppet_node"}])
    assert len(errors) == 2 and errors[0].startswith("log_path") and errors[1].startswith("log_lines")


def test_sentrys_validation_request_is_answered_in_its_format(receiver):
    body = json.dumps({"fields": [{"name": "log_path", "value": "/var/log/x.log"},
                                  {"name": "log_lines", "value": "-5"}], "installationId": "abc"}).encode()
    _, headers = signed(body, SECRET)
    answer = receiver.handle_rule_settings(headers["Sentry-Hook-Signature"], body)
    assert answer.status == 400 and answer.body["message"].startswith("log_lines (Log lines)")
    good = json.dumps({"fields": [{"name": "log_path", "value": "/var/log/x.log"}]}).encode()
    assert receiver.handle_rule_settings(signed(good, SECRET)[1]["Sentry-Hook-Signature"], good).status == 200
    assert receiver.handle_rule_settings("0" * 64, good).status == 401


def test_the_rules_settings_reach_the_queued_step(receiver, redis_url):
    payload = event_alert(tags=[["server_name", "web01"], ["puppet_node", "db01.example.com"]])
    payload["data"]["issue_alert"] = {"id": 7, "title": "API errors", "sentry_app_id": 3, "settings": [
        {"name": "log_path", "value": "/var/log/api/app.log"}, {"name": "node_tag", "value": "puppet_node"}]}
    assert post(receiver, payload).status == 202
    ((step, kwargs),) = queued(redis_url)
    assert kwargs["overrides"] == {"log_path": "/var/log/api/app.log", "node_tag": "puppet_node"}
    assert kwargs["node"] == "db01.example.com"  # the rule's node tag chose the node


def test_invalid_rule_settings_give_the_issue_a_note_instead_of_a_job(receiver, redis_url):
    payload = event_alert()
    payload["data"]["triggered_rule"] = "API errors"
    payload["data"]["issue_alert"] = {"settings": [{"name": "log_path", "value": "../etc/shadow"}]}
    assert post(receiver, payload).status == 202
    ((step, kwargs),) = queued(redis_url)
    assert kwargs["node"] is None and kwargs["rejection"]["code"] == "rule-settings"
    assert "API errors" in kwargs["rejection"]["message"] and "log_path" in kwargs["rejection"]["message"]


# --- the form may only narrow what the gateway's admin set ---------------------------

ADMIN_SCOPE = 'certname ~ "^web"'
NARROW_PROJECTS = """\
"*":
  url: https://puppet.example.com:8143
  token_file: pe-token
  ca_cert_file: ca.pem
  sentry_environments: "*"
checkout:
  pql_scope: 'certname ~ "^web"'
payments:
  rule_tasks: [diagnostics::collect, diagnostics::extra]
"""


@pytest.fixture
def narrow_receiver(config_dir, redis_url):
    from conftest import write_config
    from test_receiver import make_receiver
    receiver, gateway = make_receiver(write_config(config_dir, redis_url, projects=NARROW_PROJECTS))
    receiver.gateway = gateway
    return receiver


def _with_rule(payload, *fields):
    payload["data"]["triggered_rule"] = "API errors"
    payload["data"]["issue_alert"] = {"id": 7, "title": "API errors", "settings": [
        {"name": n, "value": v} for n, v in fields]}
    return payload


def test_the_form_may_only_choose_a_task_the_project_allows(narrow_receiver, redis_url):
    assert post(narrow_receiver, _with_rule(event_alert(), ("task", "remediation::restart_service"))).status == 202
    ((step, kwargs),) = queued(redis_url)
    assert kwargs["node"] is None and kwargs["rejection"]["code"] == "rule-settings"
    assert "remediation::restart_service is not a task this project lets alert rules choose" in \
        kwargs["rejection"]["message"] and "rule_tasks" in kwargs["rejection"]["message"]
    assert "overrides" not in kwargs


def test_a_task_the_admin_listed_is_taken(narrow_receiver, redis_url):
    payload = _with_rule(event_alert(project="payments", issue_id="77"), ("task", "diagnostics::extra"))
    assert post(narrow_receiver, payload).status == 202
    ((step, kwargs),) = queued(redis_url)
    assert kwargs["overrides"] == {"task": "diagnostics::extra"} and kwargs["node"] == "web01.example.com"


def test_the_forms_pql_scope_is_anded_with_the_admins_never_replacing_it(narrow_receiver, redis_url):
    payload = _with_rule(event_alert(), ("pql_scope", 'facts.os.family = "RedHat"'))
    assert post(narrow_receiver, payload).status == 202
    ((step, kwargs),) = queued(redis_url)
    scope = kwargs["overrides"]["pql_scope"]
    assert scope == '(certname ~ "^web") and (facts.os.family = "RedHat")'
    # what PE is sent: the node, the admin's constraint and the rule's, all three required
    from sentry_autodiag import targeting
    query = targeting.scope_for("web01.example.com", scope)["query"]
    assert 'certname = "web01.example.com"' in query and ADMIN_SCOPE in query and "RedHat" in query
    # an attempt to widen it (" or true") cannot leave the parentheses: the field check refuses it first
    with pytest.raises(RuleSettingsError):
        rule_settings.narrow(narrow_receiver.config.settings_for("checkout"),
                             clean([{"name": "pql_scope", "value": ADMIN_SCOPE + ") or (true"}]))


def test_without_an_admin_scope_the_forms_scope_applies_as_is(narrow_receiver):
    settings = narrow_receiver.config.settings_for("payments")
    assert settings.pql_scope == "" and settings.rule_tasks == ("diagnostics::collect", "diagnostics::extra")
    assert rule_settings.narrow(settings, {"pql_scope": 'certname ~ "^db"'}) == {"pql_scope": 'certname ~ "^db"'}


def test_saving_a_rule_with_a_task_no_project_allows_is_refused_in_words(narrow_receiver, receiver):
    def answer(recv, task):
        body = json.dumps({"fields": [{"name": "log_path", "value": "/var/log/x.log"},
                                      {"name": "task", "value": task}]}).encode()
        return recv.handle_rule_settings(signed(body, SECRET)[1]["Sentry-Hook-Signature"], body)
    refused = answer(receiver, "remediation::restart_service")  # default: only diagnostics::collect
    assert refused.status == 400
    assert refused.body["message"] == ("task: remediation::restart_service is not a task any project lets alert "
                                       "rules choose (allowed: diagnostics::collect)")
    assert answer(receiver, "diagnostics::collect").status == 200
    assert answer(narrow_receiver, "diagnostics::extra").status == 200
