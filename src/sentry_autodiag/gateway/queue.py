"""The gateway's durable queue: one Celery app (Redis broker) and one task that runs a flow step.

The task is a thin wrapper around `Flow.run`, as Celery advises. Messages are JSON only
(no pickle), acknowledged after the step ran (`acks_late`), and put back when a worker
dies mid-step (`reject_on_worker_lost`; the Redis transport redelivers unacknowledged
messages after `visibility_timeout`). Every step is idempotent (claims, the recorded job,
the note marker), so a redelivery never gives a second job or a second note.
"""
import logging
from typing import Any, Dict, Optional

import redis
from celery import Celery

from ..flow import Flow
from . import sentry_api
from .config import GatewayConfig
from .frontend import GatewayFrontEnd, NoteNotWritten
from .observability import Metrics

logger = logging.getLogger("sentry_autodiag.gateway")

QUEUE = "autodiag-gateway"
STEP_TASK = "sentry_autodiag.gateway.step"
# The anonymous exchange: the message goes straight to the queue's Redis list, without
# the exchange-binding lookup (one Redis round trip fewer on the receiver's hot path).
ROUTE = {"exchange": "", "routing_key": QUEUE}
NOTE_RETRIES = 12          # a Sentry outage of about an hour (backoff capped at 10 minutes)


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
        self.sentry = sentry_api.SentryClient(config.sentry.url, config.sentry.organization, config.sentry.token,
                                              ca_file=config.sentry.ca_file)

    def frontend(self) -> GatewayFrontEnd:
        return GatewayFrontEnd(self.config, self.redis, self.sentry, self.schedule, self.metrics)

    def schedule(self, step: str, kwargs: Dict[str, Any], countdown: float = 0) -> None:
        """Queues a flow step (from a worker: errors propagate, Celery redelivers the caller)."""
        self.step_task.apply_async(args=(step, kwargs), countdown=countdown or None, **ROUTE)

    def queue_depth(self) -> int:
        """Steps waiting in the broker (the Redis list the workers consume)."""
        return int(self.redis.llen(QUEUE))

    def publish(self, step: str, kwargs: Dict[str, Any]) -> None:
        """Queues a step from the receiver: one attempt, no broker retries (the caller answers 503)."""
        self.step_task.apply_async(args=(step, kwargs), retry=False, **ROUTE)


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
            "unacked_restore_interval": max(1, min(10, options.visibility_timeout // 2)),
            "unacked_restore_throttle": 1,
            "socket_timeout": socket_timeout, "socket_connect_timeout": min(socket_timeout, 2.0),
        },
        worker_send_task_events=False, task_send_sent_event=False,
    )

    @app.task(name=STEP_TASK, bind=True, shared=False, acks_late=True, max_retries=NOTE_RETRIES,
              soft_time_limit=90, time_limit=120)
    def step(task, step_name: str, kwargs: Dict[str, Any]) -> None:
        """One flow step; a note Sentry could not take now is retried with backoff."""
        gateway = app.autodiag_gateway
        try:
            Flow(gateway.frontend()).run(step_name, kwargs)
        except NoteNotWritten as exc:
            countdown = min(600, 5 * 2 ** task.request.retries)
            logger.warning("autodiag.note.retry: %s", exc, extra={"step": step_name, "retry_in": countdown})
            raise task.retry(countdown=countdown, exc=exc)

    return app
