"""The gateway's processes as production runs them, for tests inside Sentry 23.7.1:
`sentry-autodiag gateway` and `sentry-autodiag worker` from the gateway's own Python 3.11
venv (no Sentry in it), a Redis of their own (so "queue down" is a real stopped Redis),
and a config file with secrets in files."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Dict, Optional

import requests

from net_helpers import unused_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GATEWAY_BIN = os.path.join(ROOT, ".venv-gateway", "bin", "sentry-autodiag")


def _wait(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))


class RedisServer:
    """redis-server on a free loopback port, data kept in memory only."""

    def __init__(self, workdir: str):
        self.port = unused_port()
        self.url = "redis://127.0.0.1:%d/0" % self.port
        self.workdir = workdir
        self.proc: Optional[subprocess.Popen] = None

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                                      "--appendonly", "no", "--dir", self.workdir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis
        client = redis.StrictRedis(port=self.port, socket_connect_timeout=0.2)

        def up():
            try:
                return client.ping()
            except redis.RedisError:
                return False
        _wait(up, 10, "redis-server")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class GatewayProcesses:
    """Writes the config and starts/stops the gateway and its worker(s)."""

    def __init__(self, sentry_url: str, organization: str, sentry_token: str, client_secret: str,
                 redis_url: str, projects: Dict[str, dict], visibility_timeout: Optional[int] = None,
                 options: Optional[dict] = None):
        self.dir = tempfile.mkdtemp(prefix="autodiag-gw-")
        self.port = unused_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.webhook_url = self.url + "/webhook/sentry"
        self.procs: Dict[str, subprocess.Popen] = {}
        secrets = {"sentry-token": sentry_token, "client-secret": client_secret}
        for name, value in secrets.items():
            with open(os.path.join(self.dir, name), "w") as fh:
                fh.write(value + "\n")
        for slug, values in projects.items():
            for key in ("token", "ca_cert"):
                if key in values:
                    path = os.path.join(self.dir, "%s-%s" % (slug.replace("*", "star"), key))
                    with open(path, "w") as fh:
                        fh.write(values.pop(key))
                    values[key + "_file"] = path
        config = {
            "sentry": {"url": sentry_url, "organization": organization,
                       "token_file": os.path.join(self.dir, "sentry-token"),
                       "client_secret_file": os.path.join(self.dir, "client-secret")},
            "gateway": dict({"listen": "127.0.0.1:%d" % self.port, "redis_url": redis_url},
                            **({"visibility_timeout": visibility_timeout} if visibility_timeout else {}),
                            **(options or {})),
            "projects": projects,
        }
        self.config_path = os.path.join(self.dir, "gateway.yaml")
        with open(self.config_path, "w") as fh:
            json.dump(config, fh, indent=2)  # JSON is YAML

    def _env(self):
        # Sentry's pytest plugin set these for this process; the gateway must not see them.
        return {k: v for k, v in os.environ.items()
                if k not in ("_SENTRY_SKIP_CONFIGURATION", "DJANGO_SETTINGS_MODULE", "PYTHONPATH")}

    def start_gateway(self):
        ready = os.path.join(self.dir, "ready")
        if os.path.exists(ready):
            os.unlink(ready)
        self._start("gateway", [GATEWAY_BIN, "gateway", "--config", self.config_path, "--ready-file", ready])
        _wait(lambda: os.path.exists(ready) or self._died("gateway"), 30, "the gateway to listen")
        return self

    def start_worker(self, name: str = "worker"):
        self.worker_metrics_port = unused_port()
        self._start(name, [GATEWAY_BIN, "worker", "--config", self.config_path, "--concurrency", "4",
                           "--hostname", "%s@%%h" % name, "--loglevel", "INFO",
                           "--metrics-port", str(self.worker_metrics_port)])
        _wait(lambda: "ready" in self.log(name) or self._died(name), 60, "the worker to be ready")
        return self

    def run_cli(self, *args, timeout: float = 60) -> subprocess.CompletedProcess:
        """`sentry-autodiag ARGS` to completion (e.g. check)."""
        return subprocess.run([GATEWAY_BIN] + list(args), capture_output=True, text=True, env=self._env(),
                              cwd=self.dir, timeout=timeout)

    def _start(self, name, argv):
        log = open(os.path.join(self.dir, name + ".log"), "a")
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self._env(),
                                            start_new_session=True, cwd=self.dir)

    def _died(self, name):
        proc = self.procs[name]
        if proc.poll() is not None:
            raise AssertionError("%s exited %s:\n%s" % (name, proc.returncode, self.log(name)[-3000:]))
        return False

    def log(self, name: str) -> str:
        try:
            with open(os.path.join(self.dir, name + ".log")) as fh:
                return fh.read()
        except OSError:
            return ""

    def stop(self, name: str, sig=signal.SIGTERM, timeout: float = 30):
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name)

    def cleanup(self):
        self.stop_all()
        shutil.rmtree(self.dir, ignore_errors=True)

    def metrics(self) -> str:
        return requests.get(self.url + "/metrics", timeout=5).text

    def worker_metrics(self) -> str:
        return requests.get("http://127.0.0.1:%d/metrics" % self.worker_metrics_port, timeout=5).text
