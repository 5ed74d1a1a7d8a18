"""The gateway's catch-up sweep inside a real Sentry 23.7.1: issues whose alert webhook never
reached the gateway get their note anyway, marked late, and never twice.

The alert rule really fires (Sentry's rule processor in post_process_group writes the
RuleFireHistory rows and sends the webhook, which finds no gateway); the worker's sweep reads
Sentry's REST API through a live Sentry web server with the integration's token: the project
rules API (to find the rules whose action targets this integration), the rule group history
endpoint (`/rules/<id>/group-history/`, Postgres-backed, Link-header pagination), the event
API, and the comments API for the note.

TEST ALLOWANCE (issue 20), the only two stubs here, both Snuba READS (Snuba cannot run here;
implemented once in devtools/snuba_reads.py, which the demo's Sentry uses too):
1. the group serializer's stats (`GroupSerializer._seen_stats_error`, the seen/user counts,
   and `GroupSerializerBase._get_group_snuba_stats`, the "unhandled" flag): empty;
2. the event store's lookups around one event by id: `eventstore.backend.get_event_by_id`
   is Sentry's own (nodestore; the group id from Postgres, which the sweep passes as
   `group_id`, so it asks Snuba nothing), and the adjacent-event ids the event endpoint asks
   Snuba for (`SnubaEventStorage.get_adjacent_event_ids`) are answered as none.
Everything else is Sentry's own: endpoints, auth and scopes, RuleFireHistory, pagination,
the comments API.
"""
import json
import threading
import time

import pytest
import redis as redis_py
import requests
from sentry.models import Rule, RuleFireHistory
from sentry.testutils.cases import TransactionTestCase

from autodiag_case import NODES, app_log, modules_dir  # noqa: F401 (fixtures)
from gateway_case import GatewaySentryCase
from gateway_harness import _wait
from sentry_harness import python_error_event, send_event
from snuba_reads import answered as snuba_reads_answered

LATE = "Late diagnosis, caught up"


@pytest.fixture(autouse=True)
def snuba_reads():
    """The two Snuba reads of the allowance (see the module docstring)."""
    with snuba_reads_answered():
        yield


class GatewayCatchUpTest(GatewaySentryCase, TransactionTestCase):
    def start_with_catchup(self, **options):
        self.start(proxy_webhooks=True, gateway_options=dict({"catchup_interval": 3600}, **options))

    def sweep(self):
        result = self.gw.run_cli("sweep", "--config", self.gw.config_path)
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    def test_issues_created_while_the_gateway_was_down_get_a_late_note_within_one_sweep(self):
        self.start_with_catchup()
        self.gw.stop("gateway")
        self.gw.stop("worker")
        saved = [send_event(self.project, python_error_event(server_name=node, fingerprint=["down%d" % i]))
                 for i, node in enumerate(NODES)]
        ours = Rule.objects.get(project=self.project, label__startswith="New issue →")
        assert RuleFireHistory.objects.filter(rule=ours).count() == 3  # the rule really fired
        missed = [r for r in self.webhook_proxy.matching("POST", "/webhook/sentry") if r.status != 202]
        assert len(missed) == 3  # Sentry sent each webhook once; none reached a gateway
        self.gw.start_gateway().start_worker()  # the worker sweeps a few seconds after it starts
        for s in saved:
            (note,) = self.wait_note(s.group_id)
            assert LATE in note and "webhook for this issue was not received" in note
            assert "after it." in note and "✅ finished" in note, note[:600]
        last = _wait(lambda: self._last_sweep(), 30, "the sweep's summary")
        assert last["caught_up"] == 3 and last["source"] == "rules" and last["outcome"] == "complete", last
        again = self.sweep()  # a second sweep finds nothing more to do
        assert again["caught_up"] == 0 and again["already"] == 3, again
        time.sleep(3)
        assert all(len(self.notes(s.group_id)) == 1 for s in saved) and len(self.orch.jobs) == 3
        assert "autodiag_caught_up_issues 3.0" in self.gw.metrics()
        check = self.gw.run_cli("check", "--config", self.gw.config_path)
        assert "catch-up: last sweep" in check.stdout and "0 caught up, 3 already handled" in check.stdout, \
            check.stdout

    def test_a_webhook_and_the_sweep_racing_for_one_issue_give_one_note(self):
        self.start_with_catchup()
        self.gw.stop("gateway")
        self.gw.stop("worker")
        saved = send_event(self.project, python_error_event(fingerprint=["race"]))
        (delivery,) = _wait(lambda: self.webhook_proxy.matching("POST", "/webhook/sentry"), 10, "the webhook")
        self.gw.start_gateway()
        headers = {k: v for k, v in delivery.headers.items() if k.lower().startswith(("sentry-", "content-type"))}
        answers = {}

        def resend():  # the moment the sweep has read the event, the webhook (as a late delivery) arrives
            _wait(lambda: self.sentry_proxy.matching("GET", "/events/%s/" % saved.event_id), 60, "the sweep",
                  interval=0.01)
            answers["webhook"] = requests.post(self.gw.webhook_url, data=delivery.body, headers=headers, timeout=10)

        racer = threading.Thread(target=resend)
        racer.start()
        summary = self.sweep()
        racer.join(10)
        status = answers["webhook"].json().get("status")
        assert (status, summary["caught_up"]) in (("queued", 0), ("duplicate", 1)), (status, summary)
        self.gw.start_worker()
        (note,) = self.wait_note(saved.group_id)
        assert (LATE in note) == (status == "duplicate")
        time.sleep(5)
        assert len(self.notes(saved.group_id)) == 1 and len(self.orch.jobs) == 1

    def _last_sweep(self):
        raw = redis_py.Redis.from_url(self.redis.url).get("autodiag-gw:catchup:last")
        summary = json.loads(raw) if raw else None
        return summary if summary and summary.get("caught_up") else None
