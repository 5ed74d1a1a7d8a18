"""The client's reading of recorded orchestrator answers, in every documented variant
(PE versions and docs disagree; a client must accept them all)."""
import pytest

from sentry_autodiag import orchestrator as oc


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
])
def test_node_result_variants(item, state, report, output, error):
    node = oc.normalize_node(item)
    assert (node.state, node.report, node.output, node.error) == (state, report, output, error)


@pytest.mark.parametrize("item", [None, [], {"state": "finished"}, {"name": 5, "state": "finished"},
                                  {"name": "web01", "state": "exploded"}, {"name": "web01"}])
def test_bad_node_entries_are_protocol_errors(item):
    with pytest.raises(oc.ProtocolError):
        oc.normalize_node(item)


def test_odd_field_types_are_ignored_not_crashes():
    node = oc.normalize_node({"name": "web01", "state": "finished", "result": {"x": 1}, "duration": "1.5",
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
    (400, '{"kind":"puppetlabs.orchestrator/puppetdb-error","msg":"x"}', oc.QueryError, False),
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
