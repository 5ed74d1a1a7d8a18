"""The gateway's durable queue: one Celery app (Redis broker) and one task that runs a flow step.

The task is a thin wrapper around `Flow.run`, as Celery advises. Messages are JSON only
(no pickle), acknowledged after the step ran (`acks_late`), and put back when a worker
dies mid-step (`reject_on_worker_lost`; the Redis transport redelivers unacknowledged
messages after `visibility_timeout`). Every step is idempotent (claims, the recorded job,
the note marker), so a redelivery never gives a second job or a second note.

Redelivery comes within a minute because no message is held long: a step runs at most
STEP_TIME_LIMIT seconds and waits at most MAX_COUNTDOWN in the broker; a longer wait
(a poll interval, a Retry-After, a note's backoff) is made of hops, each a fresh message
that re-queues itself until its `due` time. `visibility_timeout` only has to cover one
hop plus one step (timing.MIN_VISIBILITY_TIMEOUT), so a dead worker's step runs again after
that, not after the longest wait.

The receiver's accept is one Lua script: the claim, the queued message and the issue's
info are written together or not at all (see `accept`).
"""
import base64
import json
import logging
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple

import redis
from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded
from kombu import serialization

from ..flow import Flow
from . import sentry_api
from .config import GatewayConfig
from .frontend import GatewayFrontEnd, NoteNotWritten
from .observability import Metrics
from .timing import MAX_COUNTDOWN, RESTORE_INTERVAL, STEP_SOFT_TIME_LIMIT, STEP_TIME_LIMIT

logger = logging.getLogger("sentry_autodiag.gateway")

QUEUE = "autodiag-gateway"
STEP_TASK = "sentry_autodiag.gateway.step"
# The anonymous exchange: the message goes straight to the queue's Redis list, without
# the exchange-binding lookup (one Redis round trip fewer on the receiver's hot path).
ROUTE = {"exchange": "", "routing_key": QUEUE}
NOTE_RETRIES = 12          # a Sentry outage of about an hour (backoff capped at 10 minutes)
SOFT_LIMIT_RETRIES = 3

# KEYS: claim, queue list, then keys to SET; ARGV: claim value, claim ttl, message, then value/ttl pairs.
# Redis runs a script whole, with nothing in between; Redis does not undo a script's writes
# when a later command fails, so the one command that can fail (LPUSH on a key of another
# type; a refused write under maxmemory fails on the first write) comes before any other write.
ACCEPT_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('LPUSH', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], ARGV[2 * i - 2], 'EX', ARGV[2 * i - 1])
end
return 1
"""


class Gateway:
    """The pieces a gateway or worker process shares: config, Redis, Celery, Sentry client."""

    def __init__(self, config: GatewayConfig, metrics: Optional[Metrics] = None, receiver: bool = False):
        """`receiver`: short socket timeouts, so a dead Redis gives a quick 503, not a hung answer."""
        self.config = config
        self.metrics = metrics or Metrics()
        options = config.gateway
        timeout = options.publish_timeout if receiver else 5.0
        self.redis = redis.Redis.from_url(options.redis_url, socket_timeout=timeout,
                                          socket_connect_timeout=min(timeout, 2.0), health_check_interval=30)
        self.celery = make_celery(config, timeout)
        self.celery.autodiag_gateway = self
        self.step_task = self.celery.tasks[STEP_TASK]
        # short timeouts and few retries: a note's step stays within timing.STEP_TIME_LIMIT; a longer
        # Sentry outage is retried as a later step (NoteNotWritten), not waited out in this one
        self.sentry = sentry_api.SentryClient(config.sentry.url, config.sentry.organization, config.sentry.token,
                                              ca_file=config.sentry.ca_file, timeout=(3.0, 10.0), retries=2)

    def frontend(self) -> GatewayFrontEnd:
        return GatewayFrontEnd(self.config, self.redis, self.sentry, self.schedule, self.metrics)

    def schedule(self, step: str, kwargs: Dict[str, Any], countdown: float = 0, attempt: int = 0) -> None:
        """Queues a flow step (from a worker: errors propagate, Celery redelivers the caller).
        A countdown longer than MAX_COUNTDOWN becomes hops (see the module docstring)."""
        countdown = max(0.0, float(countdown or 0))
        due = time.time() + countdown if countdown > MAX_COUNTDOWN else None
        self.step_task.apply_async(args=(step, kwargs, due, attempt), countdown=min(countdown, MAX_COUNTDOWN) or None,
                                   **ROUTE)

    def queue_depth(self) -> int:
        """Steps waiting in the broker (the Redis list the workers consume)."""
        return int(self.redis.llen(QUEUE))

    def publish(self, step: str, kwargs: Dict[str, Any]) -> None:
        """Queues a step from the receiver: one attempt, no broker retries (the caller answers 503)."""
        self.step_task.apply_async(args=(step, kwargs), retry=False, **ROUTE)

    def accept(self, claim: str, claim_ttl: int, step: str, kwargs: Dict[str, Any],
               writes: List[Tuple[str, str, int]] = ()) -> bool:
        """Claims `claim` and queues the step in one Redis script: True when both were done,
        False when the claim existed (a duplicate: its step was queued with it). Raises on any
        Redis error; then either both were written (a resend truthfully answers "duplicate")
        or neither (a resend is accepted). `writes`: (key, value, ttl) set along with them."""
        message = self.message(step, kwargs)
        keys = [claim, QUEUE] + [key for key, _, _ in writes]
        args: List[Any] = [json.loads(message)["headers"]["id"], max(1, int(claim_ttl)), message]
        for _, value, ttl in writes:
            args += [value, max(1, int(ttl))]
        return bool(self._accept_script(keys=keys, args=args))

    def message(self, step: str, kwargs: Dict[str, Any]) -> str:
        """The step's broker message, as kombu's Redis transport stores it in the queue's list:
        Celery's task message (protocol 2, JSON), in the virtual transport's envelope."""
        task_id = str(uuid.uuid4())
        headers, properties, body, _ = self.celery.amqp.create_task_message(
            task_id, STEP_TASK, (step, kwargs), {}, time_limit=None, soft_time_limit=None)
        content_type, content_encoding, data = serialization.dumps(body, serializer="json")
        if isinstance(data, str):
            data = data.encode(content_encoding or "utf-8")
        properties = dict(properties, delivery_mode=2, priority=0, body_encoding="base64",
                          delivery_tag=str(uuid.uuid4()),
                          delivery_info={"exchange": ROUTE["exchange"], "routing_key": ROUTE["routing_key"]})
        return json.dumps({"body": base64.b64encode(data).decode("ascii"), "content-encoding": content_encoding,
                           "content-type": content_type, "headers": headers, "properties": properties})

    @property
    def _accept_script(self):
        script = getattr(self, "_script", None)
        if script is None:
            script = self._script = self.redis.register_script(ACCEPT_SCRIPT)
        return script


def make_celery(config: GatewayConfig, socket_timeout: float = 5.0) -> Celery:
    options = config.gateway
    app = Celery("sentry_autodiag.gateway", broker=options.redis_url, set_as_current=False)
    app.conf.update(
        task_serializer="json", accept_content=["json"], result_serializer="json",
        task_ignore_result=True, result_backend=None,
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_default_queue=QUEUE, worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=min(socket_timeout, 2.0),
        broker_transport_options={
            "visibility_timeout": options.visibility_timeout,
            # look for a dead worker's messages every few seconds (kombu's default is ~100 s)
            "unacked_restore_interval": RESTORE_INTERVAL,
            "unacked_restore_throttle": 1,
            "socket_timeout": socket_timeout, "socket_connect_timeout": min(socket_timeout, 2.0),
        },
        worker_send_task_events=False, task_send_sent_event=False,
    )

    @app.task(name=STEP_TASK, bind=True, shared=False, acks_late=True,
              soft_time_limit=STEP_SOFT_TIME_LIMIT, time_limit=STEP_TIME_LIMIT)
    def step(task, step_name: str, kwargs: Dict[str, Any], due: Optional[float] = None, attempt: int = 0) -> None:
        """One flow step (or one hop of its wait); a note Sentry could not take now is retried
        with backoff, a step stopped by its soft time limit is rescheduled a few times."""
        gateway = app.autodiag_gateway
        if due is not None and due - time.time() > 0.05:   # still waiting: one more hop
            return gateway.schedule(step_name, kwargs, due - time.time(), attempt)
        try:
            Flow(gateway.frontend()).run(step_name, kwargs)
        except NoteNotWritten as exc:
            if attempt >= NOTE_RETRIES:
                logger.error("autodiag.note.given-up: %s", exc, extra={"step": step_name, "attempts": attempt})
                return
            countdown = min(600, 5 * 2 ** attempt)
            logger.warning("autodiag.note.retry: %s", exc, extra={"step": step_name, "retry_in": countdown})
            gateway.schedule(step_name, kwargs, countdown, attempt + 1)
        except SoftTimeLimitExceeded:
            if attempt >= SOFT_LIMIT_RETRIES:
                logger.error("autodiag.step.given-up: over %d s each of %d times", STEP_SOFT_TIME_LIMIT, attempt + 1,
                             extra={"step": step_name})
                return
            logger.warning("autodiag.step.time-limit: rescheduled", extra={"step": step_name})
            gateway.schedule(step_name, kwargs, MAX_COUNTDOWN, attempt + 1)

    return app
