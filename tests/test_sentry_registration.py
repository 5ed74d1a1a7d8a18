"""Sentry itself discovers the plugin through the entry point and calls it from alert rules."""
import logging

import pytest
from sentry.plugins.base import plugins
from sentry.testutils.cases import TestCase

from localorch import pki
from sentry_autodiag.sentry_glue import autodiag_notes
from sentry_harness import create_new_issue_rule, python_error_event, send_event


def test_sentry_registry_finds_plugin_through_entry_point():
    plugin = plugins.get("autodiag")  # raises KeyError when the entry point is broken
    from sentry_autodiag.plugin import AutoDiagPlugin

    assert type(plugin) is AutoDiagPlugin
    assert plugin.slug == plugin.conf_key == "autodiag"
    assert plugin.title == "Puppet Auto-Diagnostics"
    assert plugin.get_plugin_type() == "notification"
    import sentry_autodiag

    assert plugin.version == sentry_autodiag.__version__


def test_entry_point_is_declared_in_package_metadata():
    try:
        from importlib.metadata import entry_points
    except ImportError:  # pragma: no cover
        pytest.fail("python >= 3.8 expected")
    eps = [ep for ep in entry_points().get("sentry.plugins", []) if ep.name == "autodiag"]
    assert [ep.value for ep in eps] == ["sentry_autodiag.plugin:AutoDiagPlugin"]


class NotifyFromAlertRuleTest(TestCase):
    def setUp(self):
        super().setUp()
        self.plugin = plugins.get("autodiag")
        # A closed loopback port: the diagnosis fails fast with an "unreachable" note.
        self.plugin.set_option("url", "https://localhost:9", self.project)
        self.plugin.set_option("token", "secret-token", self.project)
        self.plugin.set_option("ca_cert", pki.generate(["localhost"]).ca_pem, self.project)
        self.plugin.enable(self.project)
        create_new_issue_rule(self.project)

    def notify_calls(self, caplog):
        return [r for r in caplog.records if r.getMessage() == "autodiag.notify"]

    @pytest.fixture(autouse=True)
    def _caplog(self, caplog):
        caplog.set_level(logging.DEBUG, logger="sentry_autodiag")
        self.caplog = caplog

    def test_new_issue_calls_notify_once_and_repeat_event_does_not(self):
        first = send_event(self.project, python_error_event(fingerprint=["checkout-div-zero"]))
        assert first.is_new
        calls = self.notify_calls(self.caplog)
        assert len(calls) == 1
        assert calls[0].group_id == first.group_id
        assert calls[0].event_id == first.event_id

        second = send_event(self.project, python_error_event(fingerprint=["checkout-div-zero"]))
        assert second.group_id == first.group_id and not second.is_new
        assert len(self.notify_calls(self.caplog)) == 1
        from sentry.models import Group

        (note,) = autodiag_notes(Group.objects.get(id=first.group_id))
        assert "orchestrator unreachable" in note.data["text"]

    def test_disabled_plugin_is_not_called(self):
        self.plugin.disable(self.project)
        saved = send_event(self.project, python_error_event(fingerprint=["disabled"]))
        assert saved.is_new
        assert self.notify_calls(self.caplog) == []

    def test_unconfigured_plugin_is_not_called(self):
        self.plugin.set_option("ca_cert", None, self.project)
        send_event(self.project, python_error_event(fingerprint=["unconfigured"]))
        assert self.notify_calls(self.caplog) == []
