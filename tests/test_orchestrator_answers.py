"""The client's reading of recorded orchestrator answers, in every documented variant
(PE versions and docs disagree; a client must accept them all).

The HTTP-level answers live in tests/fixtures/pe_answers/ and are served to a real
OrchestratorClient through a requests transport adapter (no network, no TLS)."""
import json
import os

import pytest

from sentry_autodiag import orchestrator as oc
from recorded_pe import RecordedPE
from localorch import pki

ANSWERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "pe_answers")


def answers(name):
    with open(os.path.join(ANSWERS, name + ".json")) as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def ca_pem():
    return pki.generate(["pe.example.com"]).ca_pem


def recorded_client(ca_pem, *recorded, url="https://pe.example.com:8143"):
    client = oc.OrchestratorClient(url, "token", ca_pem)
    pe = RecordedPE(recorded)
    client.session.mount("https://", pe)
    return client, pe


@pytest.mark.parametrize("item, state, report, output, error", [
    # current docs: the task's own JSON object
    ({"name": "web01", "state": "finished", "result": {"sections": [], "findings": []}, "duration": 1.5},
     "finished", {"sections": [], "findings": []}, None, None),
    # stdout that was not a JSON object
    ({"name": "web01", "state": "finished", "result": {"_output": "hello\n"}}, "finished", None, "hello\n", None),
    # older docs: "output" instead of "_output"
    ({"name": "web01", "state": "finished", "result": {"output": "hello\n"}}, "finished", None, "hello\n", None),
    # failed with the default task error, nested
    ({"name": "web01", "state": "failed", "result": {"_output": "oops", "_error": {
        "kind": "puppetlabs.tasks/task-error", "msg": "The task errored with a code 3", "details": {"exitcode": 3}}}},
     "failed", None, "oops", {"kind": "puppetlabs.tasks/task-error", "msg": "The task errored with a code 3",
                              "details": {"exitcode": 3}}),
    # older docs: the error object bare as the result
    ({"name": "web01", "state": "failed", "result": {"kind": "puppetlabs.tasks/task-error", "msg": "boom",
                                                      "details": {}}},
     "failed", None, None, {"kind": "puppetlabs.tasks/task-error", "msg": "boom", "details": {}}),
    # errored: the orchestrator could not run it
    ({"name": "web01", "state": "errored", "result": {"_error": {
        "kind": "puppetlabs.orchestrator/execution-failure", "msg": "web01 is not connected to the PCP broker",
        "details": {}}}},
     "errored", None, None, {"kind": "puppetlabs.orchestrator/execution-failure",
                             "msg": "web01 is not connected to the PCP broker", "details": {}}),
    # errored with the reason only in details, and no result at all
    ({"name": "web01", "state": "errored", "result": None, "details": {"message": "not connected"}},
     "errored", None, None, {"kind": "puppetlabs.orchestrator/execution-failure", "msg": "not connected",
                             "details": {"message": "not connected"}}),
    # failed without any error object: a generic one is supplied
    ({"name": "web01", "state": "failed", "result": None}, "failed", None, None,
     {"kind": "puppetlabs.tasks/task-error", "msg": "The task failed.", "details": {}}),
    # still running, fields missing
    ({"name": "web01", "state": "running"}, "running", None, None, None),
    # result given as a bare string
    ({"name": "web01", "state": "finished", "result": "text"}, "finished", None, "text", None),
    # a task's own `_error` that is not an object: passed through by PE, shown as its text
    ({"name": "web01", "state": "failed", "result": {"_error": "disk full"}}, "failed", None, None,
     {"kind": "unknown", "msg": "disk full", "details": {}}),
    ({"name": "web01", "state": "failed", "result": {"_error": 28}}, "failed", None, None,
     {"kind": "unknown", "msg": "28", "details": {}}),
    ({"name": "web01", "state": "failed", "result": {"_error": ["no space", "on /var"], "free": 0}}, "failed",
     {"free": 0}, None, {"kind": "unknown", "msg": '["no space", "on /var"]', "details": {}}),
    ({"name": "web01", "state": "failed", "result": {"_output": "oops", "_error": "E42"}}, "failed", None, "oops",
     {"kind": "unknown", "msg": "E42", "details": {}}),
    # `_error: null` is no error
    ({"name": "web01", "state": "finished", "result": {"ok": 1, "_error": None}}, "finished", {"ok": 1}, None, None),
    # a state the client does not know (stopping is documented; others may come): kept, not fatal
    ({"name": "web01", "state": "stopping"}, "stopping", None, None, None),
    ({"name": "web01", "state": "quarantined", "result": {"x": 1}}, "quarantined", {"x": 1}, None, None),
    ({"name": "web01"}, "unknown", None, None, None),
])
def test_node_result_variants(item, state, report, output, error):
    node = oc.normalize_node(item)
    assert (node.state, node.report, node.output, node.error) == (state, report, output, error)


@pytest.mark.parametrize("item", [None, [], {"state": "finished"}, {"name": 5, "state": "finished"}])
def test_node_entries_without_a_name_are_protocol_errors(item):
    with pytest.raises(oc.ProtocolError):
        oc.normalize_node(item)


def test_unknown_states_are_not_done_and_long_ones_are_cut():
    node = oc.normalize_node({"name": "web01", "state": "x" * 500})
    assert len(node.state) == oc.MAX_STATE_TEXT and not node.done
    assert not oc.normalize_node({"name": "web01", "state": "stopping"}).done


@pytest.mark.parametrize("duration, seconds", [
    ("256.0", 256.0), ("1.5", 1.5), (" 3 ", 3.0), (2, 2.0), (0.25, 0.25), ("", None), ("soon", None),
    (True, None), (None, None), ("nan", None), ("inf", None), ([], None)])
def test_durations_as_pe_sends_them(duration, seconds):
    node = oc.normalize_node({"name": "web01", "state": "finished", "duration": duration})
    assert node.duration == seconds


def test_odd_field_types_are_ignored_not_crashes():
    node = oc.normalize_node({"name": "web01", "state": "finished", "result": {"x": 1}, "duration": {},
                              "start_timestamp": 7, "finish_timestamp": None})
    assert node.duration is None and node.start_timestamp is None and node.report == {"x": 1}


@pytest.mark.parametrize("status, body, error_type, retryable", [
    (401, '{"kind":"puppetlabs.rbac/token-expired","msg":"The provided token has expired."}', oc.AuthError, False),
    (401, '{"kind":"puppetlabs.rbac/invalid-token","msg":"bad"}', oc.AuthError, False),
    (403, '{"kind":"puppetlabs.rbac/invalid-token","msg":"bad token"}', oc.AuthError, False),  # some setups
    (403, '{"kind":"puppetlabs.orchestrator/not-permitted","msg":"no"}', oc.NotPermitted, False),
    (404, '{"kind":"puppetlabs.orchestrator/unknown-environment","msg":"x"}', oc.UnknownEnvironment, False),
    (404, '{"kind":"puppetlabs.orchestrator/unknown-task","msg":"x"}', oc.UnknownTask, False),
    (400, '{"kind":"puppetlabs.orchestrator/empty-target","msg":"No nodes were found for the specified target."}',
     oc.EmptyTarget, False),
    (400, '{"kind":"puppetlabs.orchestrator/query-error","msg":"x"}', oc.QueryError, False),
    (400, '{"kind":"puppetlabs.orchestrator/puppetdb-error","msg":"x"}', oc.PuppetDBError, False),
    (400, '{"kind":"puppetlabs.orchestrator/validation-error","msg":"x"}', oc.RequestInvalid, False),
    (400, '{"kind":"puppetlabs.validators/validation-error","msg":"x"}', oc.RequestInvalid, False),
    (500, "<html><body>Internal Server Error</body></html>", oc.TransientError, True),
    (502, "Bad Gateway", oc.TransientError, True),
    (503, "", oc.TransientError, True),
    (429, '{"kind":"too-many","msg":"slow down"}', oc.TransientError, True),
    (404, "<html>nginx</html>", oc.ConfigurationError, False),
    (418, "teapot", oc.OrchestratorError, False),
])
def test_error_answers_map_to_typed_errors(status, body, error_type, retryable):
    error = oc.error_from_response(status, body)
    assert type(error) is error_type and error.retryable is retryable and error.status == status
    assert error.message and len(error.message) < 600


def test_a_404_on_a_job_is_retryable():
    error = oc.error_from_response(404, '{"kind":"puppetlabs.orchestrator/unknown-job","msg":"no job"}',
                                   job_lookup=True)
    assert isinstance(error, oc.JobNotFound) and error.retryable


def test_hostile_error_text_is_bounded_and_flattened():
    error = oc.error_from_response(400, '{"kind":"puppetlabs.orchestrator/validation-error","msg":"%s"}'
                                   % ("line\\n" * 5000))
    assert "\n" not in error.message and len(error.message) < 600


# --- HTTP-level answers, served to a real client -------------------------------------


@pytest.mark.parametrize("answer, job", [("accepted_202", "81"), ("accepted_200", "82"), ("accepted_id_only", "83"),
                                         ("accepted_numeric_name", "84")])
def test_post_task_accepted_in_every_variant(ca_pem, answer, job):
    client, pe = recorded_client(ca_pem, answers("post_task")[answer])
    assert client.run_task("diagnostics::collect", {}, nodes=["web01.example.com"]) == job
    assert pe.sent[0][0] == "POST" and pe.sent[0][1].endswith("/orchestrator/v1/command/task")


@pytest.mark.parametrize("answer, error", [
    ("params_refused", oc.RequestInvalid), ("empty_target", oc.EmptyTarget), ("query_error", oc.QueryError),
    ("puppetdb_error", oc.PuppetDBError), ("unknown_environment", oc.UnknownEnvironment),
    ("not_permitted", oc.NotPermitted)])
def test_post_task_refusals(ca_pem, answer, error):
    client, pe = recorded_client(ca_pem, answers("post_task")[answer])
    with pytest.raises(error) as exc:
        client.run_task("diagnostics::collect", {}, nodes=["web01.example.com"], timeout=60)
    assert not exc.value.retryable and len(pe.sent) == 1  # refused once, not retried


@pytest.mark.parametrize("kind", sorted(answers("token_errors")))
def test_every_token_error_kind_is_an_auth_error(ca_pem, kind):
    client, pe = recorded_client(ca_pem, answers("token_errors")[kind])
    with pytest.raises(oc.AuthError) as exc:
        client.job("81")
    assert exc.value.kind == "puppetlabs.rbac/" + kind and exc.value.status == 401 and not exc.value.retryable
    assert "RBAC token" in exc.value.message and "Bearer" not in exc.value.message
    assert len(pe.sent) == 1


@pytest.mark.parametrize("kind, words", [("token-expired", "has expired"), ("token-revoked", "was revoked"),
                                         ("user-revoked", "user who was revoked"),
                                         ("user-unauthenticated", "is missing"), ("invalid-token", "was refused")])
def test_token_error_messages_say_which(kind, words):
    body = json.dumps(answers("token_errors")[kind]["body"])
    assert words in oc.error_from_response(401, body).message


def test_timeout_refused_is_retried_once_without_it_and_remembered(ca_pem):
    url = "https://old-pe.example.com:8143"
    post = answers("post_task")
    client, pe = recorded_client(ca_pem, post["timeout_refused"], post["accepted_202"], url=url)
    try:
        assert client.run_task("diagnostics::collect", {"log_lines": 5}, nodes=["web01.example.com"], timeout=60,
                               description="d") == "81"
        assert [("timeout" in body) for _, _, body in pe.sent] == [True, False]
        assert pe.sent[1][2] == {k: v for k, v in pe.sent[0][2].items() if k != "timeout"}
        assert client.refuses_timeout
        # a later client for the same PE leaves `timeout` out at once
        later, pe2 = recorded_client(ca_pem, post["accepted_200"], url=url + "/orchestrator/v1")
        assert later.run_task("diagnostics::collect", {}, nodes=["web01.example.com"], timeout=60) == "82"
        assert len(pe2.sent) == 1 and "timeout" not in pe2.sent[0][2]
        # another PE is not affected
        other, pe3 = recorded_client(ca_pem, post["accepted_202"], url="https://new-pe.example.com")
        other.run_task("diagnostics::collect", {}, nodes=["web01.example.com"], timeout=60)
        assert pe3.sent[0][2]["timeout"] == 60 and not other.refuses_timeout
    finally:
        oc._REFUSES_TIMEOUT.discard("https://old-pe.example.com:8143")


def test_timeout_named_only_in_details_is_recognised(ca_pem):
    post = answers("post_task")
    client, pe = recorded_client(ca_pem, post["timeout_refused_in_details"], post["accepted_202"],
                                 url="https://older-pe.example.com")
    try:
        assert client.run_task("diagnostics::collect", {}, nodes=["web01.example.com"], timeout=60) == "81"
        assert len(pe.sent) == 2
    finally:
        oc._REFUSES_TIMEOUT.discard("https://older-pe.example.com:8143")


def test_other_validation_errors_are_not_retried(ca_pem):
    post = answers("post_task")
    client, pe = recorded_client(ca_pem, post["params_refused"], url="https://third-pe.example.com")
    with pytest.raises(oc.RequestInvalid):
        client.run_task("diagnostics::collect", {"bogus": 1}, nodes=["web01.example.com"], timeout=60)
    assert len(pe.sent) == 1 and not client.refuses_timeout
    # without a timeout in the body, a refusal naming it cannot be about it: not retried either
    client, pe = recorded_client(ca_pem, post["timeout_refused"], url="https://third-pe.example.com")
    with pytest.raises(oc.RequestInvalid):
        client.run_task("diagnostics::collect", {}, nodes=["web01.example.com"])
    assert len(pe.sent) == 1


def test_job_answers(ca_pem):
    jobs = answers("jobs")
    client, _ = recorded_client(ca_pem, jobs["finished_current"], jobs["no_nodes"], jobs["stopping"])
    job = client.job("81")
    assert (job.state, job.node_count, job.node_states, job.duration, job.done) == (
        "finished", 1, {"finished": 1}, 256.0, True)
    job = client.job("85")
    assert (job.node_states, job.node_count, job.duration, job.done) == ({}, 0, None, True)
    job = client.job("86")
    assert job.state == "stopping" and not job.done and job.node_states == {"running": 1, "stopping": 1}


def test_a_job_state_the_client_does_not_know_is_not_done(ca_pem):
    jobs = answers("jobs")
    client, _ = recorded_client(ca_pem, jobs["future_state"], jobs["no_state"])
    job = client.job("87")
    assert job.state == "paused" and not job.done
    with pytest.raises(oc.ProtocolError) as exc:  # no state at all: not an answer of the API
        client.job("88")
    assert exc.value.retryable


def test_unknown_job_is_a_retryable_job_not_found(ca_pem):
    client, _ = recorded_client(ca_pem, answers("jobs")["unknown_job"], answers("jobs")["unknown_job"])
    with pytest.raises(oc.JobNotFound) as exc:
        client.job("9999")
    assert exc.value.retryable and exc.value.kind == "puppetlabs.orchestrator/unknown-job"
    with pytest.raises(oc.JobNotFound):
        client.job_nodes("9999")


@pytest.mark.parametrize("answer", ["pe2016_errored_no_result", "pe2018_errored_result_error"])
def test_errored_node_in_both_recorded_shapes(ca_pem, answer):
    client, _ = recorded_client(ca_pem, answers("nodes")[answer])
    node = client.job_node("81", "web01.example.com")
    assert node.state == "errored" and node.error["kind"] == "puppetlabs.orchestrator/execution-failure"
    assert node.error["msg"] == "web01.example.com is not connected to the PCP broker"
    assert node.report is None and node.output is None


def test_only_our_node_decides(ca_pem):
    nodes = answers("nodes")
    client, _ = recorded_client(ca_pem, nodes["others_odd"], nodes["others_odd"])
    node = client.job_node("81", "web01.example.com")
    assert node.state == "finished" and node.report == {"sections": [], "findings": []} and node.duration == 1.25
    listed = client.job_nodes("81")  # unreadable items are left out, odd states kept
    assert [(n.name, n.state) for n in listed] == [
        ("db01.example.com", "stopping"), ("db02.example.com", "quarantined"), ("web01.example.com", "finished")]


def test_our_node_missing_or_odd(ca_pem):
    nodes = answers("nodes")
    client, _ = recorded_client(ca_pem, nodes["others_odd"], nodes["own_odd"], nodes["no_items"])
    assert client.job_node("81", "ghost.example.com") is None
    node = client.job_node("81", "web01.example.com")
    assert node.state == "finished" and node.report is None and node.output is None
    with pytest.raises(oc.ProtocolError):
        client.job_node("81", "web01.example.com")


# --- what stands in front of PE: bounded messages, Retry-After ---------------------------

LONG = "x" * 5000


@pytest.mark.parametrize("status, text, headers, error_type", [
    (401, "<html><title>%s</title></html>" % LONG, {}, oc.AuthError),
    (302, "", {"Location": "https://sso.example.com/" + LONG + "?ticket=secret"}, oc.ConfigurationError),
    (407, LONG, {}, oc.ConfigurationError),
    (404, '{"kind":"puppetlabs.orchestrator/unknown-job","msg":"%s"}' % LONG, {}, oc.JobNotFound),
    (503, LONG, {"Retry-After": "99999999"}, oc.TransientError),
    (429, '{"message":"%s"}' % LONG, {"Retry-After": "1e308"}, oc.TransientError),
    (401, LONG, {}, oc.AuthError),
    (403, "<html><h1>%s</h1></html>" % LONG, {}, oc.AuthError),
    (400, "<html><title>%s</title></html>" % LONG, {}, oc.OrchestratorError),
])
def test_hostile_proxy_answers_give_bounded_one_line_messages(status, text, headers, error_type):
    error = oc.error_from_response(status, text, job_lookup=True, headers=headers)
    assert type(error) is error_type
    assert len(error.message) < 600 and "\n" not in error.message and "secret" not in error.message


@pytest.mark.parametrize("value, seconds", [
    ("120", 120.0), (" 7 ", 7.0), ("0", 0.0), ("-5", 0.0), ("1e308", oc.MAX_RETRY_AFTER), ("inf", oc.MAX_RETRY_AFTER),
    ("nan", None), ("", None), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("Wed, 99 Foo", None)])
def test_retry_after_in_seconds_or_as_a_date(value, seconds):
    error = oc.error_from_response(503, "", headers={"Retry-After": value})
    assert error.retry_after == seconds and error.retryable


def test_a_retry_after_date_in_the_future_counts_down():
    import email.utils
    import time
    error = oc.error_from_response(429, "", headers={"Retry-After": email.utils.formatdate(time.time() + 90, usegmt=True)})
    assert 80 <= error.retry_after <= 91


@pytest.mark.parametrize("text, page", [
    ("<html><head><title>502 Bad Gateway</title></head></html>", "502 Bad Gateway"),
    ("<HTML><BODY><H1>503 Service Unavailable</H1>No server</BODY></HTML>", "503 Service Unavailable"),
    ("<!DOCTYPE html><title>Sign in &middot; SSO</title>", "Sign in · SSO"),
    ("<html><body>no title</body></html>", None),
    ("plain\ntext  answer", "plain text answer"),
    ("", None),
])
def test_what_a_page_says(text, page):
    assert oc._page_text(text) == page


@pytest.mark.parametrize("job, name", [
    ({"id": "https://pe:8143/orchestrator/v1/jobs/81", "name": "81"}, "81"), ({"name": 82}, "82"),
    ({"id": "https://pe:8143/orchestrator/v1/jobs/83/"}, "83"), ({"name": "", "id": "/orchestrator/v1/jobs/84"}, "84"),
    ({"name": " 85 "}, "85"), ({"name": True, "id": 86}, "86"), ({"name": None, "id": None}, None), ({}, None),
    ({"name": "a b"}, None), ({"id": "https://pe:8143/"}, None),
    ({"id": "https://pe:8143/orchestrator/v1/jobs/"}, None), ({"name": "/jobs/", "id": "87"}, "87"),
])
def test_job_names_in_every_shape(job, name):
    assert oc._job_name(job) == name
