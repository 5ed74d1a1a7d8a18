"""The plugin inside Sentry: notify() cost, note latency, polls per job. Prints figures.

Targets (issue 5): notify() adds <= 1 ms p95 to post-processing; the note row exists
<= 1 s p95 after the orchestrator marks the node finished; <= 1 poll/s on average.
"""
import datetime
import time

import pytest
from sentry.eventstore.models import Event
from sentry.models import Activity
from sentry.plugins.base import Notification, plugins
from sentry.testutils.cases import TestCase
from sentry.types.activity import ActivityType

from localorch.server import LocalOrchestrator
from sentry_harness import create_new_issue_rule, python_error_event, send_event

NODES = ["web%02d.example.com" % i for i in range(1, 6)]


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100.0 * (len(values) - 1))))]


def parse_ts(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)


class PipelineBench(TestCase):
    @pytest.fixture(autouse=True)
    def _orch(self, tmp_path):
        with LocalOrchestrator(nodes=NODES, task_env={"TMPDIR": str(tmp_path)}) as orch:
            self.orch = orch
            yield

    def configure(self, **extra):
        plugin = plugins.get("autodiag")
        for key, value in dict({"url": self.orch.url, "token": self.orch.token, "ca_cert": self.orch.ca_pem},
                               **extra).items():
            plugin.set_option(key, value, self.project)
        plugin.enable(self.project)
        create_new_issue_rule(self.project)
        return plugin

    def test_notify_cost(self):
        """notify() on the post_process worker: filters, node check, Redis claim, one publish."""
        plugin = self.configure()
        plugin.disable(self.project)  # create the issues without diagnosing them
        saved = [send_event(self.project, python_error_event(server_name=NODES[i % 5], fingerprint=["n%d" % i]))
                 for i in range(220)]
        plugin.enable(self.project)
        rule = self.project.rule_set.first()
        timings = []
        for s in saved:
            event = Event(self.project.id, s.event_id, group_id=s.group_id)
            # post_process already holds the event body and rule_notify reads event.group.project
            # before calling the plugin: load both before timing, as production has them.
            event.data.get("event_id")
            event.group.project
            start = time.perf_counter()
            plugin.notify(Notification(event=event, rules=[rule]))  # outside TaskRunner: publish only
            timings.append((time.perf_counter() - start) * 1000)
        timings = timings[20:]  # warm-up
        # Baseline: publishing the same task message alone (what every enqueueing plugin pays).
        from sentry_autodiag import tasks

        publish = []
        for s in saved[20:]:
            start = time.perf_counter()
            tasks.start_diagnosis.apply_async(kwargs={"project_id": self.project.id, "group_id": s.group_id,
                                                      "event_id": s.event_id, "node": NODES[0], "rejection": None,
                                                      "since": None}, queue=tasks.QUEUE)
            publish.append((time.perf_counter() - start) * 1000)
        print("\nnotify(): %d issues, p50 %.3f ms, p95 %.3f ms, max %.3f ms (target p95 <= 1 ms)"
              % (len(timings), pct(timings, 50), pct(timings, 95), max(timings)))
        print("of which publishing the task (baseline, same broker): p50 %.3f ms, p95 %.3f ms; "
              "notify / publish p50 ratio %.2f" % (pct(publish, 50), pct(publish, 95), pct(timings, 50) / pct(publish, 50)))
        assert len(timings) == 200

    def test_note_latency(self):
        """From the node's finish_timestamp at the orchestrator to the note row."""
        self.configure(coalesce_window=0)  # every issue runs its own job, even on a node seen before
        latencies = []
        for i in range(20):
            s = send_event(self.project, python_error_event(server_name=NODES[i % 5], fingerprint=["l%d" % i]))
            (note,) = Activity.objects.filter(group_id=s.group_id, type=ActivityType.NOTE.value)
            job = self.orch.jobs[str(i + 1)]
            finished = parse_ts(job.nodes[NODES[i % 5]]["finish_timestamp"])
            latencies.append((note.datetime - finished).total_seconds())
        print("\nnote latency over %d diagnoses (real collect.sh): p50 %.3f s, p95 %.3f s, max %.3f s "
              "(target p95 <= 1 s)" % (len(latencies), pct(latencies, 50), pct(latencies, 95), max(latencies)))
        assert len(latencies) == 20

    def test_polls_per_job(self):
        """The poll schedule against tasks that take 1 s, 5 s and 30 s on the node."""
        self.configure(task="diagnostics::collect", coalesce_window=0)  # each its own job
        total_polls, total_seconds = 0, 0.0
        for i, seconds in enumerate((1, 5, 30)):
            self.orch.faults.slow_task = {"*": float(seconds)}
            start = time.monotonic()
            s = send_event(self.project, python_error_event(server_name=NODES[0], fingerprint=["p%d" % i]))
            elapsed = time.monotonic() - start
            name = str(i + 1)
            polls = self.orch.calls.get("GET /orchestrator/v1/jobs/%s" % name, 0)
            assert Activity.objects.filter(group_id=s.group_id, type=ActivityType.NOTE.value).count() == 1
            total_polls += polls
            total_seconds += elapsed
            print("\n%2d s task: %d polls, %.2f polls/s, issue to note %.2f s" % (seconds, polls, polls / elapsed, elapsed))
        print("average: %.2f polls/s (target <= 1)" % (total_polls / total_seconds))
