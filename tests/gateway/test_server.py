"""The receiver as its own process (`sentry-autodiag gateway`), over real HTTP: size caps,
slow and malformed clients, health and metrics, the answer deadline."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from conftest import SECRET, write_config
from payloads import event_alert, signed
from test_receiver import queued, unused_port


def start_gateway(config_path, tmp_path):
    port = unused_port()
    ready = tmp_path / ("ready-%d" % port)
    log = open(tmp_path / ("gateway-%d.log" % port), "w")
    proc = subprocess.Popen([sys.executable, "-m", "sentry_autodiag.cli", "gateway", "--config", config_path,
                             "--port", str(port), "--ready-file", str(ready)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert proc.poll() is None, open(log.name).read()
        assert time.monotonic() < deadline, "gateway did not start"
        time.sleep(0.05)
    return proc, "http://127.0.0.1:%d" % port, log.name


@pytest.fixture
def gateway(config_file, tmp_path):
    proc, url, log = start_gateway(config_file, tmp_path)
    yield url
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0, open(log).read()[-2000:]


def test_signed_alert_over_http(gateway, redis_url):
    body, headers = signed(event_alert(), SECRET)
    response = requests.post(gateway + "/webhook/sentry", data=body, headers=headers, timeout=5)
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert len(queued(redis_url)) == 1


def test_oversized_bodies_get_413_by_header_or_by_count(gateway):
    body = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    response = requests.post(gateway + "/webhook/sentry", data=body, headers={"Sentry-Hook-Resource": "event_alert"},
                             timeout=10)
    assert response.status_code == 413

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(40):
            yield b" " * 65536
    response = requests.post(gateway + "/webhook/sentry", data=chunks(), timeout=10)
    assert response.status_code == 413


def test_a_slow_client_is_cut_and_does_not_block_others(gateway):
    host, port = gateway.rsplit("/", 1)[1].split(":")
    slow = socket.create_connection((host, int(port)))
    slow.sendall(b"POST /webhook/sentry HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
    started = time.monotonic()
    body, headers = signed(event_alert(), SECRET)
    assert requests.post(gateway + "/webhook/sentry", data=body, headers=headers, timeout=5).status_code == 202
    assert time.monotonic() - started < 1.0
    slow.settimeout(15)
    try:
        data = slow.recv(1024)  # the server closes the connection after body_timeout (5 s)
    except ConnectionResetError:
        data = b""
    assert time.monotonic() - started < 12 and b"202" not in data
    slow.close()


def test_health_and_metrics(gateway):
    health = requests.get(gateway + "/healthz", timeout=5)
    assert health.status_code == 200 and health.json() == {"status": "ok", "redis": "ok"}
    requests.post(gateway + "/webhook/sentry", data=b"{}", headers={"Sentry-Hook-Resource": "event_alert"}, timeout=5)
    body, headers = signed(event_alert(), SECRET)
    requests.post(gateway + "/webhook/sentry", data=body, headers=headers, timeout=5)  # no worker: it waits
    metrics = requests.get(gateway + "/metrics", timeout=5).text
    assert 'autodiag_webhooks_total{resource="event_alert",result="bad-signature"} 1.0' in metrics
    assert "autodiag_queue_depth 1.0" in metrics


def test_redis_down_gives_503_fast_and_unhealthy(config_dir, tmp_path):
    path = write_config(config_dir, "redis://127.0.0.1:%d/0" % unused_port())
    proc, url, log = start_gateway(path, tmp_path)
    try:
        body, headers = signed(event_alert(), SECRET)
        started = time.monotonic()
        response = requests.post(url + "/webhook/sentry", data=body, headers=headers, timeout=5)
        assert response.status_code == 503 and time.monotonic() - started < 1.0
        assert requests.get(url + "/healthz", timeout=5).status_code == 503
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def test_unknown_paths_and_methods_are_json_errors(gateway):
    assert requests.get(gateway + "/webhook/sentry", timeout=5).status_code == 405
    response = requests.get(gateway + "/nope", timeout=5)
    assert response.status_code == 404 and "Traceback" not in response.text
