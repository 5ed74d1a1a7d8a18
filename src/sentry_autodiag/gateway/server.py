"""HTTP glue (Tornado): POST /webhook/sentry, GET /healthz, GET /metrics.

Tornado because one process then serves many slow or hostile clients at once without a
thread each: a client trickling its body is cut by `body_timeout` while others are
answered. Bodies are streamed and counted, so an oversized one gets 413 without being
held in memory. The blocking work (Redis, queue) runs in a small thread pool with a
deadline, so the answer comes within Sentry's 1 s webhook timeout either way. The pool is
small on purpose: that work is a few round trips to Redis, and more threads than cores
only add waits for the interpreter lock (measured in bench_gateway).
"""
import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import tornado.httpserver
import tornado.ioloop
import tornado.web

from . import rule_settings
from .receiver import Answer, Receiver

logger = logging.getLogger("sentry_autodiag.gateway")

WEBHOOK_PATH = "/webhook/sentry"
ANSWER_DEADLINE = 0.8   # seconds: Sentry gives up after 1 s (5 s in 23.7.1)


class _JsonHandler(tornado.web.RequestHandler):
    def write_json(self, status: int, body) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    def write_error(self, status_code: int, **kwargs) -> None:  # never an HTML traceback
        self.write_json(status_code, {"error": self._reason})


@tornado.web.stream_request_body
class WebhookHandler(_JsonHandler):
    def initialize(self, app: "GatewayApp"):
        self.app = app

    def prepare(self):
        self.chunks = []
        self.size = 0
        self.too_large = False
        length = self.request.headers.get("Content-Length")
        if length is not None and (not length.isdigit() or int(length) > self.app.max_body):
            self.too_large = True
        self.request.connection.set_body_timeout(self.app.body_timeout)

    def data_received(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.app.max_body:
            self.too_large = True
            self.chunks = []
        elif not self.too_large:
            self.chunks.append(chunk)

    async def post(self):
        headers = self.request.headers
        answer = await self.app.run(
            self.app.receiver.handle, headers.get("Sentry-Hook-Resource"), headers.get("Sentry-Hook-Signature"),
            b"".join(self.chunks), self.too_large, headers.get("Request-ID", ""))
        self.write_json(answer.status, answer.body)


class RuleSettingsHandler(_JsonHandler):
    """POST rule_settings.URI: Sentry validating an alert rule's form (body is small)."""

    def initialize(self, app: "GatewayApp"):
        self.app = app

    async def post(self):
        answer = await self.app.run(self.app.receiver.handle_rule_settings,
                                    self.request.headers.get("Sentry-App-Signature"), self.request.body)
        self.app.metrics.webhooks.labels(resource="alert_rule_action", result=answer.result).inc()
        self.write_json(answer.status, answer.body)


class HealthHandler(_JsonHandler):
    def initialize(self, app: "GatewayApp"):
        self.app = app

    async def get(self):
        answer = await self.app.run(self.app.health)
        self.write_json(answer.status, answer.body)


class MetricsHandler(tornado.web.RequestHandler):
    def initialize(self, app: "GatewayApp"):
        self.app = app

    def get(self):
        self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.finish(self.app.metrics.exposition())


class GatewayApp:
    """The receiver behind Tornado, with its thread pool and deadlines."""

    def __init__(self, receiver: Receiver, redis_client, metrics, max_body: int, body_timeout: float,
                 threads: int = 2):
        self.receiver = receiver
        self.redis = redis_client
        self.metrics = metrics
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="autodiag-receive")

    async def run(self, func, *args) -> Answer:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self.pool, func, *args), ANSWER_DEADLINE)
        except asyncio.TimeoutError:
            logger.warning("autodiag.webhook.deadline: the queue did not answer in %.1f s", ANSWER_DEADLINE)
            return Answer(503, {"error": "queue unavailable: no answer within %.1f s" % ANSWER_DEADLINE}, "deadline")

    def health(self) -> Answer:
        try:
            self.redis.ping()
        except Exception as exc:
            return Answer(503, {"status": "unhealthy", "redis": type(exc).__name__}, "unhealthy")
        return Answer(200, {"status": "ok", "redis": "ok"}, "ok")

    def tornado_app(self) -> tornado.web.Application:
        return tornado.web.Application([
            (WEBHOOK_PATH, WebhookHandler, {"app": self}),
            (rule_settings.URI, RuleSettingsHandler, {"app": self}),
            (r"/healthz", HealthHandler, {"app": self}),
            (r"/metrics", MetricsHandler, {"app": self}),
        ], debug=False, serve_traceback=False)


def serve(app: GatewayApp, host: str, port: int, ready: Optional[callable] = None) -> None:
    """Runs the HTTP server until SIGTERM/SIGINT."""
    server = tornado.httpserver.HTTPServer(app.tornado_app(), xheaders=False, idle_connection_timeout=30,
                                           body_timeout=app.body_timeout, max_body_size=64 * 1024 * 1024)

    async def main():
        server.listen(port, address=host)
        logger.info("autodiag.gateway.listening", extra={"host": host, "port": port})
        if ready:
            ready()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        server.stop()
        await server.close_all_connections()
        app.pool.shutdown(wait=True)
        logger.info("autodiag.gateway.stopped")

    asyncio.run(main())
