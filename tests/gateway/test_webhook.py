"""Parsing the event_alert body: ids, project slug and facts out; everything else checked."""
import pytest

from sentry_autodiag.gateway.webhook import WebhookError, parse_alert
from payloads import event_alert


def test_a_real_shaped_alert_gives_ids_project_and_facts():
    payload = event_alert(issue_id="4242", server_name="web01.example.com")
    alert = parse_alert(payload)
    assert alert.issue_id == "4242" and alert.event_id == payload["data"]["event"]["event_id"]
    assert (alert.organization, alert.project) == ("acme", "checkout")
    facts = alert.facts("server_name")
    assert facts.node == "web01.example.com" and facts.environment == "production" and facts.level == "error"
    assert facts.timestamp.endswith("Z") and len(facts.timestamp) == 20
    assert alert.rule == "New issue → autodiag" and alert.rule_settings is None


def test_the_node_can_come_from_any_tag_and_server_name_from_the_tags():
    payload = event_alert(server_name=None, tags=[["server_name", "web02"], ["puppet_node", "db01.example.com"]])
    alert = parse_alert(payload)
    assert alert.facts("server_name").node == "web02"
    assert alert.facts("puppet_node").node == "db01.example.com"
    assert alert.facts("absent").node is None


def test_numeric_issue_id_and_dashed_event_id_are_normalized():
    payload = event_alert()
    payload["data"]["event"]["issue_id"] = 4242
    event_id = payload["data"]["event"]["event_id"]
    payload["data"]["event"]["event_id"] = "%s-%s-%s-%s-%s" % (event_id[:8], event_id[8:12], event_id[12:16],
                                                               event_id[16:20], event_id[20:])
    alert = parse_alert(payload)
    assert alert.issue_id == "4242" and alert.event_id == event_id


@pytest.mark.parametrize("mutate, words", [
    (lambda p: p.update(action="created"), "action"),
    (lambda p: p.update(data=[]), "data is missing or not an object"),
    (lambda p: p["data"].update(event="x"), "data.event"),
    (lambda p: p["data"]["event"].pop("issue_id"), "issue_id"),
    (lambda p: p["data"]["event"].update(issue_id="12; DROP"), "issue_id"),
    (lambda p: p["data"]["event"].update(issue_id=True), "issue_id"),
    (lambda p: p["data"]["event"].update(issue_id="9" * 40), "issue_id"),
    (lambda p: p["data"]["event"].update(event_id="../../etc"), "event_id"),
    (lambda p: p["data"]["event"].update(url="https://evil.example/x"), "data.event.url"),
    (lambda p: p["data"]["event"].update(url=["not", "a", "string"]), "data.event.url"),
    (lambda p: p["data"]["event"].update(url="https://s/api/0/projects/acme/Bad Slug/events/1/"), "data.event.url"),
])
def test_malformed_bodies_are_refused_naming_the_key(mutate, words):
    payload = event_alert()
    mutate(payload)
    with pytest.raises(WebhookError) as raised:
        parse_alert(payload)
    assert words in str(raised.value)


@pytest.mark.parametrize("body", [None, [], "text", 42])
def test_non_objects_are_refused(body):
    with pytest.raises(WebhookError):
        parse_alert(body)


@pytest.mark.parametrize("value", ["yesterday", "", -1, ["2026-01-01T00:00:00Z"], "0999-01-01T00:00:00Z"])
def test_an_event_time_that_cannot_be_read_is_refused_never_taken_as_unknown(value):
    payload = event_alert()
    payload["data"]["event"]["datetime"] = value
    payload["data"]["event"]["timestamp"] = None
    with pytest.raises(WebhookError) as exc:
        parse_alert(payload)
    assert "the event's age cannot be checked" in str(exc.value) or "cannot be read as a time" in str(exc.value)


def test_hostile_event_values_stay_raw_for_validation_and_are_bounded():
    payload = event_alert(environment="p" * 10000, level={"x": 1},
                          tags=[["server_name", "a"]] * 5000 + [[1, 2], "junk", ["k"]])
    payload["data"]["event"]["server_name"] = "web01'; rm -rf /"
    alert = parse_alert(payload)
    facts = alert.facts("server_name")
    assert len(facts.environment) == 64 and facts.level is None and facts.timestamp.endswith("Z")
    assert facts.node == "web01'; rm -rf /"  # intake.decide refuses it with a note, see test_receiver
    assert len(alert.tags) == 1
