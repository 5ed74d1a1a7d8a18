"""An orchestrator URL given as an IP address works in the plugin (Python 3.8, urllib3
1.26: no server name is sent for an IP, and a context that checks names then raised
ValueError, so "Test Plugin" said "internal error" and a diagnosis ended without a
note); the certificate's IP entry is still checked. And whatever exception the way to
PE raises, the issue gets a note in words and "Test Plugin" an answer in words."""
from unittest import mock

import pytest
from sentry.testutils.cases import APITestCase, TestCase

from autodiag_case import NODES, AutoDiagCase, app_log, modules_dir  # noqa: F401 (fixtures)
from sentry_autodiag import orchestrator as oc
from localorch.server import LocalOrchestrator
from sentry_harness import python_error_event, send_event


def ip_url(url):
    return url.replace("://localhost:", "://127.0.0.1:")


class IpLiteralDiagnosisTest(AutoDiagCase, TestCase):
    def test_an_ip_address_url_diagnoses_like_a_host_name(self):
        assert ip_url(self.orch.url) != self.orch.url
        self.configure(url=ip_url(self.orch.url), puppetdb_url=ip_url(self.orch.url))
        saved = send_event(self.project, python_error_event(server_name="web01.example.com"))
        note = self.only_note(saved)
        assert note.startswith("**Puppet diagnostics** for `web01.example.com` — ✅ finished"), note[:300]

    def test_a_client_side_exception_still_ends_in_a_worded_note(self):
        # fault injected where the real one came from: the TLS layer under requests
        self.configure()
        with mock.patch.object(oc.PinnedCAAdapter, "send",
                               side_effect=ValueError("check_hostname requires server_hostname")):
            saved = send_event(self.project, python_error_event())
        note = self.only_note(saved)
        assert "request failed in the client" in note
        assert "ValueError\\: check\\_hostname requires server\\_hostname" in note, note  # Markdown-escaped
        assert self.orch.jobs == {}

    def test_an_unexpected_error_of_the_start_step_ends_in_an_internal_error_note(self):
        self.configure()
        with mock.patch.object(oc.OrchestratorClient, "run_task", side_effect=KeyError("job")):
            saved = send_event(self.project, python_error_event())
        note = self.only_note(saved)
        assert "internal error" in note and "KeyError" in note and "autodiag\\.internal\\-error" in note, note


class IpLiteralTestPluginTest(AutoDiagCase, APITestCase):
    def setUp(self):
        super().setUp()
        self.login_as(self.user)
        self.url = "/api/0/projects/%s/%s/plugins/autodiag/" % (self.organization.slug, self.project.slug)

    def test_test_plugin_passes_with_an_ip_address_url(self):
        body = {"url": ip_url(self.orch.url), "token": self.orch.token, "ca_cert": self.orch.ca_pem}
        assert self.client.put(self.url, data=body, format="json").status_code == 200
        response = self.client.post(self.url, data={"test": True}, format="json")
        assert response.data["detail"].startswith("Test passed: connected to https://127.0.0.1:"), response.data

    def test_test_plugin_words_a_client_side_exception(self):
        body = {"url": self.orch.url, "token": self.orch.token, "ca_cert": self.orch.ca_pem}
        assert self.client.put(self.url, data=body, format="json").status_code == 200
        with mock.patch.object(oc.PinnedCAAdapter, "send", side_effect=ValueError("boom in the TLS layer")):
            response = self.client.post(self.url, data={"test": True}, format="json")
        detail = response.data["detail"]
        assert detail.startswith("Test failed: ") and "ValueError: boom in the TLS layer" in detail, detail
        assert "internal error" not in detail


@pytest.mark.parametrize("hostnames", [["localhost"], ["localhost", "127.0.0.2"]])
def test_an_ip_address_missing_from_the_certificate_is_refused(modules_dir, hostnames):  # noqa: F811
    with LocalOrchestrator(nodes=NODES, modules_dir=modules_dir, cert_hostnames=hostnames) as server:
        with oc.OrchestratorClient(ip_url(server.url), server.token, server.ca_pem) as client:
            with pytest.raises(oc.TLSError) as exc:
                client.inventory(["web01.example.com"])
    assert "127.0.0.1" in exc.value.message


def test_an_ip_address_on_the_certificate_verifies_against_the_ca_only(modules_dir):  # noqa: F811
    from localorch import pki

    with LocalOrchestrator(nodes=NODES, modules_dir=modules_dir) as server:
        with oc.OrchestratorClient(ip_url(server.url), server.token, server.ca_pem) as client:
            assert client.inventory(["web01.example.com"]) == {"web01.example.com": True}
        with oc.OrchestratorClient(ip_url(server.url), server.token, pki.generate().ca_pem) as client:
            with pytest.raises(oc.TLSError):
                client.inventory(["web01.example.com"])
