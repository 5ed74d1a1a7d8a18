"""The catch-up sweep's bounds, against a small HTTP stand-in for Sentry's REST API (the
real sweep, Redis and HTTP client; the Sentry side of the sweep is tested inside a real
Sentry 23.7.1 in tests/test_gateway_catchup.py): Link-header pagination followed and cut at
`catchup_max_pages`, a 429's Retry-After waited out, a spent rate limit ends the sweep, only
rules whose action names the integration are read, one sweep at a time."""
import http.server
import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import redis as redis_py

from sentry_autodiag.gateway import catchup, config as config_mod
from sentry_autodiag.gateway.queue import Gateway
from sentry_autodiag.gateway.receiver import Receiver
from conftest import write_config

SLUG = "puppet-autodiag"


class FakeSentry:
    """Serves the rules and an endless group history (each page links to a next one)."""

    def __init__(self):
        self.requests = []
        self.rate_limit_spent_at_page = None
        self.throttle_first_rules = False
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                fake.requests.append((time.monotonic(), url.path, query))
                headers, status, body = [], 200, None
                if url.path == "/api/0/":
                    body = {"auth": {"scopes": ["project:read"]}, "user": {
                        "username": "%s-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0" % SLUG}}
                elif url.path == "/api/0/organizations/acme/projects/":
                    body = [{"slug": "checkout"}, {"slug": "archived"}]
                elif url.path.endswith("/rules/") and "/archived/" in url.path:
                    status, body = 404, {"detail": "The requested resource does not exist"}
                elif url.path.endswith("/rules/"):
                    if fake.throttle_first_rules:
                        fake.throttle_first_rules = False
                        status, body, headers = 429, {"detail": "slow down"}, [("Retry-After", "1")]
                    else:
                        body = [{"id": "7", "name": "ours", "actions": [{"id": "x.NotifyEventServiceAction",
                                                                         "service": SLUG}]},
                                {"id": "8", "name": "slack", "actions": [{"id": "x.Slack", "channel": "#ops"}]}]
                elif url.path.endswith("/group-history/"):
                    page = int((query.get("cursor") or ["0:0:0"])[0].split(":")[1])
                    body = [{"group": {"id": str(1000 * (page + 1) + i)}, "count": 1,
                             "lastTriggered": "2026-12-05T08:00:00Z", "eventId": "%032x" % (1000 * page + i)}
                            for i in range(3)]
                    headers.append(("Link", '<http://127.0.0.1:%d%s?cursor=0:%d:0>; rel="next"; results="true"; '
                                            'cursor="0:%d:0"' % (fake.port, url.path, page + 1, page + 1)))
                    if fake.rate_limit_spent_at_page == page:
                        headers += [("X-Sentry-Rate-Limit-Remaining", "0"),
                                    ("X-Sentry-Rate-Limit-Reset", str(int(time.time()) + 30))]
                elif url.path.endswith("/comments/"):
                    body = []
                elif "/events/" in url.path:
                    status, body = 500, {"detail": "Internal Error"}
                else:
                    status, body = 404, {"detail": "not here"}
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers + [("Content-Type", "application/json")]:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self, tail):
        return [r for r in self.requests if r[1].endswith(tail)]


@pytest.fixture
def fake():
    server = FakeSentry()
    yield server
    server.server.shutdown()


def sweep_for(fake, config_dir, redis_url, max_pages=4):
    path = write_config(config_dir, redis_url, extra="catchup_max_pages: %d\n" % max_pages)
    text = open(path).read().replace("https://sentry.example.com", "http://127.0.0.1:%d" % fake.port)
    open(path, "w").write(text)
    config = config_mod.load(path)
    gateway = Gateway(config)
    receiver = Receiver(config, gateway.redis, gateway.publish, gateway.metrics, gateway.frontend().remember_issue,
                        accept=gateway.accept)
    client = redis_py.Redis.from_url(redis_url)
    for page in range(10):   # every fired issue is known already: the sweep only reads the history
        for i in range(3):
            client.set("autodiag-gw:issue:%d" % (1000 * (page + 1) + i), "x")
    return catchup.Sweep(config, gateway.redis, gateway.sentry, receiver, gateway.metrics)


def test_pages_are_followed_by_link_header_and_cut_at_the_limit(fake, config_dir, redis_url):
    summary = sweep_for(fake, config_dir, redis_url, max_pages=4).run()
    # 4 pages in all: the project list (for "*"), archived's 404, checkout's rules, then history pages; project
    # "archived" answers 404 and is noted, not fatal
    history = fake.paths("/group-history/")
    assert summary["outcome"] == "partial" and "the sweep read its 4 pages" in summary["errors"], summary
    assert "project archived: not found in Sentry" in summary["errors"]
    assert summary["rules"] == 1 and summary["already"] == summary["fired"] == 3 * len(history), summary
    assert [q.get("cursor") for _, _, q in history][1:] == [["0:%d:0" % n] for n in range(1, len(history))]
    assert all("/rules/8/" not in p for _, p, _ in history)  # the Slack rule's history is never read
    start, end = history[0][2]["start"][0], history[0][2]["end"][0]
    assert time.mktime(time.strptime(end, "%Y-%m-%dT%H:%M:%S")) - time.mktime(
        time.strptime(start, "%Y-%m-%dT%H:%M:%S")) == 30 * 60 + 60  # the window (and a minute of clock skew)
    assert json.loads(redis_py.Redis.from_url(redis_url).get(catchup.LAST_KEY))["outcome"] == "partial"


def test_a_spent_rate_limit_ends_the_sweep_and_retry_after_is_waited_out(fake, config_dir, redis_url):
    fake.rate_limit_spent_at_page = 0
    fake.throttle_first_rules = True
    summary = sweep_for(fake, config_dir, redis_url, max_pages=50).run()
    assert summary["outcome"] == "partial" and "rate limit is spent" in summary["errors"][-1], summary
    assert len(fake.paths("/group-history/")) == 1
    (throttled, retried) = fake.paths("/checkout/rules/")[:2]
    assert retried[0] - throttled[0] >= 0.9  # Retry-After: 1


def test_one_sweep_at_a_time(fake, config_dir, redis_url):
    sweep = sweep_for(fake, config_dir, redis_url)
    lock = redis_py.Redis.from_url(redis_url).lock(catchup.LOCK_KEY, timeout=30)
    assert lock.acquire(blocking=False)
    try:
        assert sweep.run() == {"outcome": "skipped", "reason": "another worker is sweeping"}
        assert fake.requests == []
    finally:
        lock.release()


def test_an_unreadable_event_does_not_end_the_sweep(fake, config_dir, redis_url):
    """Sentry answering 500 for one fired issue's event is noted; the sweep goes on to the
    next rows (it once stopped there, so every later firing waited out the window)."""
    sweep = sweep_for(fake, config_dir, redis_url, max_pages=4)
    client = redis_py.Redis.from_url(redis_url)
    client.delete("autodiag-gw:issue:1000", "autodiag-gw:issue:1002")   # two fired issues not diagnosed yet
    summary = sweep.run()
    events = [p for _, p, _ in fake.requests if "/events/" in p]
    assert any(p.endswith("/%032x/" % 0) for p in events) and any(p.endswith("/%032x/" % 2) for p in events), events
    assert summary["outcome"] == "partial" and summary["caught_up"] == 0, summary
    assert [e for e in summary["errors"] if e.startswith("issue 1000:")] and \
        [e for e in summary["errors"] if e.startswith("issue 1002:")], summary["errors"]
    assert summary["already"] >= summary["fired"] - 2 > 0, summary
