"""HTTP glue (Tornado): POST /webhook/sentry, GET /healthz, GET /metrics.

Tornado because one process then serves many slow or hostile clients at once without a
thread each: a client trickling its body is cut by `body_timeout` while others are
answered. Every route streams its body and counts it (a few KiB for the rule form,
`max_body_bytes` for webhooks, nothing for GETs), so an oversized one gets 413 without
being held in memory, signed or not. The blocking work (Redis, queue) runs in a small
thread pool with a deadline, so the answer comes within Sentry's 1 s webhook timeout
either way. The pool is small on purpose: that work is a few round trips to Redis, and
more threads than cores only add waits for the interpreter lock (measured in bench_gateway).
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
class _CountedBody(_JsonHandler):
    """Every route streams its body: it is counted as it arrives and dropped past the
    route's limit, so no request (signed or not) holds more than `limit` bytes. A declared
    Content-Length over the limit is answered 413 at once and the connection closed."""

    def initialize(self, app: "GatewayApp"):
        self.app = app
        self.chunks, self.size, self.too_large = [], 0, False

    def limit(self) -> int:
        return 0

    def prepare(self):
        self.request.connection.set_body_timeout(self.app.body_timeout)
        length = self.request.headers.get("Content-Length")
        if length is not None and (not length.isdigit() or len(length) > 18 or int(length) > self.limit()):
            self.too_large = True
            if length.isdigit() and len(length) <= 18:  # read and drop it until the answer closes the connection
                self.request.connection.set_max_body_size(int(length))
            self.refuse_too_large()

    def data_received(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.too_large or self._finished:
            return
        if self.size > self.limit():  # a chunked body passed the limit: answer now, drop what came
            self.too_large = True
            self.chunks = []
            self.refuse_too_large()
        else:
            self.chunks.append(chunk)

    def body(self) -> bytes:
        return b"".join(self.chunks)

    def refuse_too_large(self) -> None:
        """413 in the route's own words; the connection closes after it (Tornado)."""
        self.write_json(413, {"error": "body larger than %d bytes" % self.limit()})


class WebhookHandler(_CountedBody):
    def limit(self) -> int:
        return self.app.max_body

    def refuse_too_large(self) -> None:  # counted and logged like every webhook answer
        answer = self.app.receiver.handle(self.request.headers.get("Sentry-Hook-Resource"), None, b"", True,
                                          self.request.headers.get("Request-ID", ""))
        self.write_json(answer.status, answer.body)

    async def post(self):
        if self.too_large:  # already answered 413
            return
        headers = self.request.headers
        answer = await self.app.run(
            self.app.receiver.handle, headers.get("Sentry-Hook-Resource"), headers.get("Sentry-Hook-Signature"),
            self.body(), self.too_large, headers.get("Request-ID", ""))
        self.write_json(answer.status, answer.body)


class RuleSettingsHandler(_CountedBody):
    """POST rule_settings.URI: Sentry validating an alert rule's form (a few fields)."""

    def limit(self) -> int:
        return rule_settings.MAX_BODY_BYTES

    def refuse_too_large(self) -> None:
        self.app.metrics.webhooks.labels(resource="alert_rule_action", result="too-large").inc()
        self.write_json(413, {"message": "body larger than %d bytes" % self.limit()})

    async def post(self):
        if self.too_large:  # already answered 413
            return
        answer = await self.app.run(self.app.receiver.handle_rule_settings,
                                    self.request.headers.get("Sentry-App-Signature"), self.body())
        self.app.metrics.webhooks.labels(resource="alert_rule_action", result=answer.result).inc()
        self.write_json(answer.status, answer.body)


class HealthHandler(_CountedBody):
    async def get(self):
        if self.too_large:  # already answered 413
            return
        answer = await self.app.run(self.app.health)
        self.write_json(answer.status, answer.body)


class MetricsHandler(_CountedBody):
    def get(self):
        if self.too_large:  # already answered 413
            return
        self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.finish(self.app.metrics.exposition())


class NotFoundHandler(_CountedBody):
    """Any other path or method: 404/405 without reading more than the limit (none)."""

    def prepare(self):
        super().prepare()
        if not self._finished:
            self.write_json(404, {"error": "not found"})


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
        ], debug=False, serve_traceback=False, default_handler_class=NotFoundHandler,
            default_handler_args={"app": self})


def serve(app: GatewayApp, host: str, port: int, ready: Optional[callable] = None) -> None:
    """Runs the HTTP server until SIGTERM/SIGINT."""
    server = tornado.httpserver.HTTPServer(app.tornado_app(), xheaders=False, idle_connection_timeout=30,
                                           body_timeout=app.body_timeout,
                                           max_body_size=64 * 1024 * 1024)  # Tornado's own guard; each route counts

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
