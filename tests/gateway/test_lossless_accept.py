"""Nothing lost at the door: the gateway process over HTTP against a Redis of its own that
is really paused (SIGSTOP) during a burst, and a gateway really killed (SIGKILL, through
the TEST HOOK `SENTRY_AUTODIAG_TEST_KILL_AT`) around its accept. Whatever was answered,
every webhook resent after a 503 or a crash ends up queued exactly once, and nothing was
queued that its resend did not truthfully call a "duplicate"."""
import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis as redis_py
import requests

from conftest import SECRET, write_config
from payloads import event_alert, signed
from test_receiver import unused_port

QUEUE = "autodiag-gateway"


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test's own, so pausing it pauses no one else."""
    port = unused_port()
    proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis_py.Redis(port=port, socket_timeout=5)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis_py.RedisError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    yield proc, "redis://127.0.0.1:%d/0" % port, client
    proc.send_signal(signal.SIGCONT)
    proc.terminate()
    proc.wait(10)


def start(config_path, tmp_path, env=None):
    port = unused_port()
    ready = tmp_path / ("ready-%d" % port)
    log = open(tmp_path / ("gateway-%d.log" % port), "w")
    proc = subprocess.Popen([sys.executable, "-m", "sentry_autodiag.cli", "gateway", "--config", config_path,
                             "--port", str(port), "--ready-file", str(ready)], stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, **(env or {})))
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert proc.poll() is None, open(log.name).read()
        assert time.monotonic() < deadline, "gateway did not start"
        time.sleep(0.05)
    return proc, "http://127.0.0.1:%d/webhook/sentry" % port


def queued_issues(client):
    issues = []
    for raw in client.lrange(QUEUE, 0, -1):
        body = json.loads(base64.b64decode(json.loads(raw)["body"]))
        issues.append(body[0][1]["issue"])
    return issues


def send(url, payload):
    body, headers = signed(payload, SECRET)
    try:
        response = requests.post(url, data=body, headers=headers, timeout=5)
    except requests.ConnectionError:
        return None, {}
    return response.status_code, response.json()


def test_redis_paused_during_a_burst_loses_nothing_and_queues_nothing_unasked(own_redis, config_dir, tmp_path):
    proc, redis_url, client = own_redis
    gateway, url = start(write_config(config_dir, redis_url), tmp_path)
    try:
        payloads = [event_alert(issue_id=str(1000 + i)) for i in range(24)]
        answers = {}

        def post(i):
            answers[i] = send(url, payloads[i])

        for i in range(4):
            post(i)
        proc.send_signal(signal.SIGSTOP)
        threads = [threading.Thread(target=post, args=(i,)) for i in range(4, 20)]
        for t in threads:
            t.start()
            time.sleep(0.05)
        time.sleep(max(0.0, 1.6 - 16 * 0.05))
        proc.send_signal(signal.SIGCONT)
        for t in threads:
            t.join(10)
        for i in range(20, 24):
            post(i)
        time.sleep(1.0)  # let anything the gateway still held reach Redis
        before = queued_issues(client)
        refused = [i for i, (status, _) in answers.items() if status != 202]
        assert refused, "the pause gave no 503: the test did not test anything"
        assert all(answers[i][0] == 503 for i in refused), answers
        assert all(answers[i][0] == 202 for i in range(4)) and all(answers[i][0] == 202 for i in range(20, 24))
        resent = {i: send(url, payloads[i]) for i in refused}
        for i, (status, body) in resent.items():
            issue = payloads[i]["data"]["event"]["issue_id"]
            if status == 200:
                assert body["status"] == "duplicate" and issue in before, (i, body)  # queued after all: truthful
            else:
                assert status == 202 and issue not in before, (i, status, body)     # nothing had run
        after = queued_issues(client)
        assert sorted(after) == sorted(p["data"]["event"]["issue_id"] for p in payloads)  # each once, none lost
        assert len(client.keys("autodiag-gw:webhook:*")) == len(payloads)
    finally:
        gateway.terminate()
        gateway.wait(10)


@pytest.mark.parametrize("point, resend", [("before-accept", "queued"), ("after-accept", "duplicate")])
def test_gateway_killed_around_its_accept_then_the_resend_is_queued_once(own_redis, config_dir, tmp_path,
                                                                          point, resend):
    _, redis_url, client = own_redis
    path = write_config(config_dir, redis_url)
    payload = event_alert(issue_id="4242")
    gateway, url = start(path, tmp_path, env={"SENTRY_AUTODIAG_TEST_KILL_AT": point})
    status, _ = send(url, payload)
    assert status is None and gateway.wait(10) == -signal.SIGKILL  # died without answering
    gateway, url = start(path, tmp_path)
    try:
        status, body = send(url, payload)
        assert body["status"] == resend, body
        assert queued_issues(client) == ["4242"]
    finally:
        gateway.terminate()
        gateway.wait(10)
