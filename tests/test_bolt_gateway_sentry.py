"""The webhook gateway with the Bolt runner, end to end inside a real Sentry 23.7.1: Sentry's
webhook, the gateway and its worker (own processes, Python 3.11), the Bolt stand-in (Bolt 4.0.0's
CLI and JSON) over a real OpenSSH server on loopback (tests/bolt_lab.py); the worker follows each Bolt run with
scheduled poll steps, never waiting on Bolt."""
from sentry.testutils.cases import TransactionTestCase

from autodiag_case import app_log, modules_dir  # noqa: F401 (fixtures)
from bolt_lab import lab
from gateway_case import GatewaySentryCase
from sentry_harness import python_error_event, send_event


class GatewayBoltTest(GatewaySentryCase, TransactionTestCase):
    def test_reports_and_refusals_through_bolt_and_the_check(self):
        the_lab = lab()
        self.start(**the_lab.settings(bolt_test_node="web01"))
        ok = self.gw.run_cli("check", "--config", self.gw.config_path, timeout=120)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "project %s: Test passed: Bolt 4.0.0 runs" % self.project.slug in ok.stdout
        assert "reached web01" in ok.stdout

        good = send_event(self.project, python_error_event(server_name="web01.example.com", fingerprint=["good"]))
        refused = send_event(self.project, python_error_event(server_name="badkey01", fingerprint=["refused"]))
        (note,) = self.wait_note(good.group_id)
        assert note.startswith("**Puppet diagnostics** for `web01.example.com` — ✅ finished"), note[:400]
        assert "Bolt run `bolt-" in note and "**Application log**" in note
        assert "ERROR checkout failed order=299 password=[REDACTED]" in note and "hunter299" not in note
        (note,) = self.wait_note(refused.group_id)
        assert note.startswith("**Puppet diagnostics** for `badkey01` — ⚠️ authentication refused"), note[:400]
        assert self.orch.jobs == {}  # no PE anywhere
