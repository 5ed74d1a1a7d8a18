"""Alert storms, faults and hostile input in Sentry's pipeline: nothing lost, nothing
duplicated, nothing dangerous."""
import re
from unittest import mock

import mistune
import redis as redis_py
from sentry.models import Activity, Group
from sentry.testutils.cases import TestCase
from sentry.types.activity import ActivityType

from sentry_autodiag import flow, report, sentry_glue, tasks as autodiag_tasks
from autodiag_case import AutoDiagCase, app_log, modules_dir  # noqa: F401 (fixtures)
from net_helpers import unused_port
from sentry_harness import python_error_event, send_event


def render_html(markdown_text):
    """CommonMark rendering WITH raw HTML allowed: anything dangerous outside code shows up."""
    return mistune.create_markdown(escape=False)(markdown_text)


class StormAndFaultTest(AutoDiagCase, TestCase):
    def setUp(self):
        super().setUp()
        self.configure()

    def storm(self):
        """The project's storm state, as the plugin's flow sees it."""
        config = sentry_glue.load_settings(self.plugin, self.project)
        return flow.Flow(sentry_glue.PluginFrontEnd(self.plugin, None)).storm(config, self.project.id)

    def all_notes(self):
        return list(Activity.objects.filter(project_id=self.project.id, type=ActivityType.NOTE.value))

    # --- coalescing ------------------------------------------------------------------------

    def test_issues_on_the_same_node_share_one_job(self):
        saved = [send_event(self.project, python_error_event(server_name=node, fingerprint=["c%d" % i]))
                 for i, node in enumerate(["web01.example.com", "web01.example.com", "web02.example.com",
                                           "WEB01.example.com"])]
        assert len({s.group_id for s in saved}) == 4
        assert sorted(list(j.nodes)[0] for j in self.orch.jobs.values()) == ["web01.example.com", "web02.example.com"]
        notes = [self.only_note(s) for s in saved]
        leader = Group.objects.get(id=saved[0].group_id)
        for i in (1, 3):
            assert notes[i].startswith("**Shared diagnosis**: this node was diagnosed for [%s](%s)"
                                       % (report.md_text(leader.qualified_short_id), leader.get_absolute_url()))
            assert notes[i].endswith(notes[0])  # the same report
        assert not notes[0].startswith("**Shared") and not notes[2].startswith("**Shared")

    def test_coalescing_can_be_switched_off(self):
        self.plugin.set_option("coalesce_window", 0, self.project)
        for i in range(3):
            send_event(self.project, python_error_event(fingerprint=["off%d" % i]))
        assert len(self.orch.jobs) == 3 and len(self.all_notes()) == 3

    def test_failure_notes_are_shared_too(self):
        self.orch.faults.offline_nodes.add("web01.example.com")
        first = send_event(self.project, python_error_event(fingerprint=["f1"]))
        second = send_event(self.project, python_error_event(fingerprint=["f2"]))
        assert "node not connected" in self.only_note(first)
        assert "node not connected" in self.only_note(second) and "Shared diagnosis" in self.only_note(second)
        assert len(self.orch.jobs) == 1

    def test_without_redis_every_issue_is_still_diagnosed(self):
        dead = redis_py.StrictRedis(port=unused_port(), socket_connect_timeout=0.2)
        with mock.patch.object(sentry_glue, "sentry_redis", return_value=dead), \
                self.assertLogs("sentry_autodiag", level="WARNING") as logs:
            saved = [send_event(self.project, python_error_event(fingerprint=["r%d" % i])) for i in range(2)]
        assert all("✅ finished" in self.only_note(s) for s in saved)
        assert len(self.orch.jobs) == 2  # no coalescing without Redis
        assert any("redis-unavailable" in line for line in logs.output)

    def test_storm_limit_gives_a_note_instead_of_silent_loss(self):
        self.plugin.set_option("max_running_jobs", 1, self.project)
        self.plugin.set_option("max_waiting", 0, self.project)
        storm = self.storm()
        storm.acquire("someone-else", hold=300)  # another diagnosis holds the only slot
        saved = send_event(self.project, python_error_event())
        note = self.only_note(saved)
        assert "skipped\\: storm limit" in note and self.orch.jobs == {}

    def test_a_waiting_leader_runs_when_the_slot_frees(self):
        self.plugin.set_option("max_running_jobs", 1, self.project)
        storm = self.storm()
        storm.acquire("someone-else", hold=300)
        waiting = send_event(self.project, python_error_event(server_name="web02.example.com", fingerprint=["w"]))
        assert self.notes(waiting.group_id) == [] and storm.waiting() == 1 and self.orch.jobs == {}
        storm.release("someone-else")
        # the next finishing diagnosis drains the queue
        send_event(self.project, python_error_event(server_name="web01.example.com", fingerprint=["x"]))
        assert "✅ finished" in self.only_note(waiting)
        assert storm.waiting() == 0 and len(self.orch.jobs) == 2

    # --- faults: one per row ---------------------------------------------------------------

    def test_connection_refused_is_retried_then_noted(self):
        self.plugin.set_option("url", "https://localhost:%d" % unused_port(), self.project)
        note = self.only_note(send_event(self.project, python_error_event()))
        assert "orchestrator unreachable" in note and "tried 5 time" in note and "unreachable" in note

    def test_connection_resets_are_retried(self):
        self.orch.faults.resets = 2
        note = self.only_note(send_event(self.project, python_error_event()))
        assert "✅ finished" in note and len(self.orch.jobs) == 1

    def test_timeouts_are_retried(self):
        self.orch.faults.hangs = 1
        self.orch.faults.hang_seconds = 1.0
        with mock.patch.object(flow, "READ_TIMEOUT", 0.3):
            note = self.only_note(send_event(self.project, python_error_event()))
        assert "✅ finished" in note
        # the hung POST may have created a job before the client gave up: at most that one more
        assert 1 <= len(self.orch.jobs) <= 2

    def test_5xx_and_429_bursts_are_retried(self):
        self.orch.faults.http_errors = [500, 502, 429]
        assert "✅ finished" in self.only_note(send_event(self.project, python_error_event()))
        assert len(self.orch.jobs) == 1

    def test_job_404_right_after_creation_is_retried(self):
        self.orch.faults.job_404_gets = 3
        assert "✅ finished" in self.only_note(send_event(self.project, python_error_event()))

    def test_malformed_answers_are_retried(self):
        self.orch.faults.malformed_gets = 1  # a poll's answer: looking again is harmless
        assert "✅ finished" in self.only_note(send_event(self.project, python_error_event()))

    def test_an_unreadable_answer_to_the_start_is_reported_not_retried(self):
        self.orch.faults.malformed = 1  # a 2xx that names no job: the task may run already
        note = self.only_note(send_event(self.project, python_error_event()))
        assert "job start unconfirmed" in note and "PE console" in note
        assert self.orch.calls.get("POST /orchestrator/v1/command/task") == 1

    def test_bad_token_is_permanent_and_not_retried(self):
        self.plugin.set_option("token", "not-the-token", self.project)
        note = self.only_note(send_event(self.project, python_error_event()))
        assert "token refused" in note
        assert self.orch.calls == {"POST /orchestrator/v1/command/task": 1}

    def test_unknown_environment_is_permanent(self):
        self.plugin.set_option("environment", "staging", self.project)
        note = self.only_note(send_event(self.project, python_error_event()))
        assert "unknown environment" in note and self.orch.calls == {"POST /orchestrator/v1/command/task": 1}

    def test_skipped_node(self):
        self.orch.faults.skipped_nodes.add("web01.example.com")
        note = self.only_note(send_event(self.project, python_error_event()))
        assert "task skipped" in note

    def test_token_expiring_while_following_the_job(self):
        self.orch.faults.token_expires_after = 1  # the POST works, the first poll is refused
        note = self.only_note(send_event(self.project, python_error_event()))
        assert "token refused" in note and "has expired" in note and len(self.orch.jobs) == 1

    def test_a_redelivered_start_resumes_the_recorded_job(self):
        # A worker died after starting the job: the task is redelivered with the same ids.
        saved = send_event(self.project, python_error_event())
        group = Group.objects.get(id=saved.group_id)
        Activity.objects.filter(group_id=group.id).delete()  # as if the note had not been written
        with self.tasks():
            autodiag_tasks.start_diagnosis.apply_async(kwargs=dict(
                project_id=self.project.id, group_id=group.id, event_id=saved.event_id,
                node="web01.example.com", since=None))
        assert len(self.orch.jobs) == 1  # never started twice
        assert "✅ finished" in self.only_note(saved)

    def test_metrics_are_emitted(self):
        from sentry.utils import metrics

        with mock.patch.object(metrics, "incr", wraps=metrics.incr) as incr, \
                mock.patch.object(metrics, "timing", wraps=metrics.timing) as timing:
            send_event(self.project, python_error_event(fingerprint=["m1"]))
            send_event(self.project, python_error_event(fingerprint=["m2"]))
            send_event(self.project, python_error_event(server_name="bad name", fingerprint=["m3"]))
        names = [c.args[0] for c in incr.call_args_list]
        assert names.count("autodiag.job.started") == 1 and names.count("autodiag.issue.coalesced") == 1
        assert "autodiag.job.finished" in names and "autodiag.node.rejected" in names
        timings = [c.args[0] for c in timing.call_args_list]
        assert "autodiag.job.duration" in timings and timings.count("autodiag.note.latency") == 3

    # --- hostile input -------------------------------------------------------------------

    def test_hostile_task_output_stays_bounded_valid_and_inert(self):
        self.plugin.set_option("task", "sample::nasty", self.project)
        note = self.only_note(send_event(self.project, python_error_event()))
        assert len(note) <= report.MAX_NOTE_CHARS
        html = render_html(note)
        assert "<script" not in html and "<img" not in html and "<h1" not in html
        assert not re.search(r"<a\s", html) and 'href="javascript' not in html  # links stay inert text
        assert "hunter2" not in note and "abc.def" not in note and "sk_live_999" not in note
        assert "Secrets masked: 0 on the node, 3 by the plugin." in note
        assert "\u202e" not in note and "\x1b" not in note and "\\u202e" in note
        assert html.count("<pre>") == 2  # each section is exactly one code block
        assert "\\[truncated\\]" in note or "… [truncated]" in note

    def test_oversized_output_is_a_failed_node_with_a_bounded_note(self):
        self.orch.faults.oversized_nodes.add("web01.example.com")  # pxp-agent's 64 MiB limit, scaled down
        note = self.only_note(send_event(self.project, python_error_event()))
        assert "❌ failed" in note
        assert "`puppetlabs.pxp-agent/output-too-large`" in note and len(note) < 2000

    def test_binary_and_invalid_utf8_output_renders_valid_and_inert(self):
        self.plugin.set_option("task", "sample::binary", self.project)
        note = self.only_note(send_event(self.project, python_error_event()))
        note.encode("utf-8")  # valid text
        assert "\x1b" not in note and "\x00" not in note and "\x07" not in note
        assert "\\x1b[2J" in note and "\ufffd" in note and "token=[REDACTED]" in note and "abc123" not in note
        html = render_html(note)
        assert "<script" not in html and html.count("<pre>") == 1
