"""Every route of a real `sentry-autodiag gateway` process counts its body while it
streams and refuses it past the route's limit: oversized and slow unsigned bodies, sent
to every route at once, leave the receiver's peak memory (VmHWM) nearly where it was."""
import signal
import socket
import threading
import time

import pytest
import requests

from conftest import write_config
from sentry_autodiag.gateway import rule_settings
from test_server import start_gateway

MIB = 1024 * 1024
ROUTES = [("POST", "/webhook/sentry"), ("POST", rule_settings.URI), ("GET", "/healthz"), ("GET", "/metrics"),
          ("POST", "/no/such/route")]
ATTACK = 48 * MIB           # per request; five routes, three kinds, all at once
PEAK_GROWTH_LIMIT = 24 * MIB


def vm_hwm(pid) -> int:
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _status_line(sock) -> bytes:
    sock.settimeout(20)
    data = b""
    try:
        while b"\r\n" not in data:
            more = sock.recv(4096)
            if not more:
                break
            data += more
    except (ConnectionResetError, socket.timeout):
        pass
    return data.split(b"\r\n", 1)[0]


def send(port, method, path, declared: bool, total: int, pace: float = 0.0, results=None) -> None:
    """One unsigned request of `total` body bytes, by Content-Length or chunked, at full
    speed or one 1 KiB piece every `pace` seconds; records the status line (b"" = cut)."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = "%s %s HTTP/1.1\r\nHost: x\r\nSentry-Hook-Resource: event_alert\r\n" % (method, path)
    head += ("Content-Length: %d\r\n" % total) if declared else "Transfer-Encoding: chunked\r\n"
    piece = b"x" * (1024 if pace else 256 * 1024)
    try:
        sock.sendall(head.encode() + b"\r\n")
        sent = 0
        while sent < total:
            data = piece[:total - sent]
            sock.sendall(data if declared else b"%x\r\n%s\r\n" % (len(data), data))
            sent += len(data)
            if pace:
                time.sleep(pace)
        if not declared:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    results.append((method, path, declared, pace, _status_line(sock)))
    sock.close()


@pytest.fixture
def gateway_process(config_dir, redis_url, tmp_path):
    path = write_config(config_dir, redis_url, extra="body_timeout: 2\n")
    proc, url, log = start_gateway(path, tmp_path)
    yield proc, int(url.rsplit(":", 1)[1])
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0, open(log).read()[-2000:]


def test_oversized_and_slow_unsigned_bodies_on_every_route_keep_memory_bounded(gateway_process):
    proc, port = gateway_process
    base = "http://127.0.0.1:%d" % port
    for _ in range(3):  # warm every route up, so the baseline includes the normal working set
        requests.get(base + "/healthz", timeout=5)
        requests.get(base + "/metrics", timeout=5)
        requests.post(base + "/webhook/sentry", data=b"{}", timeout=5)
        requests.post(base + rule_settings.URI, data=b"{}", timeout=5)
    before = vm_hwm(proc.pid)

    results, threads = [], []
    for method, path in ROUTES:
        for declared in (True, False):
            threads.append(threading.Thread(target=send, args=(port, method, path, declared, ATTACK),
                                            kwargs={"results": results}))
        # slow: just under the webhook limit, trickled; cut by body_timeout (2 s)
        threads.append(threading.Thread(target=send, args=(port, method, path, True, 900 * 1024),
                                        kwargs={"pace": 0.05, "results": results}))
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    growth = vm_hwm(proc.pid) - before
    print("receiver peak memory growth: %.1f MiB for %d hostile requests (%.1f s)"
          % (growth / MIB, len(threads), time.monotonic() - started))
    assert growth < PEAK_GROWTH_LIMIT, "peak grew by %.1f MiB" % (growth / MIB)

    assert len(results) == len(threads)
    for method, path, declared, pace, status in results:
        # oversized: 413 (from the Content-Length at once, or when the count passes the limit) or cut;
        # never accepted, never a 5xx
        assert status == b"" or status.split()[1] in (b"413", b"404"), (method, path, declared, pace, status)
        if declared and not pace:
            assert status.split()[1] == b"413", (method, path, status)
    assert proc.poll() is None
    assert requests.get(base + "/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("method,path,limit", [
    ("POST", "/webhook/sentry", 1024 * 1024), ("POST", rule_settings.URI, rule_settings.MAX_BODY_BYTES),
    ("GET", "/healthz", 0), ("GET", "/metrics", 0), ("POST", "/no/such/route", 0)])
def test_each_route_refuses_one_byte_past_its_limit(gateway_process, method, path, limit):
    _, port = gateway_process
    results = []
    send(port, method, path, True, limit + 1, results=results)
    status = results[0][-1]
    assert status.split()[1] == b"413", status
    results = []
    send(port, method, path, False, limit + 1, results=results)
    # chunked: counted while streaming (an unknown route answers 404 before reading any)
    assert results[0][-1] == b"" or results[0][-1].split()[1] in (b"413", b"404" if limit == 0 else b"413"), results


def test_the_rule_form_route_takes_a_real_form_within_its_limit(gateway_process):
    _, port = gateway_process
    fields = [{"name": "log_path", "value": "/var/log/" + "a" * 1000}, {"name": "pql_scope", "value": "x" * 999}]
    body = requests.models.complexjson.dumps({"fields": fields, "installationId": "x" * 36}).encode()
    assert len(body) < rule_settings.MAX_BODY_BYTES
    answer = requests.post("http://127.0.0.1:%d%s" % (port, rule_settings.URI), data=body, timeout=5)
    assert answer.status_code == 401  # unsigned, read in full, then refused by the signature
