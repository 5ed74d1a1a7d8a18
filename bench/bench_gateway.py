"""The webhook gateway inside Sentry 23.7.1: how fast it answers Sentry, and how long until
the note is visible. Prints figures; ratios are taken within this run.

Targets (issue 10): webhook → 2xx p99 <= 50 ms over a burst of 500 signed webhooks on
loopback with the worker running (printed, with p99/target); webhook → comment visible
reported. Asserted, as ratios within the run: a webhook's answer p50 <= 10 × one Redis
ping through the same server (/healthz), and the burst's p99 with the worker running
<= 4 × its p99 with the worker stopped.
"""
import json
import os
import statistics
import subprocess
import time
import uuid

import requests
from sentry.models import Activity
from sentry.testutils.cases import TransactionTestCase
from sentry.types.activity import ActivityType

from autodiag_case import NODES, app_log, modules_dir  # noqa: F401 (fixtures)
from gateway_case import GatewaySentryCase
from gateway_harness import ROOT
from sentry_harness import python_error_event, send_event

BURST = 500
# Sentry sends webhooks from its Celery (or taskworker) pool: self-hosted runs one worker
# process per CPU, so 4 concurrent senders model a 4-CPU Sentry host.
SENDERS = 4


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100.0 * (len(values) - 1))))]


class GatewayBench(GatewaySentryCase, TransactionTestCase):
    def test_webhook_answer_latency_and_note_visible(self):
        self.start(proxy_webhooks=True)
        # webhook → comment visible, through Sentry's own sender, one new issue per node
        visible = []
        for i, node in enumerate(NODES):
            saved = send_event(self.project, python_error_event(server_name=node, fingerprint=["v%d" % i]))
            (delivery,) = [r for r in self.webhook_proxy.matching("POST", "/webhook/sentry")
                           if json.loads(r.body)["data"]["event"]["issue_id"] == str(saved.group_id)]
            self.wait_note(saved.group_id)
            note = Activity.objects.get(group_id=saved.group_id, type=ActivityType.NOTE.value)
            visible.append(note.datetime.timestamp() - delivery.at)
        print("\nwebhook → comment visible (real collect.sh, %d issues): p50 %.2f s, max %.2f s"
              % (len(visible), statistics.median(visible), max(visible)))

        # A burst of 500 signed webhooks shaped as the one Sentry really sent, from another
        # process, with the worker running: a storm on one node (they share its diagnosis).
        template = json.loads(self.webhook_proxy.matching("POST", "/webhook/sentry")[0].body)
        bodies = []
        for i in range(BURST + BURST // 2):
            event = template["data"]["event"]
            event["event_id"] = uuid.uuid4().hex
            event["issue_id"] = str(900000 + i)
            bodies.append(json.dumps(template))
        baseline = []
        for _ in range(100):  # one Redis round trip through the same server, same client library
            start = time.perf_counter()
            requests.get(self.gw.url + "/healthz", timeout=5)
            baseline.append(time.perf_counter() - start)
        def send(bodies):
            sender = subprocess.run([os.path.join(ROOT, ".venv-gateway", "bin", "python"),
                                     os.path.join(ROOT, "bench", "gateway_burst.py")],
                                    input=json.dumps({"url": self.gw.webhook_url, "senders": SENDERS, "bodies": bodies,
                                                      "secret": self.app.application.client_secret}),
                                    capture_output=True, text=True, check=True, timeout=300)
            return json.loads(sender.stdout)

        self.gw.stop("worker")
        alone = send(bodies[BURST:])
        alone_ms = [1000 * seconds for seconds in alone["latencies"]]
        print("webhook → 2xx, %d with the worker stopped: p50 %.1f ms, p99 %.1f ms"
              % (len(alone_ms), pct(alone_ms, 50), pct(alone_ms, 99)))
        self.gw.start_worker()
        burst = send(bodies[:BURST])
        latencies = [1000 * seconds for seconds in burst["latencies"]]
        print("webhook → 2xx, burst of %d from %d senders, worker running: p50 %.1f ms, p99 %.1f ms, max %.1f ms "
              "(target p99 <= 50 ms; p99/target %.2f); %.0f webhooks/s"
              % (BURST, SENDERS, pct(latencies, 50), pct(latencies, 99), max(latencies), pct(latencies, 99) / 50,
                 BURST / burst["wall"]))
        print("GET /healthz (one Redis ping) p50 %.1f ms: webhook p50 / healthz p50 = %.2f"
              % (1000 * statistics.median(baseline), pct(latencies, 50) / (1000 * statistics.median(baseline))))
        assert set(burst["statuses"]) == {202}, set(burst["statuses"])
        # The 50 ms target is printed above as a ratio; what must hold on any machine is taken
        # within this run: the receiver's own work stays a small multiple of one Redis round
        # trip through the same server, and a running worker does not starve the receiver.
        per_ping = pct(latencies, 50) / (1000 * statistics.median(baseline))
        starved = pct(latencies, 99) / max(pct(alone_ms, 99), 1.0)
        print("burst p99 with the worker running / with it stopped = %.2f" % starved)
        assert per_ping <= 10, "a webhook costs %.1f Redis pings (bound 10)" % per_ping
        assert starved <= 4, "the running worker slows the receiver's p99 %.1f times (bound 4)" % starved
