"""Ask again (issue 22) inside real Sentry 23.7.1, both front ends.

Plugin: a member's note posted through Sentry's own notes endpoint sends `comment_created`;
the plugin's receiver queues the request, its Celery task (eager under Sentry's task
runner) runs the flow on the local orchestrator with the real task. Gateway: the internal
integration subscribes to Comment; Sentry's own webhook task signs and POSTs
`comment.created` to the gateway process, whose worker answers through Sentry's API.
"""
import json
import time
from datetime import timedelta

from django.utils import timezone
from sentry.models import Activity, Group, GroupRuleStatus, GroupStatus, Rule
from sentry.rules.actions.notify_event_service import NotifyEventServiceAction
from sentry.rules.conditions.first_seen_event import FirstSeenEventCondition
from sentry.rules.conditions.regression_event import RegressionEventCondition
from sentry.sentry_apps.apps import SentryAppUpdater
from sentry.signals import comment_created
from sentry.testutils.cases import TestCase, TransactionTestCase
from sentry.types.activity import ActivityType

from autodiag_case import AutoDiagCase, app_log, modules_dir  # noqa: F401 (fixtures)
from gateway_case import GatewaySentryCase
from gateway_harness import _wait
from sentry_autodiag.report import md_text
from sentry_autodiag.sentry_glue import sentry_redis
from sentry_harness import python_error_event, send_event

HOSTILE = [
    "/autodiag web01.example.com\x00", "/autodiag web01.example.com\x1b[2J", "/autodiag web01.example.com\u202e",
    "\u2215autodiag web02.example.com", "\uff0fautodiag web02.example.com", "/autodiag\u00a0web02.example.com",
    '/autodiag web01" or certname ~ ".*', "/autodiag web01.example.com)}; nodes[certname]{",
    "/autodiag $(curl evil)", "/autodiag ../../etc/passwd", "/autodiag 127.0.0.1", "/autodiag ｗｅｂ02.example.com",
    "/autodiag " + "a" * 5000, "/autodiag web02.example.com\n" + "x" * 200000, "> /autodiag web02.example.com",
    "```\n/autodiag web02.example.com\n```", "~~~\n/autodiag web02.example.com", "> quote\n/autodiag web02",
]  # (an indented "    /autodiag" is no code block once saved: Sentry trims the note's leading whitespace)


def age_last_diagnosis(group_id, hours=2):
    """As if `hours` passed since the issue's last diagnosis (its claim records when)."""
    client = sentry_redis()
    key = "autodiag:issue:%s" % group_id
    value = client.get(key)
    event, at = (value.decode() if isinstance(value, bytes) else value).split(" ")
    client.set(key, "%s %f" % (event, float(at) - hours * 3600))


def resolve(group_id):
    """Resolved a while ago (Sentry counts a regression only past its 5 s window after active_at)."""
    Group.objects.filter(id=group_id).update(status=GroupStatus.RESOLVED, active_at=timezone.now() - timedelta(hours=3))


class AskAgainPluginTest(AutoDiagCase, TestCase):
    def setUp(self):
        super().setUp()
        self.configure(node_pattern=r"web\d\d\.example\.com")
        self.login_as(self.user)

    def comment(self, group_id, text, accepted=(201,)):
        with self.tasks():
            answer = self.client.post("/api/0/issues/%s/comments/" % group_id, data=json.dumps({"text": text}),
                                      content_type="application/json")
        assert answer.status_code in accepted, answer.content
        return answer.json()

    def diagnosed(self):
        saved = send_event(self.project, python_error_event(server_name="web01.example.com"))
        assert len(self.notes(saved.group_id)) == 1
        return saved

    def test_autodiag_on_a_diagnosed_issue_answers_and_adds_a_second_note_with_the_changes(self):
        saved = self.diagnosed()
        self.comment(saved.group_id, "/autodiag\nthe disk was cleaned, is it better?")
        first, answer, second = self.notes(saved.group_id)
        assert answer == "**Puppet diagnostics** for `web01.example.com`: diagnosis started, job `2`."
        assert second.startswith("**Requested** by %s at `" % md_text(self.user.get_display_name()))
        assert "**Changes since the last diagnosis**" in second
        assert second.index("Changes since") < second.index("**Puppet diagnostics** for `web01.example.com` — ✅")
        assert "Changes since" not in first and "Requested" not in first
        assert [list(j.nodes) for j in self.orch.jobs.values()] == [["web01.example.com"]] * 2
        assert self.orch.jobs["2"].userdata["sentry_event_id"].startswith("comment-")

    def test_a_named_node_is_diagnosed_and_a_refused_one_gets_a_note_and_no_job(self):
        saved = self.diagnosed()
        self.comment(saved.group_id, "/autodiag WEB02.example.com")
        assert list(self.orch.jobs["2"].nodes) == ["web02.example.com"]
        notes = self.notes(saved.group_id)
        assert "for `web02.example.com`: diagnosis started" in notes[1]
        assert "for `web02.example.com` — ✅ finished" in notes[2] and "Changes since" not in notes[2]
        self.comment(saved.group_id, "/autodiag db01.example.com")      # a PE node, outside the allowed pattern
        self.comment(saved.group_id, "/autodiag web09.example.com")     # allowed, but unknown to PuppetDB
        self.comment(saved.group_id, "/autodiag web02.example.com\nagain")  # 4th request within the hour
        notes = self.notes(saved.group_id)
        assert len(notes) == 6, notes
        refused, unknown, limited = notes[3:]
        assert "refused (node not allowed)" in refused and "db01" in refused
        assert "refused (unknown node)" in unknown and "web09" in unknown
        assert limited.startswith("**Puppet diagnostics** `/autodiag` refused: the limit of 3 requested "
                                  "diagnoses per issue per hour is reached")
        assert len(self.orch.jobs) == 2

    def test_comments_that_are_not_the_command_and_edits_do_nothing(self):
        saved = self.diagnosed()
        for text in ("please /autodiag", "> /autodiag", "```\n/autodiag\n```", "`/autodiag`", "/autodiagnose"):
            self.comment(saved.group_id, text)
        note = self.comment(saved.group_id, "looks like the disk")
        with self.tasks():
            edited = self.client.put("/api/0/issues/%s/comments/%s/" % (saved.group_id, note["id"]),
                                     data=json.dumps({"text": "/autodiag web02.example.com"}),
                                     content_type="application/json")
        assert edited.status_code == 200, edited.content
        assert len(self.notes(saved.group_id)) == 1 and len(self.orch.jobs) == 1

    def test_notes_of_an_integration_and_projects_without_the_plugin_ask_nothing(self):
        saved = self.diagnosed()
        app_user = self.create_user(is_sentry_app=True)
        with self.tasks():
            comment_created.send_robust(project=self.project, user=app_user, group=Group.objects.get(
                id=saved.group_id), data={"comment_id": 999, "comment": "/autodiag", "timestamp": timezone.now()},
                sender="post")
        other = self.create_project(organization=self.organization)
        elsewhere = send_event(other, python_error_event(server_name="web01.example.com"))
        self.comment(elsewhere.group_id, "/autodiag web01.example.com")
        assert len(self.notes(saved.group_id)) == 1 and self.notes(elsewhere.group_id) == []
        assert len(self.orch.jobs) == 1

    def test_a_hostile_corpus_reaches_pe_with_nothing_an_alert_could_not_send(self):
        self.plugin.set_option("comment_max_per_issue", 20, self.project)
        saved = self.diagnosed()
        taken = 0
        for text in HOSTILE:  # Sentry itself refuses some (NUL characters): 400, nothing is sent
            taken += "id" in self.comment(saved.group_id, text, accepted=(201, 400))
        assert taken >= len(HOSTILE) - 2
        notes = self.notes(saved.group_id)[1:]
        odd = [n for n in notes if not n.startswith("**Puppet diagnostics** `/autodiag` refused")]
        assert not odd, odd
        assert 8 <= len(notes) < len(HOSTILE)  # quoted, fenced, indented, look-alike slashes: no answer at all
        assert len(self.orch.jobs) == 1

    def test_a_regression_after_the_interval_gets_a_new_diagnosis(self):
        rule = Rule.objects.create(project=self.project, label="Regression → autodiag", data={
            "conditions": [{"id": RegressionEventCondition.id}],
            "actions": [{"id": NotifyEventServiceAction.id, "service": "autodiag"}],
            "action_match": "all", "filter_match": "all", "frequency": 30})
        first = send_event(self.project, python_error_event(fingerprint=["again"]))
        resolve(first.group_id)
        GroupRuleStatus.objects.filter(rule=rule).update(last_active=timezone.now() - timedelta(hours=2))
        again = send_event(self.project, python_error_event(fingerprint=["again"]))  # within the hour
        assert again.group_id == first.group_id and len(self.notes(first.group_id)) == 1
        assert GroupRuleStatus.objects.get(rule=rule).last_active > timezone.now() - timedelta(minutes=5)  # fired
        resolve(first.group_id)
        GroupRuleStatus.objects.filter(rule=rule).update(last_active=timezone.now() - timedelta(hours=2))
        age_last_diagnosis(first.group_id)
        send_event(self.project, python_error_event(fingerprint=["again"]))
        notes = self.notes(first.group_id)
        assert len(notes) == 2 and len(self.orch.jobs) == 2
        assert notes[1].startswith("**Changes since the last diagnosis**") and "Requested" not in notes[1]


class AskAgainGatewayTest(GatewaySentryCase, TransactionTestCase):
    def integration(self, webhook_url, schema=None, rule=True):
        """As the README asks: the integration also subscribes to Comment (event:read)."""
        app, token = super().integration(webhook_url, schema=schema, rule=rule)
        SentryAppUpdater(sentry_app=app, events=["comment"]).run(user=self.user)  # as the settings page saves it
        app.refresh_from_db()
        return app, token

    def gateway_notes(self, group_id, count):
        def ready():
            notes = [a.data["text"] for a in Activity.objects.filter(
                group_id=group_id, type=ActivityType.NOTE.value, user_id=self.app.proxy_user_id).order_by("id")]
            return notes if len(notes) >= count else None
        return _wait(ready, 90, "%d gateway note(s)" % count, interval=0.25)

    def comment(self, group_id, text):
        self.login_as(self.user)
        with self.tasks():
            answer = self.client.post("/api/0/issues/%s/comments/" % group_id, data=json.dumps({"text": text}),
                                      content_type="application/json")
        assert answer.status_code == 201, answer.content

    def test_gateway_answers_autodiag_comments_through_sentry(self):
        self.start(node_pattern=r"web\d\d\.example\.com")
        saved = send_event(self.project, python_error_event(server_name="web01.example.com"))
        self.gateway_notes(saved.group_id, 1)
        self.comment(saved.group_id, "/autodiag")
        answer, second = self.gateway_notes(saved.group_id, 3)[1:3]
        assert answer.startswith("**Puppet diagnostics** for `web01.example.com`: diagnosis started, job `2`.")
        assert second.startswith("**Requested** by ") and "**Changes since the last diagnosis**" in second
        self.comment(saved.group_id, "/autodiag web02.example.com")
        notes = self.gateway_notes(saved.group_id, 5)
        assert "for `web02.example.com` — ✅ finished" in notes[4]
        self.comment(saved.group_id, "/autodiag db01.example.com")
        self.comment(saved.group_id, "> /autodiag web02.example.com")
        self.comment(saved.group_id, "/autodiag web03.example.com")
        notes = self.gateway_notes(saved.group_id, 7)
        assert "refused (node not allowed)" in notes[5], notes[5]
        assert "limit of 3 requested diagnoses per issue per hour" in notes[6], notes[6]
        time.sleep(2)
        assert len(self.gateway_notes(saved.group_id, 7)) == 7 and len(self.orch.jobs) == 3
        metrics = self.gw.metrics()
        assert 'autodiag_webhooks_total{resource="comment",result="request-queued"} 4.0' in metrics
        assert 'autodiag_webhooks_total{resource="comment",result="no-command"}' in metrics
