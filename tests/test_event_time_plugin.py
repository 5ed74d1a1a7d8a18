"""The plugin's event time (what the README says happens to an unreadable one): Sentry's
own normalization replaces an SDK timestamp it cannot read, or one more than 30 days in
the past, by the time it received the event; the plugin reads that stored time, so the
task's `since` is always a readable time and the issue is diagnosed."""
import time

from sentry.testutils.cases import TestCase

from autodiag_case import AutoDiagCase, app_log, modules_dir  # noqa: F401 (fixtures)
from sentry_harness import python_error_event, send_event


def _epoch(iso):
    return time.mktime(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone


class PluginEventTimeTest(AutoDiagCase, TestCase):
    def setUp(self):
        super().setUp()
        self.configure()

    def _since(self, timestamp):
        before = time.time()
        saved = send_event(self.project, python_error_event(timestamp=timestamp))
        assert "✅ finished" in self.only_note(saved)
        (job,) = self.orch.jobs.values()
        return _epoch(job.params["since"]), before

    def test_an_unreadable_sdk_time_becomes_the_time_sentry_received_the_event(self):
        since, before = self._since("yesterday")
        assert before - 5 <= since <= time.time() + 1

    def test_a_time_older_than_30_days_becomes_the_time_sentry_received_the_event(self):
        since, before = self._since(time.time() - 40 * 86400)
        assert before - 5 <= since <= time.time() + 1

    def test_a_readable_recent_time_is_kept(self):
        since, _ = self._since(time.time() - 3600)
        assert abs(since - (time.time() - 3600)) < 10
