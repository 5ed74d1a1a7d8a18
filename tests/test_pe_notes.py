"""The notes say what PE's answers mean: unknown certname vs stopped agent, a hint for every
error kind, and a task's own error whatever its shape."""
import inspect

import pytest

from sentry_autodiag import diagnosis
from sentry_autodiag import orchestrator as oc
from sentry_autodiag.report import NoteContext

CTX = NoteContext(node="web01", task="diagnostics::collect", environment="production", job="81")
NOT_CONNECTED = oc.normalize_node({"name": "web01", "state": "errored", "result": {"_error": {
    "kind": "puppetlabs.orchestrator/execution-failure", "msg": "web01 is not connected to the PCP broker",
    "details": {}}}})
PE2016_NOT_CONNECTED = oc.normalize_node({"name": "web01", "state": "errored",
                                          "details": {"message": "web01 is not connected to the PCP broker"}})


@pytest.mark.parametrize("node", [NOT_CONNECTED, PE2016_NOT_CONNECTED])
def test_unknown_certname_names_the_likely_cause(node):
    note = diagnosis.note_for_node(CTX, node, known=False)
    assert "node unknown to PE" in note and "node not connected" not in note
    assert "Certname suffix" in note and "Allowed node pattern" in note
    assert "PuppetDB holds no active node named web01" in note


def test_known_node_that_is_not_connected_is_an_agent_problem():
    note = diagnosis.note_for_node(CTX, NOT_CONNECTED, known=True)
    assert "node not connected" in note and "may be down" in note and "Certname suffix" not in note


@pytest.mark.parametrize("kwargs", [{}, {"known": None}])
def test_when_pe_cannot_tell_the_note_says_both_and_why(kwargs):
    note = diagnosis.note_for_node(CTX, NOT_CONNECTED, **kwargs)
    assert "node not connected" in note and "may be down" in note and "Certname suffix" in note
    assert "View node data from PuppetDB" in note


def test_known_changes_nothing_for_nodes_that_ran():
    finished = oc.normalize_node({"name": "web01", "state": "finished", "result": {"_output": "hi"}})
    assert diagnosis.note_for_node(CTX, finished, known=False) == diagnosis.note_for_node(CTX, finished)


def test_is_not_connected():
    assert diagnosis.is_not_connected(NOT_CONNECTED) and diagnosis.is_not_connected(PE2016_NOT_CONNECTED)
    other = oc.normalize_node({"name": "web01", "state": "errored", "details": {"message": "agent crashed"}})
    assert not diagnosis.is_not_connected(other)


@pytest.mark.parametrize("error, text", [
    ("disk full on /var", "disk full on /var"), (28, "28"), (["no space", "on /var"], "no space"),
    ({"no": "kind"}, "no message"),
])
def test_a_tasks_own_error_is_shown_whatever_its_shape(error, text):
    node = oc.normalize_node({"name": "web01", "state": "failed", "result": {"_error": error}})
    note = diagnosis.note_for_node(CTX, node)
    assert text in note and "Task error" in note


def error_reasons():
    return sorted({cls.reason for _, cls in inspect.getmembers(oc, inspect.isclass)
                   if issubclass(cls, oc.OrchestratorError)})


@pytest.mark.parametrize("reason", error_reasons())
def test_every_error_reason_has_a_hint(reason):
    assert diagnosis.HINTS.get(reason)


def test_query_error_names_the_puppetdb_permission_too():
    exc = oc.error_from_response(400, '{"kind": "puppetlabs.orchestrator/query-error", "msg": "no"}')
    note = diagnosis.note_for_error(CTX, exc)
    assert "node query refused" in note
    assert "PQL scope constraint" in note and "View node data from PuppetDB" in note


def test_puppetdb_error_is_about_puppetdb():
    exc = oc.error_from_response(400, '{"kind": "puppetlabs.orchestrator/puppetdb-error", "msg": "down"}')
    note = diagnosis.note_for_error(CTX, exc)
    assert "PuppetDB unavailable" in note and "puppet infrastructure status" in note


def test_empty_target_names_suffix_pattern_and_constraint():
    exc = oc.error_from_response(400, '{"kind": "puppetlabs.orchestrator/empty-target", "msg": "No nodes"}')
    note = diagnosis.note_for_error(CTX, exc)
    assert "node not found" in note and "Certname suffix" in note and "PQL scope constraint" in note


@pytest.mark.parametrize("kind, words", [
    ("token-expired", "puppet\\-access login"), ("token-revoked", "puppet\\-access login"),
    ("invalid-token", "another PE installation"), ("user-revoked", "reinstate the user"),
    ("user-unauthenticated", "No token reached"),
])
def test_token_hints_follow_the_kind(kind, words):
    exc = oc.error_from_response(401, '{"kind": "puppetlabs.rbac/%s", "msg": "m"}' % kind)
    note = diagnosis.note_for_error(CTX, exc)
    assert "token refused" in note and words in note


def test_not_permitted_names_the_permissions():
    exc = oc.error_from_response(403, '{"kind": "puppetlabs.orchestrator/not-permitted", "msg": "no"}')
    note = diagnosis.note_for_error(CTX, exc)
    assert "Run tasks" in note and "Start, stop and view jobs" in note
