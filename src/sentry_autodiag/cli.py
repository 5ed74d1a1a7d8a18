"""`sentry-autodiag`: the webhook gateway's commands (gateway, worker, check, sweep).

The plugin needs no command: Sentry loads it. These run the gateway's own processes
(Python 3.11+, the wheel installed with its extra: `pip install "<wheel>[gateway]"`), with one
YAML config file.
"""
import argparse
import logging
import sys
from typing import List, Optional

from . import __version__

logger = logging.getLogger("sentry_autodiag.gateway")


def _load(path: str):
    from .gateway import config as config_mod

    try:
        return config_mod.load(path)
    except config_mod.ConfigError as exc:
        print("configuration error: %s" % exc, file=sys.stderr)
        raise SystemExit(2)


def cmd_gateway(args) -> int:
    """The HTTP receiver: verifies and queues Sentry's alert webhooks."""
    from .gateway.observability import setup_logging
    from .gateway.queue import Gateway
    from .gateway.receiver import Receiver
    from .gateway.server import GatewayApp, serve

    config = _load(args.config)
    setup_logging(config.gateway.log_format)
    gateway = Gateway(config, receiver=True)
    gateway.metrics.watch_queue(gateway.queue_depth)
    from .gateway.catchup import caught_up_total
    gateway.metrics.watch_catchup(lambda: caught_up_total(gateway.redis))
    frontend = gateway.frontend()
    receiver = Receiver(config, gateway.redis, gateway.publish, gateway.metrics, frontend.remember_issue,
                        accept=gateway.accept)
    app = GatewayApp(receiver, gateway.redis, gateway.metrics, config.gateway.max_body_bytes,
                     config.gateway.body_timeout)
    host = config.gateway.listen_host
    port = args.port or config.gateway.listen_port

    def ready():
        if args.ready_file:
            with open(args.ready_file, "w") as fh:
                fh.write("%s:%d\n" % (host, port))

    serve(app, host, port, ready)
    return 0


def cmd_worker(args) -> int:
    """A Celery worker that runs the diagnosis flow and writes the notes."""
    from .gateway.observability import setup_logging
    from .gateway.queue import QUEUE, Gateway

    config = _load(args.config)
    setup_logging(config.gateway.log_format)
    gateway = Gateway(config)
    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr=args.metrics_host, registry=gateway.metrics.registry)
    if config.gateway.catchup_interval:
        _start_catchup(config, gateway)
    argv = ["worker", "-Q", QUEUE, "--pool", args.pool, "--concurrency", str(args.concurrency),
            "--loglevel", args.loglevel, "--without-gossip", "--without-mingle", "--hostname", args.hostname]
    gateway.celery.worker_main(argv)
    return 0


def _start_catchup(config, gateway) -> None:
    """The catch-up sweep on this worker's schedule (one sweep at a time across workers)."""
    import threading

    from .gateway.catchup import Sweep, run_periodically
    from .gateway.receiver import Receiver

    receiver = Receiver(config, gateway.redis, gateway.publish, gateway.metrics, gateway.frontend().remember_issue,
                        accept=gateway.accept)
    run_periodically(lambda: Sweep(config, gateway.redis, gateway.sentry, receiver, gateway.metrics),
                     config.gateway.catchup_interval, threading.Event())


def cmd_sweep(args) -> int:
    """One catch-up sweep now (what workers do every gateway.catchup_interval), its summary as JSON."""
    import json

    from .gateway.catchup import Sweep
    from .gateway.observability import setup_logging
    from .gateway.queue import Gateway
    from .gateway.receiver import Receiver

    config = _load(args.config)
    setup_logging(config.gateway.log_format)
    gateway = Gateway(config)
    receiver = Receiver(config, gateway.redis, gateway.publish, gateway.metrics, gateway.frontend().remember_issue,
                        accept=gateway.accept)
    summary = Sweep(config, gateway.redis, gateway.sentry, receiver, gateway.metrics).run()
    print(json.dumps(summary, indent=2))
    return 0 if summary.get("outcome") in ("complete", "skipped") else 1


def _report_catchup(config, gateway) -> int:
    """`check`'s lines about the catch-up sweep: can the token read the alert rules, and the last sweep."""
    from .gateway import catchup

    if not config.gateway.catchup_interval:
        print("catch-up: off (gateway.catchup_interval: 0)")
        return 0
    try:
        last = catchup.last_sweep(gateway.redis)
    except Exception as exc:
        print("catch-up: last sweep unknown (%s)" % type(exc).__name__)
        return 0
    if not last:
        print("catch-up: no sweep has run yet (workers sweep every %d s)" % config.gateway.catchup_interval)
        return 0
    print("catch-up: last sweep %s (%s, %.1f s, source %s): %d rule(s), %d fired issue(s) in the last %d min, "
          "%d caught up, %d already handled%s" % (
              last.get("finished_at"), last.get("outcome"), last.get("duration") or 0, last.get("source"),
              last.get("rules", 0), last.get("fired", 0), last.get("window_minutes", 0), last.get("caught_up", 0),
              last.get("already", 0), ("; " + "; ".join(last["errors"])) if last.get("errors") else ""))
    return 1 if last.get("outcome") == "failed" else 0


def cmd_check(args) -> int:
    """Validates the file, then what "Test Plugin" does for every project, Redis and Sentry's token."""
    from .checks import check_orchestrator
    from .settings import check_together
    from .gateway import sentry_api
    from .gateway.queue import Gateway

    config = _load(args.config)
    print("configuration %s: valid (%d project entries)" % (config.path, len(config.projects)))
    failed = 0
    gateway = Gateway(config, receiver=True)
    try:
        gateway.redis.ping()
        print("redis %s: reachable" % _redacted_url(config.gateway.redis_url))
    except Exception as exc:
        failed += 1
        print("redis %s: NOT reachable (%s)" % (_redacted_url(config.gateway.redis_url), exc))
    try:
        scopes = set((gateway.sentry.whoami().get("auth") or {}).get("scopes") or [])
        missing = {"event:read", "event:write"} - scopes
        if missing:
            failed += 1
            print("sentry %s: token accepted but lacks %s (give the integration Issue & Event: Read & Write)"
                  % (config.sentry.url, ", ".join(sorted(missing))))
        else:
            print("sentry %s: token accepted (scopes include event:read, event:write)" % config.sentry.url)
        if config.gateway.catchup_interval and not scopes & {"project:read", "project:write", "project:admin"}:
            failed += 1
            print("sentry %s: the token lacks project:read, so catch-up cannot read the alert rules' history "
                  "and events (give the integration Project: Read)" % config.sentry.url)
    except sentry_api.SentryAPIError as exc:
        failed += 1
        print("sentry %s: %s" % (config.sentry.url, exc.message))
    failed += _report_catchup(config, gateway)
    for slug, settings in sorted(config.projects.items()):
        result = check_orchestrator(settings)
        failed += 0 if result.ok else 1
        print("project %s: %s" % (slug, result.message))
        if result.ok:
            try:  # what the plugin form checks on save: routing rules against PE's task metadata
                check_together(settings._asdict())
            except ValueError as exc:
                failed += 1
                print("project %s: %s" % (slug, exc))
    print("check %s" % ("passed" if not failed else "FAILED: %d problem(s)" % failed))
    return 0 if not failed else 1


def _redacted_url(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = "%s:***@%s" % (parts.username or "", parts.hostname + (":%d" % parts.port if parts.port else ""))
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="sentry-autodiag", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", metavar="{gateway,worker,check,sweep}")
    sub.required = True

    gateway = sub.add_parser("gateway", help="receive Sentry's signed alert webhooks and queue diagnoses")
    gateway.add_argument("--config", required=True, help="the YAML configuration file")
    gateway.add_argument("--port", type=int, help="listen on this port instead of gateway.listen's")
    gateway.add_argument("--ready-file", help="write host:port here once listening (for supervisors and tests)")
    gateway.set_defaults(func=cmd_gateway)

    worker = sub.add_parser("worker", help="run queued diagnoses (Celery) and write the notes")
    worker.add_argument("--config", required=True, help="the YAML configuration file")
    worker.add_argument("--concurrency", type=int, default=8, help="steps run at once (default 8)")
    worker.add_argument("--pool", default="threads", choices=["threads", "prefork", "solo"],
                        help="Celery pool; steps wait on HTTP, so threads by default")
    worker.add_argument("--loglevel", default="INFO")
    worker.add_argument("--hostname", default="autodiag@%h", help="Celery node name (default autodiag@%%h)")
    worker.add_argument("--metrics-port", type=int, help="serve this worker's /metrics on this port")
    worker.add_argument("--metrics-host", default="127.0.0.1")
    worker.set_defaults(func=cmd_worker)

    sweep = sub.add_parser("sweep", help="run one catch-up sweep now (workers sweep on their own schedule)")
    sweep.add_argument("--config", required=True, help="the YAML configuration file")
    sweep.set_defaults(func=cmd_sweep)

    check = sub.add_parser("check", help="validate the config and test Redis, Sentry and every project's PE")
    check.add_argument("--config", required=True, help="the YAML configuration file")
    check.set_defaults(func=cmd_check)
    return top


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    try:
        import tornado  # noqa: F401
        import celery  # noqa: F401
    except ImportError as exc:
        print("the gateway needs its extra: pip install \"sentry_autodiag-%s-py3-none-any.whl[gateway]\" (%s)"
              % (__version__, exc), file=sys.stderr)
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
