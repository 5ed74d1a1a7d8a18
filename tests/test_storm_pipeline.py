"""An alert storm through Sentry's pipeline with a real Celery worker (thread pool,
real countdowns) consuming the plugin's queue: 200 new issues across 5 nodes."""
import collections
import time

import pytest
from celery.contrib.testing.worker import start_worker
from sentry.celery import app as celery_app
from sentry.models import Activity
from sentry.plugins.base import plugins
from sentry.testutils.cases import TransactionTestCase
from sentry.types.activity import ActivityType

from localorch.server import LocalOrchestrator
from sentry_harness import create_new_issue_rule, python_error_event, send_event

NODES = ["web%02d.example.com" % i for i in range(1, 6)]
ISSUES = 200


class StormPipelineTest(TransactionTestCase):
    @pytest.fixture(autouse=True)
    def _orchestrator(self, tmp_path):
        with LocalOrchestrator(nodes=NODES, task_env={"TMPDIR": str(tmp_path)}) as orch:
            # Each job takes ~1.5 s on the node, so many issues arrive while jobs run.
            orch.faults.slow_task = {"*": 1.5}
            self.orch = orch
            yield

    def storm(self, max_running):
        plugin = plugins.get("autodiag")
        for key, value in {"url": self.orch.url, "token": self.orch.token, "ca_cert": self.orch.ca_pem,
                           "max_running_jobs": max_running, "log_lines": 5,
                           # the storm's events may span minutes on a busy machine: share them all
                           "share_max_age": 120}.items():
            plugin.set_option(key, value, self.project)
        plugin.enable(self.project)
        create_new_issue_rule(self.project)
        with start_worker(celery_app, concurrency=4, pool="threads", perform_ping_check=False,
                          queues=["autodiag"], shutdown_timeout=30):
            groups = [send_event(self.project, python_error_event(server_name=NODES[i % 5],
                                                                  fingerprint=["storm-%d" % i]),
                                 run_tasks=False).group_id
                      for i in range(ISSUES)]
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                notes = Activity.objects.filter(project_id=self.project.id, type=ActivityType.NOTE.value)
                if notes.count() >= ISSUES:
                    break
                time.sleep(0.5)
            time.sleep(1)  # a duplicate would show up late
        notes = list(Activity.objects.filter(project_id=self.project.id, type=ActivityType.NOTE.value))
        per_group = collections.Counter(n.group_id for n in notes)
        assert len(set(groups)) == ISSUES
        assert set(per_group) == set(groups), "issues without a note: %d" % len(set(groups) - set(per_group))
        assert max(per_group.values()) == 1, "duplicated notes"
        assert len(self.orch.jobs) == len(NODES)  # one job per node
        texts = [n.data["text"] for n in notes]
        assert sum("✅ finished" in t for t in texts) == ISSUES
        assert sum(t.startswith("**Shared diagnosis**") for t in texts) == ISSUES - len(NODES)
        return self.orch.max_concurrent_jobs

    def test_storm_of_200_issues_gives_5_jobs_and_200_notes(self):
        assert self.storm(max_running=5) <= 5

    def test_storm_with_the_cap_at_2_still_gives_200_notes(self):
        assert self.storm(max_running=2) == 2  # the cap bound, and held
