"""The numbers the README states, pinned by behaviour where a test can count them (the
orchestrator double counts what it answered) and against the code's constants where the
behaviour is pinned elsewhere with a smaller value (the metrics budget)."""
import os
import re

from sentry.testutils.cases import TestCase

from autodiag_case import AutoDiagCase, app_log, modules_dir  # noqa: F401 (fixtures)
from sentry_autodiag import diagnosis, flow, promsnapshot, report
from sentry_harness import python_error_event, send_event

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()


class OrchestratorAttemptsTest(AutoDiagCase, TestCase):
    def setUp(self):
        super().setUp()
        self.configure()

    def test_an_unreachable_orchestrator_is_tried_5_times_to_start(self):
        self.orch.faults.http_errors = [503] * 20
        saved = send_event(self.project, python_error_event())
        note = self.only_note(saved)
        assert "orchestrator unreachable" in note and "tried 5 time(s)" in note.replace("\\", "")
        assert len(self.orch.faults.http_errors) == 20 - 5  # 5 attempts = the first and 4 retries
        assert self.orch.jobs == {}

    def test_following_a_job_gives_up_after_8_failed_looks_in_a_row(self):
        self.orch.faults.malformed_gets = 30
        saved = send_event(self.project, python_error_event())
        note = self.only_note(saved)
        assert "unexpected answer from the orchestrator" in note and "tried 8 time(s)" in note.replace("\\", "")
        assert self.orch.faults.malformed_gets == 30 - 8
        assert len(self.orch.jobs) == 1


def test_the_readme_states_the_numbers_the_code_uses():
    assert diagnosis.START_RETRIES == 5 and diagnosis.MAX_POLL_FAILURES == 8
    assert "tried 5 times (the first attempt and 4 retries)" in README and "8 failed looks in a row" in README
    # a slow Prometheus delays the note by at most its budget plus the grace after the job started
    assert promsnapshot.BUDGET == 10 and flow.METRICS_GRACE == 5
    assert "Limits: 10 s for all queries" in README and "at most 15 s after the job started" in README
    assert report.MAX_FINDINGS == 20 and report.MAX_NOTE_CHARS == 60000
    assert re.search(r"bounded \(60 000 characters\)", README)
