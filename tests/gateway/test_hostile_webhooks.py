"""A corpus of hostile and odd webhook deliveries, built from the real event_alert body
(payloads.event_alert, shaped as Sentry's AppPlatformEvent) and mutated at every level.

Every case runs twice, against the real components: the Receiver (real Redis, the real
Celery publisher, as test_receiver) and, over HTTP, one `sentry-autodiag gateway` process
(as test_server) that must survive the whole corpus and still answer a good alert at the
end. For each case: the HTTP status, the reason in the answer, how many flow steps reached
the broker (none, or exactly one for a usable alert), what that step holds (only a vetted
node or a rejection), and that no code path failed unexpectedly (no error logged, no
traceback in the gateway's log).

Event data is attacker-controlled (anyone with the DSN), and the body is Sentry's JSON of
it; a signed body may still be odd (a replay, a proxy that compresses, a future Sentry).
The rule: a 4xx with the reason (or 2xx "ignored"/"filtered"/a note saying why), never a
5xx, never a crash or a hang, never an event value choosing what runs where.
"""
import gzip
import json
import logging
import re
import signal
import textwrap
import time
import uuid

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sentry_autodiag import targeting
from sentry_autodiag.gateway import signature
from sentry_autodiag.gateway.receiver import KNOWN_RESOURCES
from conftest import REDIS_URL, SECRET, write_config
from payloads import event_alert
from test_receiver import make_receiver, queued
from test_server import start_gateway

START_KEYS = {"project", "issue", "event_id", "node", "rejection", "since", "queued_at", "route", "remedy",
              "overrides"}
NOW_ISO = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
HOSTILE_STRINGS = ["../../etc", "web01 or true", "*", "x" * 10000, "w\u0435b01.example.com", "web01\x00",
                   "web01\n.example.com", "\u202eweb01", "\x1b[31mweb01\x1b[0m", "`web01`", "<b>web01</b>",
                   "[x](javascript:alert(1))", 'web01" or certname ~ ".*', "10.0.0.1", "web01\r\nX-Evil: 1"]


class Case:
    """One delivery: how its body is made, how it is signed, and what must come of it."""

    def __init__(self, id, body, status, queued=0, words=None, resource="event_alert", sig="good", check=None,
                 headers=None, http_status=None):
        """`http_status`: when Tornado itself refuses the request (a header HTTP does not
        allow), with its own empty 400, before the gateway's code runs."""
        self.id = id
        self.body = body            # () -> dict (sent as JSON) or bytes (sent as they are)
        self.status = status
        self.queued = queued        # flow steps in the broker afterwards: 0, or 1 for a usable alert
        self.words = words          # expected in the answer's error/reason/status
        self.resource = resource
        self.sig = sig              # "good", None (no header) or (body) -> header value
        self.check = check          # (start kwargs) -> None, for queued cases
        self.headers = headers or {}
        self.http_status = http_status or status

    def make(self):
        body = self.body()
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        if self.sig == "good":
            header = signature.sign(body, SECRET)
        elif self.sig is None:
            header = None
        else:
            header = self.sig(body)
        return body, header


def mutate(change, **alert_kw):
    """The real body, changed by `change(payload, event)`."""
    def build():
        payload = event_alert(**alert_kw)
        change(payload, payload["data"]["event"])
        return payload
    return build


def set_event(**values):
    return mutate(lambda p, e: e.update(values))


def raw(change, **alert_kw):
    """The real body as JSON text, changed by `change(text) -> text` (what json.dumps cannot write)."""
    def build():
        return change(json.dumps(event_alert(**alert_kw))).encode("utf-8")
    return build


def nested(depth, leaf="1"):
    return "[" * depth + leaf + "]" * depth


def node_is(expected):
    def check(kwargs):
        assert kwargs["node"] == expected and kwargs["rejection"] is None, kwargs
    return check


def rejected(code):
    def check(kwargs):
        assert kwargs["node"] is None and kwargs["rejection"]["code"] == code, kwargs
        assert len(kwargs["rejection"]["message"]) < 600
    return check


def since_is_none(kwargs):
    assert kwargs["since"] is None and kwargs["node"] == "web01.example.com", kwargs


def issue_is(issue):
    def check(kwargs):
        assert kwargs["issue"] == issue, kwargs
    return check


def only_vetted_keys(kwargs):
    text = json.dumps(kwargs)
    assert set(kwargs) <= START_KEYS and "evil" not in text and "/etc" not in text, kwargs
    assert kwargs["node"] == "web01.example.com"


def without(*keys):
    return mutate(lambda p, e: [e.pop(k, None) for k in keys])


def bad_sig(value):
    return lambda body: value


CASES = [
    # --- the signature: nothing unsigned is read ---------------------------------------------------
    Case("sig-missing", event_alert, 401, words="Sentry-Hook-Signature", sig=None),
    Case("sig-empty", event_alert, 401, sig=bad_sig("")),
    Case("sig-wrong-secret", event_alert, 401, sig=lambda b: signature.sign(b, "not-the-secret")),
    Case("sig-uppercase-hex", event_alert, 202, queued=1, sig=lambda b: signature.sign(b, SECRET).upper()),
    Case("sig-sha256-prefix", event_alert, 401, sig=lambda b: "sha256=" + signature.sign(b, SECRET)),
    Case("sig-padded-with-spaces", event_alert, 202, queued=1, sig=lambda b: " %s " % signature.sign(b, SECRET)),
    Case("sig-truncated", event_alert, 401, sig=lambda b: signature.sign(b, SECRET)[:-1]),
    Case("sig-64-non-hex", event_alert, 401, sig=bad_sig("z" * 64)),
    Case("sig-of-another-body", event_alert, 401, sig=lambda b: signature.sign(b + b" ", SECRET)),
    Case("sig-latin1-chars", event_alert, 401, sig=bad_sig("\xe9" * 64)),
    Case("sig-two-values", event_alert, 401, sig=lambda b: signature.sign(b, SECRET) + "," + signature.sign(b, SECRET)),
    Case("sig-base64", event_alert, 401, sig=lambda b: __import__("base64").b64encode(
        bytes.fromhex(signature.sign(b, SECRET))).decode()),
    Case("sig-unsigned-garbage-body", lambda: b"\xff\x00not json", 401, sig=bad_sig("0" * 64)),
    # --- other resources: answered 2xx and ignored, as Sentry expects ---------------------------
    Case("resource-installation", lambda: {"action": "created", "data": {"installation": {"uuid": "x"}}}, 200,
         words="ignored", resource="installation"),
    Case("resource-issue", lambda: {"action": "created", "data": {"issue": {"id": "1"}}}, 200, words="ignored",
         resource="issue"),
    Case("resource-error", lambda: {"action": "created", "data": {"error": {}}}, 200, words="ignored",
         resource="error"),
    Case("resource-comment", lambda: {"action": "created", "data": {"comment": "<b>x</b>"}}, 200, words="ignored",
         resource="comment"),
    Case("resource-metric-alert", lambda: {"action": "critical", "data": {}}, 200, words="ignored",
         resource="metric_alert"),
    Case("resource-seer", lambda: {"action": "root_cause_started", "data": {}}, 200, words="ignored",
         resource="seer"),
    Case("resource-uppercase-event-alert", event_alert, 200, words="ignored", resource="EVENT_ALERT"),
    Case("resource-missing", event_alert, 200, words="ignored", resource=None),
    Case("resource-ansi-escape", event_alert, 200, words="ignored", resource="\x1b[31mevent_alert", http_status=400),
    Case("resource-long", event_alert, 200, words="ignored", resource="x" * 4000),
    # --- the action ------------------------------------------------------------------------------
    Case("action-created", mutate(lambda p, e: p.update(action="created")), 400, words="action"),
    Case("action-resolved", mutate(lambda p, e: p.update(action="resolved")), 400, words="action"),
    Case("action-missing", mutate(lambda p, e: p.pop("action")), 400, words="action"),
    Case("action-list", mutate(lambda p, e: p.update(action=["triggered"])), 400, words="action is a list"),
    Case("action-uppercase", mutate(lambda p, e: p.update(action="TRIGGERED")), 400, words="action"),
    # --- bytes that are not a JSON object ------------------------------------------------------
    Case("body-empty", lambda: b"", 400, words="empty"),
    Case("body-whitespace", lambda: b" \r\n\t ", 400, words="empty"),
    Case("body-null", lambda: b"null", 400, words="not a JSON object"),
    Case("body-list", lambda: b"[]", 400, words="not a JSON object"),
    Case("body-string", lambda: b'"triggered"', 400, words="not a JSON object"),
    Case("body-number", lambda: b"42", 400, words="not a JSON object"),
    Case("body-truncated", raw(lambda t: t[:len(t) // 2]), 400, words="not JSON"),
    Case("body-trailing-garbage", raw(lambda t: t + " {}"), 400, words="not JSON"),
    Case("body-latin1", lambda: json.dumps(event_alert(server_name="caf\xe9"), ensure_ascii=False).encode("latin-1", "replace"),
         400, words="not UTF-8"),
    Case("body-utf16", lambda: json.dumps(event_alert()).encode("utf-16"), 400, words="not UTF-8"),
    Case("body-utf8-bom", lambda: b"\xef\xbb\xbf" + json.dumps(event_alert()).encode(), 202, queued=1),
    Case("body-gzip", lambda: gzip.compress(json.dumps(event_alert()).encode()), 400, words="gzip"),
    Case("body-raw-control-char-in-string", raw(lambda t: t.replace('"ZeroDivision', '"Zero\x01Division', 1)), 400,
         words="not JSON"),
    Case("body-nested-100000", lambda: nested(100000).encode(), 400, words="nested too deeply"),
    Case("body-nested-objects-100000", lambda: ('{"a":' * 100000 + "1" + "}" * 100000).encode(), 400,
         words="nested too deeply"),
    Case("event-nested-5000-in-contexts", raw(lambda t: t.replace('"location": null', '"location": ' + nested(5000))),
         400, words="nested too deeply"),
    Case("event-nested-200-in-contexts", raw(lambda t: t.replace('"location": null', '"location": ' + nested(200))),
         202, queued=1),
    Case("number-5000-digits-elsewhere", raw(lambda t: t.replace('"location": null', '"location": ' + "9" * 5000)),
         202, queued=1),
    Case("number-5000-digits-issue-id", raw(lambda t: t.replace('"issue_id": "4242"', '"issue_id": ' + "9" * 5000)),
         400, words="issue_id"),
    Case("number-1e400", raw(lambda t: t.replace('"location": null', '"location": -1e400')), 202, queued=1),
    Case("nan-literal-issue-id", raw(lambda t: t.replace('"issue_id": "4242"', '"issue_id": NaN')), 400,
         words="issue_id"),
    Case("nan-literal-datetime", raw(lambda t: re.sub(r'"datetime": "[^"]*"', '"datetime": NaN', t)), 400,
         words="datetime cannot be read"),
    Case("infinity-literal-elsewhere", raw(lambda t: t.replace('"location": null', '"location": -Infinity')), 202,
         queued=1),
    Case("duplicate-keys-last-wins", raw(lambda t: t.replace('"action": "triggered"',
                                                             '"action": "created", "action": "triggered"')),
         202, queued=1),
    Case("duplicate-issue-id-last-wins", raw(lambda t: t.replace('"issue_id": "4242"',
                                                                 '"issue_id": "1; DROP", "issue_id": "77"')),
         202, queued=1, check=issue_is("77")),
    Case("lone-surrogates-in-title", raw(lambda t: t.replace('"title": "', '"title": "\\ud800\\udfff\\udc00')),
         202, queued=1),
    Case("lone-surrogate-server-name", raw(lambda t: t.replace('"server_name": "web01.example.com"',
                                                               '"server_name": "web01\\ud800"')),
         202, queued=1, check=rejected("invalid")),
    # --- data and data.event of the wrong type --------------------------------------------------
    Case("data-null", mutate(lambda p, e: p.update(data=None)), 400, words="data is missing"),
    Case("data-list", mutate(lambda p, e: p.update(data=[e])), 400, words="data is missing"),
    Case("data-string", mutate(lambda p, e: p.update(data=json.dumps(p["data"]))), 400, words="data is missing"),
    Case("event-missing", mutate(lambda p, e: p["data"].pop("event")), 400, words="data.event"),
    Case("event-list", mutate(lambda p, e: p["data"].update(event=[e])), 400, words="data.event"),
    Case("event-string", mutate(lambda p, e: p["data"].update(event=json.dumps(e))), 400, words="data.event"),
    Case("event-null", mutate(lambda p, e: p["data"].update(event=None)), 400, words="data.event"),
    # --- ids -------------------------------------------------------------------------------------
    Case("issue-id-text", set_event(issue_id="abc"), 400, words="issue_id"),
    Case("issue-id-negative-string", set_event(issue_id="-5"), 400, words="issue_id"),
    Case("issue-id-negative-int", set_event(issue_id=-5), 400, words="issue_id"),
    Case("issue-id-zero", set_event(issue_id="0"), 400, words="issue_id"),
    Case("issue-id-25-digits", set_event(issue_id="9" * 25), 400, words="issue_id"),
    Case("issue-id-huge-int", set_event(issue_id=10 ** 30), 400, words="issue_id"),
    Case("issue-id-float", set_event(issue_id=4242.0), 400, words="issue_id"),
    Case("issue-id-bool", set_event(issue_id=True), 400, words="issue_id"),
    Case("issue-id-null", set_event(issue_id=None), 400, words="issue_id"),
    Case("issue-id-spaces", set_event(issue_id=" 42"), 400, words="issue_id"),
    Case("issue-id-newline", set_event(issue_id="42\n"), 400, words="issue_id"),
    Case("issue-id-arabic-digits", set_event(issue_id="4\u0662"), 400, words="issue_id"),
    Case("issue-id-injection", set_event(issue_id="1/../../admin"), 400, words="issue_id"),
    Case("issue-id-int", set_event(issue_id=4242), 202, queued=1, check=issue_is("4242")),
    Case("event-id-missing", without("event_id"), 400, words="event_id"),
    Case("event-id-traversal", set_event(event_id="../../etc/passwd"), 400, words="event_id"),
    Case("event-id-int", set_event(event_id=123), 400, words="event_id"),
    Case("event-id-dashed-uppercase", mutate(lambda p, e: e.update(event_id=str(uuid.UUID(e["event_id"])).upper())),
         202, queued=1),
    # --- organization and project (from data.event.url) ----------------------------------------
    Case("url-missing", without("url"), 400, words="data.event.url"),
    Case("url-unclosed-ipv6", set_event(url="https://[/api/0/projects/acme/checkout/events/x/"), 400,
         words="data.event.url"),
    Case("url-nfkc-host", set_event(url="https://a\uff03b/api/0/projects/acme/checkout/events/x/"), 400,
         words="data.event.url"),
    Case("url-project-traversal", set_event(url="https://s/api/0/projects/acme/../events/x/"), 400,
         words="data.event.url"),
    Case("url-project-encoded-traversal", set_event(url="https://s/api/0/projects/acme/%2e%2e/events/x/"), 400,
         words="data.event.url"),
    Case("url-3000-chars", set_event(url="https://s/" + "a/" * 1500 + "api/0/projects/acme/checkout/events/x/"), 400,
         words="data.event.url"),
    Case("url-object", set_event(url={"path": "/api/0/projects/acme/checkout/events/x/"}), 400,
         words="data.event.url"),
    Case("url-other-organization", mutate(lambda p, e: None, organization="evil"), 200, words="other organization"),
    Case("url-query-and-fragment", mutate(lambda p, e: e.update(url=e["url"] + "?project=evil#/projects/evil/")),
         202, queued=1, check=lambda kw: kw["project"] == "checkout" or pytest.fail(kw)),
    Case("project-missing", without("project"), 202, queued=1),
    Case("project-other-type", set_event(project={"slug": "evil", "id": -1}), 202, queued=1,
         check=lambda kw: kw["project"] == "checkout" or pytest.fail(kw)),
    # --- tags ------------------------------------------------------------------------------------
    Case("tags-mapping", mutate(lambda p, e: e.update(tags={"server_name": "web02.example.com"}), server_name=None),
         202, queued=1, check=node_is("web02.example.com")),
    Case("tags-key-value-objects", mutate(lambda p, e: e.update(tags=[{"key": "server_name",
                                                                      "value": "web02.example.com"}]),
                                          server_name=None),
         202, queued=1, check=node_is("web02.example.com")),
    Case("tags-string", set_event(tags="server_name=evil"), 202, queued=1, check=node_is("web01.example.com")),
    Case("tags-null", set_event(tags=None), 202, queued=1, check=node_is("web01.example.com")),
    Case("tags-junk-entries", set_event(tags=[[1, 2], ["k"], "junk", None, {}, {"key": None}, [None, "x"]]), 202,
         queued=1),
    Case("tags-5000", set_event(tags=[["t%d" % i, "v"] for i in range(5000)]), 202, queued=1),
    Case("tag-node-not-a-string", mutate(lambda p, e: e.update(tags=[["server_name", 5]]), server_name=None), 202,
         queued=1, check=rejected("invalid")),
    Case("tag-node-nested", mutate(lambda p, e: e.update(tags=[["server_name", [[["web01"]]]]]), server_name=None),
         202, queued=1, check=rejected("invalid")),
    Case("tag-value-huge", set_event(tags=[["service", "x" * 100000]]), 202, queued=1),
    Case("tag-key-huge", set_event(tags=[["k" * 100000, "x"]]), 202, queued=1),
] + [
    Case("server-name-%d" % i, mutate(lambda p, e, v=value: e.update(server_name=v, tags=[["server_name", v]])), 202,
         queued=1, check=rejected("invalid"))
    for i, value in enumerate(HOSTILE_STRINGS)
] + [
    Case("server-name-empty", mutate(lambda p, e: e.update(server_name="", tags=[])), 202, queued=1,
         check=rejected("missing")),
    Case("server-name-list", set_event(server_name=["web01.example.com"]), 202, queued=1, check=rejected("invalid")),
    Case("server-name-object", set_event(server_name={"name": "web01"}), 202, queued=1, check=rejected("invalid")),
    Case("server-name-number", set_event(server_name=42), 202, queued=1, check=rejected("invalid")),
    Case("server-name-true", set_event(server_name=True), 202, queued=1, check=rejected("invalid")),
    Case("server-name-uppercase", set_event(server_name="WEB01.EXAMPLE.COM"), 202, queued=1,
         check=node_is("web01.example.com")),
    # --- event times -----------------------------------------------------------------------------
    Case("datetime-words", set_event(datetime="yesterday"), 400,
         words="data.event.datetime cannot be read as a time (a string"),
    Case("datetime-negative", set_event(datetime=-1), 400, words="datetime cannot be read as a time (a number"),
    Case("datetime-1e308", set_event(datetime=1e308), 400, words="datetime cannot be read"),
    Case("datetime-list", set_event(datetime=["2026-01-01T00:00:00Z"]), 400, words="datetime cannot be read"),
    Case("datetime-year-10000-in-utc", set_event(datetime="9999-12-31T23:59:59-23:59"), 400,
         words="datetime cannot be read"),
    Case("datetime-year-999", set_event(datetime="0999-01-01T00:00:00Z"), 400, words="1970 to 9999"),
    Case("datetime-and-timestamp-missing", mutate(lambda p, e: e.update(datetime=None)), 400,
         words="no datetime (or timestamp): the event's age cannot be checked"),
    Case("datetime-unreadable-timestamp-old", set_event(datetime=None, timestamp="2001-09-09T01:46:40Z"), 200,
         words="older than"),
    Case("datetime-far-future", set_event(datetime="2999-01-01T00:00:00Z"), 202, queued=1, check=since_is_none),
    Case("datetime-old", set_event(datetime="2001-09-09T01:46:40Z"), 200, words="older than"),
    Case("datetime-epoch-now", mutate(lambda p, e: e.update(datetime=None, timestamp=time.time())), 202, queued=1,
         check=lambda kw: NOW_ISO.match(kw["since"]) or pytest.fail(kw)),
    # --- environment, level, and keys that must not steer anything -------------------------------
    Case("environment-list", set_event(environment=["production"]), 202, queued=1),
    Case("environment-newline", set_event(environment="production\n* "), 202, queued=1),
    Case("level-object", set_event(level={"error": True}), 202, queued=1),
    Case("level-huge", set_event(level="x" * 100000), 202, queued=1),
    Case("event-chooses-task-and-params", set_event(task="evil::pwn", params={"cmd": "rm -rf /"}, node="evil",
                                                    log_path="/etc/shadow", node_tag="evil", pql_scope="true",
                                                    since="1970-01-01T00:00:00Z"),
         202, queued=1, check=only_vetted_keys),
    Case("exception-type-hostile", set_event(exception={"values": [{"type": "<script>`x`\u202e" * 100}]}), 202,
         queued=1),
    Case("exception-not-an-object", set_event(exception=[1, 2, 3]), 202, queued=1),
    # --- the alert rule's form (data.issue_alert.settings) -----------------------------------------
    Case("rule-settings-number-for-text", mutate(lambda p, e: p["data"].update(
        issue_alert={"id": 1, "settings": [{"name": "log_path", "value": 5}]})), 202, queued=1,
         check=rejected("rule-settings")),
    Case("rule-settings-number-node-tag", mutate(lambda p, e: p["data"].update(
        issue_alert={"settings": [{"name": "node_tag", "value": 7}, {"name": "task", "value": 3}]})), 202, queued=1,
         check=rejected("rule-settings")),
    Case("rule-settings-unknown-field", mutate(lambda p, e: p["data"].update(
        issue_alert={"settings": [{"name": "token", "value": "x"}]})), 202, queued=1, check=rejected("rule-settings")),
    Case("rule-settings-pql-breakout", mutate(lambda p, e: p["data"].update(
        issue_alert={"settings": [{"name": "log_path", "value": "/var/log/a.log"},
                                  {"name": "pql_scope", "value": "true } or nodes { true"}]})), 202, queued=1,
         check=rejected("rule-settings")),
    Case("rule-settings-string", mutate(lambda p, e: p["data"].update(issue_alert={"settings": "log_path=/x"})),
         202, queued=1, check=rejected("rule-settings")),
    Case("rule-settings-too-many", mutate(lambda p, e: p["data"].update(
        issue_alert={"settings": [{"name": "log_lines", "value": "5"}] * 500})), 202, queued=1,
         check=rejected("rule-settings")),
    Case("rule-settings-nested-value", mutate(lambda p, e: p["data"].update(
        issue_alert={"settings": [{"name": "log_lines", "value": [[["5"]]]}]})), 202, queued=1,
         check=rejected("rule-settings")),
    Case("issue-alert-list", mutate(lambda p, e: p["data"].update(issue_alert=[1, 2])), 202, queued=1,
         check=node_is("web01.example.com")),
    Case("triggered-rule-hostile", mutate(lambda p, e: p["data"].update(triggered_rule={"x": "<script>"})), 202,
         queued=1),
]


def test_the_corpus_is_wide():
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)


def check_outcome(case, status, answer_body, redis_url):
    assert status == case.status, (case.id, status, answer_body)
    if case.words:
        text = " ".join(str(answer_body.get(k, "")) for k in ("error", "reason", "status"))
        assert case.words in text, (case.id, answer_body)
    steps = queued(redis_url)
    assert len(steps) == case.queued, (case.id, steps)
    for step, kwargs in steps:
        assert step == "start" and set(kwargs) <= START_KEYS, kwargs
        node = kwargs["node"]
        assert node is None or (targeting.CERTNAME_CHARS.match(node) and node.isascii() and len(node) <= 253), kwargs
        assert (node is None) == bool(kwargs["rejection"]), kwargs
        assert kwargs["since"] is None or NOW_ISO.match(kwargs["since"]), kwargs
        if case.check:
            case.check(kwargs)
    if status >= 400:
        assert answer_body.get("error"), answer_body  # a reason, always
        assert len(json.dumps(answer_body)) < 2000


@pytest.fixture
def receiver(config_file):
    receiver, gateway = make_receiver(config_file)
    return receiver


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_receiver_answers_each_hostile_delivery(case, receiver, redis_url, caplog):
    body, header = case.make()
    with caplog.at_level(logging.WARNING, logger="sentry_autodiag"):
        answer = receiver.handle(case.resource, header, body, request_id=uuid.uuid4().hex)
    check_outcome(case, answer.status, answer.body, redis_url)
    unexpected = [r for r in caplog.records if r.exc_info]  # the receiver's last-resort handlers log tracebacks
    assert not unexpected, [r.getMessage() for r in unexpected]


# --- the same corpus over HTTP, against one gateway process -------------------------------------


@pytest.fixture(scope="module")
def gateway_process(tmp_path_factory):
    config_dir = tmp_path_factory.mktemp("hostile")
    (config_dir / "client-secret").write_text(SECRET + "\n")
    (config_dir / "sentry-token").write_text("sntrys_token_x\n")
    (config_dir / "pe-token").write_text("pe-token-x")
    (config_dir / "ca.pem").write_text(open(__file__.replace("test_hostile_webhooks.py", "ca.pem")).read())
    proc, url, log = start_gateway(write_config(config_dir, REDIS_URL), config_dir)
    yield proc, url, log
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0, open(log).read()[-3000:]
    text = open(log).read()
    assert "Traceback" not in text and "Uncaught exception" not in text, text[-5000:]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gateway_process_answers_each_hostile_delivery(case, gateway_process, redis_url):
    proc, url, log = gateway_process
    body, header = case.make()
    headers = {"Content-Type": "application/json", "Request-ID": uuid.uuid4().hex}
    if case.resource is not None:
        headers["Sentry-Hook-Resource"] = case.resource
    if header is not None:
        headers["Sentry-Hook-Signature"] = header.strip()  # HTTP clients do not send padded values
    headers.update(case.headers)
    response = requests.post(url + "/webhook/sentry", data=body, headers=headers, timeout=10)
    if case.http_status != case.status:  # refused by Tornado's HTTP parser
        assert response.status_code == case.http_status and queued(redis_url) == []
    else:
        assert response.headers["Content-Type"] == "application/json"
        check_outcome(case, response.status_code, response.json(), redis_url)
    assert proc.poll() is None, open(log).read()[-3000:]


def signed_post(url, body, **extra_headers):
    headers = {"Content-Type": "application/json", "Sentry-Hook-Resource": "event_alert",
               "Sentry-Hook-Signature": signature.sign(body, SECRET)}
    headers.update(extra_headers)
    return requests.post(url + "/webhook/sentry", data=body, headers=headers, timeout=10)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "",
                                          "application/json; charset=latin-1", "multipart/form-data; boundary=x"])
def test_the_content_type_is_not_what_is_trusted(gateway_process, redis_url, content_type):
    """Sentry always sends application/json; the signature, not the header, says the body
    is Sentry's, so a signed alert is read whatever the Content-Type claims."""
    response = signed_post(gateway_process[1], json.dumps(event_alert()).encode(), **{"Content-Type": content_type})
    assert response.status_code == 202 and len(queued(redis_url)) == 1


def test_a_gzip_content_encoding_is_refused_not_inflated(gateway_process, redis_url):
    body = gzip.compress(json.dumps(event_alert()).encode())
    response = signed_post(gateway_process[1], body, **{"Content-Encoding": "gzip"})
    assert response.status_code == 400 and "gzip" in response.json()["error"] and queued(redis_url) == []


def test_malformed_http_is_a_client_error(gateway_process, redis_url):
    url = gateway_process[1]
    host, port = url.rsplit("/", 1)[1].split(":")
    import socket
    for request in (b"POST /webhook/sentry HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
                    b"POST /webhook/sentry HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}",
                    b"POST /webhook/sentry HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
                    b"POST /webhook/sentry HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
                    b"POST /webhook/sentry HTTP/1.1\r\nHost: x\r\nSentry-Hook-Resource: event_alert\r\n"
                    b"Sentry-Hook-Signature: \x00\x01\xff\r\nContent-Length: 2\r\n\r\n{}",
                    b"POST /webhook/sentry HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n",
                    b"POST /webhook/sentry HTTP/1.1\r\nHost: x\r\n" + b"X-Many: 1\r\n" * 20000 + b"\r\n",
                    b"POST /webhook/sentry HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
                    b"POST /webhook/sentry?x=" + b"%00" * 5000 + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
                    b"POST /webhook/sentry HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\n\x1f\x8b\x08\x00",
                    b"BREW /webhook/sentry HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"POST /webhook/sentry HTTP/9.9\r\nHost: x\r\n\r\n",
                    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 100):  # a TLS ClientHello
        # 3 s: a request whose header never ends (the TLS hello) is held until Tornado's
        # header timeout (idle_connection_timeout); meanwhile others are served
        with socket.create_connection((host, int(port)), timeout=3) as conn:
            conn.sendall(request)
            data = b""
            try:
                while not data.endswith(b"}") and b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except (ConnectionResetError, BrokenPipeError, TimeoutError):
                pass
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None
        assert status is None or 400 <= status < 500, (request[:200], data)  # None: closed, as Tornado does
        assert gateway_process[0].poll() is None
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        response = requests.request(method, url + "/webhook/sentry", data=b"{}", timeout=10)
        assert response.status_code == 405 and "Traceback" not in response.text
    assert queued(redis_url) == []


def test_unsigned_requests_cannot_grow_the_metrics(gateway_process):
    url = gateway_process[1]
    for i in range(30):
        requests.post(url + "/webhook/sentry", data=b"{}", timeout=10,
                      headers={"Sentry-Hook-Resource": "made-up-%d-%s" % (i, uuid.uuid4().hex)})
    metrics = requests.get(url + "/metrics", timeout=10).text
    labels = set(re.findall(r'autodiag_webhooks_total\{resource="([^"]*)"', metrics))
    assert labels <= KNOWN_RESOURCES | {"none", "other"} and "other" in labels, labels


def test_a_replay_queues_nothing_more(gateway_process, redis_url):
    body = json.dumps(event_alert()).encode()
    assert signed_post(gateway_process[1], body).status_code == 202
    again = signed_post(gateway_process[1], body)
    assert again.status_code == 200 and again.json()["status"] == "duplicate" and len(queued(redis_url)) == 1


def test_the_title_is_stored_on_one_line_for_the_job_description(receiver, redis_url):
    """The issue title (an exception message: the event's) becomes the PE job's description."""
    import redis as redis_py
    from sentry_autodiag.gateway.frontend import NAMESPACE
    payload = event_alert(issue_id="31")
    payload["data"]["event"]["title"] = "Boom\r\nX-Injected: 1\n\x1b[31m\u202eevil\x00" + "x" * 1000
    body = json.dumps(payload).encode()
    assert receiver.handle("event_alert", signature.sign(body, SECRET), body).status == 202
    stored = json.loads(redis_py.Redis.from_url(redis_url).get("%s:issueinfo:31" % NAMESPACE))
    assert stored["title"].startswith("Boom X-Injected: 1 [31m evil x")  # ESC gone, the rest is text and len(stored["title"]) <= 256
    assert not re.search("[\x00-\x1f\x7f\u202e]", stored["title"])


def test_the_gateway_still_serves_after_the_corpus(gateway_process, redis_url):
    proc, url, log = gateway_process
    assert proc.poll() is None
    assert requests.get(url + "/healthz", timeout=10).json() == {"status": "ok", "redis": "ok"}
    response = signed_post(url, json.dumps(event_alert(issue_id="99")).encode())
    assert response.status_code == 202 and response.json()["node"] == "web01.example.com"


# --- the rule-settings endpoint (Sentry's check of an alert rule's form) ---------------------------


@pytest.mark.parametrize("body, status, words", [
    (nested(100000).encode(), 400, "nested too deeply"),
    (b"\xff\xfe", 400, "not UTF-8"),
    (b"", 400, "empty"),
    (b'{"fields": [{"name": "log_path", "value": 5}]}', 400, "log_path"),
    (b'{"fields": [{"name": "node_tag", "value": 5}, {"name": "pql_scope", "value": 7}]}', 200, "accepted"),
    (b'{"fields": {"log_path": 1234}}', 400, "log_path"),
    (b'{"fields": "log_path"}', 400, "settings"),
    (b'{"fields": [null, 1, "x", {"value": 1}]}', 400, "settings"),
    (b'{"fields": [{"name": "log_lines", "value": [[1]]}]}', 400, "log_lines"),
    (b'[1, 2]', 200, "accepted"),
], ids=["nested-100000", "not-utf8", "empty", "number-for-path", "numbers-for-text", "mapping-number",
        "fields-string", "junk-fields", "nested-value", "body-list"])
def test_rule_settings_endpoint_answers_hostile_forms(receiver, caplog, body, status, words):
    with caplog.at_level(logging.WARNING, logger="sentry_autodiag"):
        answer = receiver.handle_rule_settings(signature.sign(body, SECRET), body)
    assert answer.status == status and words in answer.body["message"], answer
    assert not [r for r in caplog.records if r.exc_info]


# --- property tests: any JSON where Sentry's event goes ------------------------------------------


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
                         st.sampled_from(HOSTILE_STRINGS[:-2] + ["web01.example.com", "4242", "", "triggered"]))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=20)
EVENT_KEYS = ["issue_id", "event_id", "url", "tags", "server_name", "environment", "level", "datetime",
              "timestamp", "exception", "title", "project", "contexts"]
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def test_an_integer_issue_id_of_any_size_is_refused_not_printed():
    from sentry_autodiag.gateway.webhook import WebhookError, parse_alert
    for issue_id in (10 ** 5000, -(10 ** 5000), 0, 10 ** 20):
        payload = event_alert()
        payload["data"]["event"]["issue_id"] = issue_id
        with pytest.raises(WebhookError, match="issue_id"):
            parse_alert(payload)


@PROPERTY
@given(JSON_VALUES)
@example({"event": {"issue_id": 1}})
@example({"event": []})
def test_any_data_is_an_alert_or_a_webhook_error(data):
    from sentry_autodiag.gateway.webhook import Alert, WebhookError, parse_alert
    payload = event_alert()
    payload["data"] = data
    try:
        alert = parse_alert(payload)
    except WebhookError as exc:
        assert str(exc)
        return
    assert isinstance(alert, Alert)


@PROPERTY
@given(st.dictionaries(st.sampled_from(EVENT_KEYS), JSON_VALUES, min_size=1, max_size=4),
       st.one_of(st.none(), JSON_VALUES))
@example({"datetime": "9999-12-31T23:59:59-23:59"}, None)
@example({"url": "https://[/api/0/projects/acme/checkout/events/x/"}, None)
@example({"issue_id": 10 ** 4000}, None)  # hypothesis repr()s examples: 3.11 prints at most 4300 digits
@example({"server_name": [[[["x"]]]], "tags": {"server_name": "web01"}}, [{"name": "log_path", "value": 1}])
def test_any_event_values_are_an_alert_or_a_webhook_error(changes, issue_alert):
    from sentry_autodiag.gateway.webhook import Alert, WebhookError, parse_alert
    payload = event_alert()
    payload["data"]["event"].update(changes)
    if issue_alert is not None:
        payload["data"]["issue_alert"] = {"settings": issue_alert}
    try:
        alert = parse_alert(payload)
    except WebhookError:
        return
    assert isinstance(alert, Alert) and alert.issue_id.isdigit() and len(alert.event_id) == 32
    for text in (alert.title, alert.rule, alert.environment, alert.level, alert.exception_type):
        assert text is None or (isinstance(text, str) and len(text) <= 256 and
                                not re.search("[\ud800-\udfff]", text))
        if text is not None:
            text.encode("utf-8")
    assert not re.search("[\x00-\x1f\x7f\u202e]", alert.title + alert.rule)
    assert alert.timestamp is None or NOW_ISO.match(alert.timestamp)
    alert.facts("server_name")


@PROPERTY
@given(st.dictionaries(st.sampled_from(EVENT_KEYS), JSON_VALUES, min_size=1, max_size=4),
       st.one_of(st.none(), JSON_VALUES))
@example({"tags": [["server_name", "web01"]], "server_name": None}, [{"name": "log_path", "value": 1}])
def test_the_receiver_answers_any_event_without_a_5xx(receiver, redis_url, changes, issue_alert):
    payload = event_alert()
    payload["data"]["event"].update(changes)
    if issue_alert is not None:
        payload["data"]["issue_alert"] = {"settings": issue_alert}
    body = json.dumps(payload).encode()
    before = len(queued(redis_url))
    answer = receiver.handle("event_alert", signature.sign(body, SECRET), body)
    assert answer.status in (200, 202, 400), answer
    assert answer.result != "queue-unavailable"
    after = queued(redis_url)
    assert len(after) == before + (1 if answer.status == 202 else 0)
    if answer.status == 202:
        kwargs = after[-1][1]
        assert kwargs["node"] is None or targeting.CERTNAME_CHARS.match(kwargs["node"])
        assert set(kwargs) <= START_KEYS


@PROPERTY
@given(st.binary(max_size=300))
@example(b"\xef\xbb\xbf")
@example(b"\x1f\x8b\x08")
@example(b"[" * 300)
def test_any_signed_bytes_get_an_answer_not_an_exception(receiver, redis_url, body):
    answer = receiver.handle("event_alert", signature.sign(body, SECRET), body)
    assert answer.status in (200, 202, 400) and (answer.status < 400 or answer.body["error"])
