"""The receiver's answers, against a real Redis and the real Celery publisher: 2xx only
once the step is in the broker, 401/400/413 for what cannot be trusted or used, 503
(claiming nothing) when the queue is down, and one queued diagnosis per issue event."""
import json
import socket
import time

import pytest
import redis as redis_py

from sentry_autodiag.gateway import config as config_mod
from sentry_autodiag.gateway.queue import QUEUE, Gateway
from sentry_autodiag.gateway.receiver import Receiver
from conftest import SECRET, write_config
from payloads import event_alert, signed


def unused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_receiver(path):
    config = config_mod.load(path)
    gateway = Gateway(config, receiver=True)
    return Receiver(config, gateway.redis, gateway.publish, gateway.metrics,
                    gateway.frontend().remember_issue, accept=gateway.accept), gateway


@pytest.fixture
def receiver(config_file):
    receiver, gateway = make_receiver(config_file)
    receiver.gateway = gateway
    return receiver


def queued(redis_url):
    """The flow steps waiting in the broker (Celery's JSON messages in the Redis list)."""
    client = redis_py.Redis.from_url(redis_url)
    steps = []
    for raw in client.lrange(QUEUE, 0, -1):
        message = json.loads(raw)
        body = json.loads(__import__("base64").b64decode(message["body"]))
        steps.append(body[0])  # (args, kwargs, embed): args = (step, kwargs)
    return steps


def post(receiver, payload, secret=SECRET, resource="event_alert", **kw):
    body, headers = signed(payload, secret, resource)
    return receiver.handle(headers["Sentry-Hook-Resource"], headers["Sentry-Hook-Signature"], body, **kw)


def test_a_signed_alert_is_queued_then_answered_202(receiver, redis_url):
    payload = event_alert(issue_id="77", server_name="WEB01.example.com")
    answer = post(receiver, payload)
    assert answer.status == 202 and answer.body["status"] == "queued"
    ((step, kwargs),) = queued(redis_url)
    assert step == "start"
    assert kwargs["project"] == "checkout" and kwargs["issue"] == "77" and kwargs["node"] == "web01.example.com"
    assert kwargs["event_id"] == payload["data"]["event"]["event_id"] and kwargs["since"].endswith("Z")
    assert kwargs["rejection"] is None and kwargs["queued_at"] > 0
    assert set(kwargs) == {"project", "issue", "event_id", "node", "rejection", "since", "queued_at"}


def test_a_replayed_body_queues_nothing_more(receiver, redis_url):
    payload = event_alert()
    assert post(receiver, payload).status == 202
    again = post(receiver, payload)
    assert again.status == 200 and again.body["status"] == "duplicate"
    assert len(queued(redis_url)) == 1


@pytest.mark.parametrize("secret", ["wrong-secret", ""])
def test_unsigned_or_wrongly_signed_is_401_and_never_parsed(receiver, redis_url, secret):
    answer = post(receiver, b"not even json", secret=secret or "x")
    assert answer.status == 401
    answer = receiver.handle("event_alert", None, b"{}")
    assert answer.status == 401 and queued(redis_url) == []


def test_other_resources_are_answered_2xx_and_ignored(receiver, redis_url):
    for resource in ("installation", "issue", "comment", "error", "metric_alert", None):
        answer = post(receiver, {"action": "created", "data": {}}, resource=resource or "x") if resource else \
            receiver.handle(None, signed(b"{}", SECRET)[1]["Sentry-Hook-Signature"], b"{}")
        assert answer.status == 200 and answer.body["status"] == "ignored"
    assert queued(redis_url) == []


def test_bad_bodies_get_400_with_the_reason(receiver, redis_url):
    assert post(receiver, b"{not json").status == 400
    assert post(receiver, b"\xff\xfe").status == 400
    answer = post(receiver, {"action": "triggered", "data": {"event": {"issue_id": "x"}}})
    assert answer.status == 400 and "issue_id" in answer.body["error"]
    assert queued(redis_url) == []


def test_too_large_is_413_before_anything_else(receiver):
    assert receiver.handle("event_alert", None, b"", too_large=True).status == 413


def test_filtered_unconfigured_other_org_and_stale_events_queue_nothing(config_dir, redis_url):
    path = write_config(config_dir, redis_url, projects=(
        'checkout:\n  url: https://p:8143\n  token_file: pe-token\n  ca_cert_file: ca.pem\n'))
    receiver, _ = make_receiver(path)
    assert post(receiver, event_alert(environment="staging")).body["status"] == "filtered"
    assert post(receiver, event_alert(level="warning")).body["status"] == "filtered"
    assert post(receiver, event_alert(project="billing")).body["reason"] == "project not configured"
    assert post(receiver, event_alert(organization="other")).body["reason"] == "other organization"
    assert "older than" in post(receiver, event_alert(when=time.time() - 2 * 86400)).body["reason"]
    assert queued(redis_url) == []


def test_hostile_node_is_queued_as_a_rejection_for_its_note(receiver, redis_url):
    payload = event_alert(server_name="web01'; rm -rf /")
    assert post(receiver, payload).status == 202
    ((step, kwargs),) = queued(redis_url)
    assert kwargs["node"] is None and kwargs["rejection"]["code"] == "invalid"


def test_queue_down_is_503_and_claims_nothing(config_dir, redis_url):
    dead = "redis://127.0.0.1:%d/0" % unused_port()
    receiver, _ = make_receiver(write_config(config_dir, dead))
    payload = event_alert()
    started = time.monotonic()
    answer = post(receiver, payload)
    assert answer.status == 503 and "queue unavailable" in answer.body["error"]
    assert time.monotonic() - started < 1.0  # within Sentry's webhook timeout
    # the same webhook is accepted once the queue is back: nothing was claimed
    live, _ = make_receiver(write_config(config_dir, redis_url))
    assert post(live, payload).status == 202


def test_a_queue_that_refuses_the_step_leaves_no_claim(receiver, redis_url):
    """The accept script writes the claim and the step together: when Redis refuses the
    step (here the queue's key holds a string), nothing is claimed and a resend is queued."""
    client = redis_py.Redis.from_url(redis_url)
    client.set(QUEUE, "not a list")
    payload = event_alert()
    answer = post(receiver, payload)
    assert answer.status == 503 and "queue unavailable" in answer.body["error"]
    assert client.keys("autodiag-gw:webhook:*") == [] and client.keys("autodiag-gw:issueinfo:*") == []
    client.delete(QUEUE)
    assert post(receiver, payload).status == 202 and len(queued(redis_url)) == 1
    assert post(receiver, payload).body["status"] == "duplicate" and len(queued(redis_url)) == 1


def test_the_accepted_message_is_the_one_celery_would_publish(receiver, redis_url):
    """The message the accept script pushes has the shape of Celery's own publish (the same
    envelope, headers and body), so a worker runs it like any other step."""
    client = redis_py.Redis.from_url(redis_url)
    receiver.gateway.publish("start", {"project": "checkout", "issue": "1"})
    (celerys,) = [json.loads(raw) for raw in client.lrange(QUEUE, 0, -1)]
    client.delete(QUEUE)
    ours = json.loads(receiver.gateway.message("start", {"project": "checkout", "issue": "1"}))
    assert sorted(ours) == sorted(celerys)
    assert sorted(ours["headers"]) == sorted(celerys["headers"])
    assert sorted(ours["properties"]) == sorted(celerys["properties"])
    for key in ("delivery_info", "delivery_mode", "priority", "body_encoding"):
        assert ours["properties"][key] == celerys["properties"][key], key
    for key in ("task", "lang", "eta", "retries"):
        assert ours["headers"][key] == celerys["headers"][key], key
    assert ours["content-type"] == celerys["content-type"] == "application/json"
    decode = __import__("base64").b64decode
    assert json.loads(decode(ours["body"])) == json.loads(decode(celerys["body"]))


def test_metrics_count_webhooks_by_resource_and_result(receiver):
    post(receiver, event_alert())
    post(receiver, b"x", secret="wrong")
    text = receiver.metrics.exposition().decode()
    assert 'autodiag_webhooks_total{resource="event_alert",result="queued"} 1.0' in text
    assert 'autodiag_webhooks_total{resource="event_alert",result="bad-signature"} 1.0' in text


def test_routing_rules_see_the_webhooks_tags_and_exception(config_dir, redis_url):
    rules = ('  routing_rules: |\n    - name: api\n      match: {service: api, exception_type: ZeroDivisionError}\n'
             '      log_path: /var/log/api/app.log\n    - name: quiet\n      match: {service: batch}\n'
             '      diagnose: false\n')
    path = write_config(config_dir, redis_url, projects=(
        '"*":\n  url: https://p:8143\n  token_file: pe-token\n  ca_cert_file: ca.pem\n' + rules))
    receiver, _ = make_receiver(path)
    tags = [["server_name", "web01.example.com"], ["service", "api"]]
    assert post(receiver, event_alert(tags=tags)).status == 202
    ((step, kwargs),) = queued(redis_url)
    assert kwargs["route"]["name"] == "api"
    assert post(receiver, event_alert(tags=[["service", "batch"]])).body["status"] == "filtered"


def test_a_long_countdown_is_made_of_short_hops(receiver, redis_url):
    """No message waits in a worker longer than timing.MAX_COUNTDOWN: a longer wait is a hop
    carrying its due time, so visibility_timeout only covers one hop plus one step."""
    from sentry_autodiag.gateway.timing import MAX_COUNTDOWN
    client = redis_py.Redis.from_url(redis_url)
    before = time.time()
    receiver.gateway.schedule("poll", {"issue": "1"}, 120)
    receiver.gateway.schedule("poll", {"issue": "2"}, 2)
    etas = {}
    for raw in client.lrange(QUEUE, 0, -1):
        message = json.loads(raw)
        args = json.loads(__import__("base64").b64decode(message["body"]))[0]
        etas[args[1]["issue"]] = (message["headers"]["eta"], args[2])
    import datetime
    for issue, (eta, due) in etas.items():
        wait = datetime.datetime.fromisoformat(eta).timestamp() - before
        assert 0 < wait <= MAX_COUNTDOWN + 1, (issue, wait)
    assert etas["2"][1] is None and 119 <= etas["1"][1] - before <= 121


def test_a_hop_not_yet_due_requeues_itself_with_its_due_time(receiver, redis_url):
    due = time.time() + 60
    receiver.gateway.step_task.run("poll", {"issue": "9"}, due, 3)  # the task body, as a worker runs it
    ((step, kwargs, requeued_due, attempt),) = [
        json.loads(__import__("base64").b64decode(json.loads(raw)["body"]))[0]
        for raw in redis_py.Redis.from_url(redis_url).lrange(QUEUE, 0, -1)]
    assert (step, kwargs, attempt) == ("poll", {"issue": "9"}, 3) and abs(requeued_due - due) < 1


def comment_created(comment_id=901, text="/autodiag web02.example.com"):
    return {"action": "created", "installation": {"uuid": "inst-1"},
            "actor": {"type": "user", "id": 1, "name": "Ana On-Call"},
            "data": {"comment_id": comment_id, "issue_id": "77", "project_slug": "checkout",
                     "timestamp": "2026-11-21T03:20:00Z", "comment": text}}


def test_a_comment_request_is_claimed_and_queued_in_one_script(receiver, redis_url):
    """The /autodiag comment takes the alert's atomic accept: one queued `request` step per
    comment, a resend truthfully a duplicate; a comment without the command queues nothing."""
    answer = post(receiver, comment_created(), resource="comment")
    assert answer.status == 202 and answer.body["status"] == "queued", answer.body
    ((step, kwargs),) = queued(redis_url)
    assert step == "request" and kwargs["issue"] == "77" and kwargs["node"] == "web02.example.com"
    again = post(receiver, comment_created(), resource="comment")
    assert again.status == 200 and again.body["status"] == "duplicate"
    assert len(queued(redis_url)) == 1
    plain = post(receiver, comment_created(comment_id=902, text="looks like the cache again"), resource="comment")
    assert plain.status == 200 and plain.body["status"] == "ignored" and len(queued(redis_url)) == 1


def test_a_comment_request_with_redis_down_is_a_503_that_claims_nothing(config_dir):
    dead = "redis://127.0.0.1:%d/0" % unused_port()
    receiver, _ = make_receiver(write_config(config_dir, dead))
    answer = post(receiver, comment_created(), resource="comment")
    assert answer.status == 503 and "queue unavailable" in answer.body["error"]
