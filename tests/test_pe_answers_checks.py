""""Test Plugin" (checks.check_orchestrator) against recorded answers: each failure says what
PE or the thing in front of it answered, and what to do where the message does not."""
import json

import pytest

from sentry_autodiag import checks, settings
from sentry_autodiag import orchestrator as oc
from localorch import pki
from recorded_pe import RecordedPE

TASK_INFO = {"id": "https://pe.example.com:8143/orchestrator/v1/tasks/diagnostics/collect", "name": "diagnostics::collect",
             "environment": {"name": "production", "code_id": None},
             "metadata": {"description": "Collects diagnostics", "parameters": {}, "supports_noop": False},
             "files": [{"filename": "collect.sh", "uri": {"path": "/puppet/v3/file_content/tasks/diagnostics/collect.sh",
                                                          "params": {"environment": "production"}},
                        "sha256": "0" * 64, "size_bytes": 120}]}


@pytest.fixture(scope="module")
def ca_pem():
    return pki.generate(["pe.example.com"]).ca_pem


@pytest.fixture
def answering(monkeypatch):
    """Mounts a RecordedPE on every client check_orchestrator creates."""
    def install(*recorded):
        pe = RecordedPE(recorded)
        real_init = oc.OrchestratorClient.__init__

        def init(self, *args, **kwargs):
            real_init(self, *args, **kwargs)
            self.session.mount("https://", pe)
        monkeypatch.setattr(oc.OrchestratorClient, "__init__", init)
        return pe
    return install


def configured(ca_pem):
    values = {"url": "https://pe.example.com:8143", "token": "tok3n-value", "ca_cert": ca_pem}
    return settings.load(lambda name: values.get(name))


def test_a_passing_check_names_host_task_and_environment(ca_pem, answering):
    pe = answering({"status": 200, "body": TASK_INFO})
    result = checks.check_orchestrator(configured(ca_pem))
    assert result.ok and "Test passed" in result.message and "diagnostics::collect" in result.message
    assert pe.sent[0][1].endswith("/orchestrator/v1/tasks/diagnostics/collect?environment=production")


@pytest.mark.parametrize("answer, words", [
    ({"status": 404, "body": {"kind": "puppetlabs.orchestrator/unknown-task", "msg": "Could not find a task named 'diagnostics::collect'"}},
     ["not installed", "Could not find a task"]),
    ({"status": 401, "body": {"kind": "puppetlabs.rbac/token-expired", "msg": "The provided token has expired."}},
     ["has expired", "puppet-access login"]),
    ({"status": 401, "headers": {"Content-Type": "text/plain"}, "text": "The provided token has expired."},
     ["has expired"]),
    ({"status": 502, "headers": {"Content-Type": "text/html"},
      "text": "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"},
     ["HTTP 502", "proxy or load balancer", "What to do", "port 8143"]),
    ({"status": 302, "headers": {"Location": "https://sso.example.com/login?next=%2Forchestrator"}, "text": ""},
     ["redirect", "https://sso.example.com/login", "What to do", "https://<primary>:8143"]),
    ({"status": 200, "headers": {"Content-Type": "text/html"}, "text": "<!DOCTYPE html><html><head><title>Sign in</title></head></html>"},
     ["HTML page (Sign in)", "What to do"]),
    ({"status": 403, "headers": {"Content-Type": "text/html"}, "text": "<html><title>Access Denied</title></html>"},
     ["HTTP 403", "Access Denied", "What to do"]),
    ({"status": 200, "text": ""}, ["empty body", "What to do"]),
])
def test_a_failing_check_says_what_answered_and_what_to_do(ca_pem, answering, answer, words):
    answering(answer)
    result = checks.check_orchestrator(configured(ca_pem))
    assert not result.ok and result.message.startswith("Test failed: ")
    for word in words:
        assert word in result.message, (word, result.message)
    assert "tok3n-value" not in result.message and "next=" not in result.message


def test_unconfigured_settings_are_said_so():
    result = checks.check_orchestrator(settings.load(lambda name: None))
    assert not result.ok and "Not configured yet" in result.message


def test_failure_text_adds_no_hint_where_the_message_has_the_action():
    exc = oc.error_from_response(404, json.dumps({"kind": "puppetlabs.orchestrator/unknown-task", "msg": "x"}))
    assert "What to do" not in checks.failure_text(exc)
    exc = oc.error_from_response(400, json.dumps({"kind": "puppetlabs.orchestrator/query-error", "msg": "x"}))
    assert "View node data from PuppetDB" in checks.failure_text(exc)
