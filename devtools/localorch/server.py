"""LocalOrchestrator: the PE orchestrator API v1 over HTTPS on loopback, running real tasks.

    with LocalOrchestrator(nodes=["web01.example.com"]) as orch:
        client = OrchestratorClient(orch.url, orch.token, orch.ca_pem)

Implements POST /command/task, GET /jobs/<name>, GET /jobs/<name>/nodes, POST
/command/stop, POST|GET /inventory with PE's status codes and error bodies, and PE
PuppetDB's GET /pdb/query/v4?query=<PQL> (PuppetDB listens on its own port 8081 in PE;
here the orchestrator's HTTPS port takes the token and forwards the query to the real
PuppetDB, see puppetdb.py). Tasks come from a modules directory and run as
subprocesses (taskrunner) on a bounded worker pool, one run per target node, so the
HTTP server never blocks on a task. `faults` injects the failures a real PE and network
show (see Faults).

What PE knows: `nodes` are the certnames PuppetDB holds for this PE: at start their
`facts` (a small fact set each unless given) go to the real PuppetDB as `replace facts`
commands, and `deactivate`/`expire`/`forget` take them out as PuppetDB does.
`set_connected` says whose pxp-agent is connected. As in PE, a `nodes` scope runs on any
certname (an unknown one ends errored, "not connected to the PCP broker", exactly like a
stopped agent); a `query` scope is resolved by PuppetDB, so a PQL error is PuppetDB's
own (answered as PE's query-error) and an unknown certname there is empty-target.

One PuppetDB serves the whole test run, so it holds the nodes of every test: each
LocalOrchestrator is one PE installation and keeps, of PuppetDB's answers, the certnames
it holds (`nodes`). The query itself is PuppetDB's, unchanged.
"""
import datetime
import hashlib
import http.server
import itertools
import json
import os
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterable, List, Optional, Set
from urllib.parse import parse_qs, unquote, urlsplit

from sentry_autodiag.orchestrator import DONE_JOB_STATES, DONE_NODE_STATES
from . import pki, puppetdb, taskrunner

DEFAULT_MODULES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "puppet"))
API = "/orchestrator/v1"
PDB_QUERY = "/pdb/query/v4"
TASK_BODY_KEYS = {"environment", "task", "params", "scope", "description", "noop", "timeout", "userdata",
                  "targets", "concurrency"}
MAX_BODY = 1024 * 1024


def _now():
    return datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Faults:
    """Failures to inject; change attributes at any time (they are read per request/run).

    offline_nodes     nodes that answer errored "not connected to the PCP broker"
    slow_start        seconds a new job waits before any node starts
    slow_task         {node: seconds} (or {"*": seconds}) slept before the task runs
    http_errors       statuses answered to the next requests, one each (e.g. [503, 429])
    retry_after       the Retry-After header (seconds) those injected answers carry, if set
    resets            the next N requests get their TCP connection reset, no answer
    malformed         the next N requests get a 200 whose body is not JSON
    malformed_gets    the same for the next N GET requests only (polls), after a job started
    token_expires_after  after N authenticated calls the token answers 401 token-expired
    job_404_gets      each new job answers 404 to its first N GETs
    lagging_node_gets each new job, once done, still lists its nodes as running in its first N
                      node-list answers (PE updates the job and its node items apart)
    oversized_nodes   nodes whose task output exceeds the pxp-agent message size
    skipped_nodes     nodes the orchestrator skips (state "skipped", no run)
    hangs             the next N requests wait `hang_seconds` before answering (client timeouts)
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.offline_nodes: Set[str] = set()
        self.slow_start = 0.0
        self.slow_task: Dict[str, float] = {}
        self.http_errors: List[int] = []
        self.retry_after: Optional[int] = None
        self.resets = 0
        self.malformed = 0
        self.malformed_gets = 0
        self.token_expires_after: Optional[int] = None
        self.job_404_gets = 0
        self.lagging_node_gets = 0
        self.oversized_nodes: Set[str] = set()
        self.skipped_nodes: Set[str] = set()
        self.hangs = 0
        self.hang_seconds = 5.0

    def take(self, attribute) -> bool:
        """Consumes one of a counted fault; True when it applies to this request."""
        with self.lock:
            value = getattr(self, attribute)
            if isinstance(value, list):
                if value:
                    return value.pop(0)
                return False
            if value > 0:
                setattr(self, attribute, value - 1)
                return True
            return False

    def task_delay(self, node):
        return self.slow_task.get(node, self.slow_task.get("*", 0.0))


class _Job:
    def __init__(self, name, task, environment, params, nodes, description, userdata, timeout, owner, hide_gets):
        self.name = name
        self.task = task
        self.environment = environment
        self.params = params
        self.description = description
        self.userdata = userdata
        self.timeout = timeout
        self.owner = owner
        self.created = _now()
        self.finished: Optional[str] = None
        self.cancel = threading.Event()       # stop: nodes not started yet are stopped
        self.force = threading.Event()        # stop with force: running tasks are killed
        self.stopping = False
        self.noop = False
        self.hide_gets = hide_gets
        self.lock = threading.Lock()
        self.nodes = {n: {"name": n, "state": "new", "result": None, "duration": None, "start_timestamp": None,
                          "finish_timestamp": None, "transport": "pxp", "details": {}, "timestamp": self.created}
                      for n in nodes}

    def node_states(self):
        counts: Dict[str, int] = {}
        for node in self.nodes.values():
            counts[node["state"]] = counts.get(node["state"], 0) + 1
        return counts

    def done(self):
        return self.state() in DONE_JOB_STATES

    def state(self):
        states = [n["state"] for n in self.nodes.values()]
        if all(s in DONE_NODE_STATES for s in states):
            if self.stopping or "stopped" in states:
                return "stopped"
            return "failed" if any(s in ("failed", "errored") for s in states) else "finished"
        if self.stopping:
            return "stopping"
        if any(s in ("running", "finished", "failed", "errored") for s in states):
            return "running"
        return "ready" if any(s == "ready" for s in states) else "new"


class LocalOrchestrator:
    """Owns the HTTPS server, the job table and the worker pool."""

    def __init__(self, nodes: Iterable[str] = ("localhost",), modules_dir: str = DEFAULT_MODULES,
                 token: str = "local-orchestrator-token", environments: Iterable[str] = ("production",),
                 host: str = "127.0.0.1", port: int = 0, workers: int = 8,
                 permitted_tasks: Optional[Iterable[str]] = None, node_groups: Optional[Dict[str, List[str]]] = None,
                 task_env: Optional[Dict[str, str]] = None, node_env: Optional[Dict[str, Dict[str, str]]] = None,
                 default_task_timeout: int = 300, owner: str = "sentry-autodiag",
                 cert_hostnames: Optional[List[str]] = None, facts: Optional[Dict[str, Dict[str, Any]]] = None,
                 may_query_puppetdb: bool = True, accepts_timeout: bool = True,
                 puppetdb_url: str = puppetdb.DEFAULT_URL):
        self.inventory = {n: True for n in nodes}
        # PuppetDB's fact set per node (default: a small plausible one per certname)
        self.facts = {n: puppetdb.default_facts(n) for n in self.inventory}
        self.facts.update(facts or {})
        self.puppetdb = puppetdb.PuppetDB(puppetdb_url)
        # RBAC: may the token's role run PuppetDB queries ("Nodes: View node data from PuppetDB")?
        self.may_query_puppetdb = may_query_puppetdb
        # False: an older PE whose POST /command/task does not know the `timeout` key
        self.accepts_timeout = accepts_timeout
        self.stderr: Dict[str, Dict[str, str]] = {}  # job → node → stderr, kept as pxp-agent keeps it
        self.modules_dir = modules_dir
        self.token = token
        self.environments = set(environments)
        self.host = host
        self.port = port
        self.permitted_tasks = set(permitted_tasks) if permitted_tasks is not None else None
        self.node_groups = dict(node_groups or {})
        self.task_env = dict(task_env or {})
        self.node_env = dict(node_env or {})
        self.default_task_timeout = default_task_timeout
        self.owner = owner
        self.cert_hostnames = cert_hostnames  # default: localhost and the bind address
        self.faults = Faults()
        self.jobs: Dict[str, _Job] = {}
        self.calls: Dict[str, int] = {}
        self.task_runs = 0
        self.max_concurrent_jobs = 0   # peak of jobs not yet done, seen at job creation
        self._authenticated_calls = 0
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="localorch-task")
        self._httpd: Optional[http.server.ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._tmpdir: Optional[str] = None
        self.ca_pem = ""

    # lifecycle

    def start(self) -> "LocalOrchestrator":
        puppetdb.ensure_running(self.puppetdb.url)
        puppetdb.submit_nodes(self.puppetdb, {n: self.facts.get(n, {}) for n in self.inventory})
        names = self.cert_hostnames or (["localhost", self.host] if self.host != "localhost" else ["localhost", "127.0.0.1"])
        material = pki.generate(names)
        self.ca_pem = material.ca_pem
        self._tmpdir = tempfile.mkdtemp(prefix="localorch-")
        cert, key = os.path.join(self._tmpdir, "cert.pem"), os.path.join(self._tmpdir, "key.pem")
        with open(cert, "w") as fh:
            fh.write(material.cert_pem)
        with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as fh:
            fh.write(material.key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        handler = type("Handler", (_Handler,), {"orch": self})
        self._httpd = _Server((self.host, self.port), handler)
        # The handshake happens in the handler thread, so a slow client never blocks accept().
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="localorch-http", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        for job in list(self.jobs.values()):
            job.cancel.set()
            job.force.set()
        self._pool.shutdown(wait=True)
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "https://%s:%d" % ("localhost" if self.host in ("127.0.0.1", "localhost") else self.host, self.port)

    def set_connected(self, node, connected=True):
        """Whether the node's pxp-agent is connected; a node new to this PE is first known to PuppetDB."""
        if node not in self.inventory:
            self.facts.setdefault(node, puppetdb.default_facts(node))
            self.puppetdb.replace_facts(node, self.facts[node])
        self.inventory[node] = connected

    def deactivate(self, node):
        """`puppet node deactivate`: PuppetDB's queries leave the node out (until it checks in again)."""
        self.puppetdb.deactivate(node)

    def expire(self, node):
        """The node stopped checking in longer ago than PuppetDB's node-ttl: PuppetDB expires it."""
        self.puppetdb.expire(node, self.facts.get(node))

    def forget(self, node):
        """`puppet node purge`: PuppetDB never saw the node, as far as anyone can tell."""
        self.puppetdb.delete(node)

    def wait_idle(self, timeout=60.0):
        """Blocks until every job is done (for tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                busy = [j for j in self.jobs.values() if not j.done()]
            if not busy:
                return True
            time.sleep(0.02)
        return False

    # the API, called by the handler with decoded JSON; returns (status, body)

    def count(self, key):
        with self._lock:
            self.calls[key] = self.calls.get(key, 0) + 1

    def authenticate(self, header: Optional[str]):
        if not header:
            return 401, _err("puppetlabs.rbac/user-unauthenticated", "Route requires authentication")
        if header.strip() != self.token:
            return 401, _err("puppetlabs.rbac/invalid-token", "The provided token is invalid.")
        with self._lock:
            self._authenticated_calls += 1
            calls = self._authenticated_calls
        limit = self.faults.token_expires_after
        if limit is not None and calls > limit:
            return 401, _err("puppetlabs.rbac/token-expired", "The provided token has expired.")
        return None

    def command_task(self, body):
        if not isinstance(body, dict):
            return 400, _err("puppetlabs.orchestrator/validation-error", "The request body must be a JSON object.")
        # How PE words a refused body key is not public; this names the key in msg and details.
        unknown = sorted(set(body) - (TASK_BODY_KEYS if self.accepts_timeout else TASK_BODY_KEYS - {"timeout"}))
        if unknown:
            return 400, _err("puppetlabs.orchestrator/validation-error",
                             "Unknown keys in request body: %s" % ", ".join(unknown), {"keys": unknown})
        for key in ("task", "params", "scope"):
            if key not in body:
                return 400, _err("puppetlabs.orchestrator/validation-error", "The request is missing '%s'." % key)
        environment = body.get("environment", "production")
        if not isinstance(environment, str) or not isinstance(body["task"], str):
            return 400, _err("puppetlabs.orchestrator/validation-error", "environment and task must be strings.")
        if not isinstance(body["params"], dict):
            return 400, _err("puppetlabs.validators/validation-error", "params must be an object.")
        scope = body["scope"]
        if not isinstance(scope, dict) or len(set(scope) & {"nodes", "query", "node_group"}) != 1 or \
                set(scope) - {"nodes", "query", "node_group"}:
            return 400, _err("puppetlabs.orchestrator/validation-error",
                             "scope must have exactly one of 'nodes', 'query' or 'node_group'.")
        for key, kind in (("description", str), ("userdata", dict), ("noop", bool)):
            if key in body and not isinstance(body[key], kind):
                return 400, _err("puppetlabs.orchestrator/validation-error", "%s has the wrong type." % key)
        timeout = body.get("timeout", self.default_task_timeout)
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            return 400, _err("puppetlabs.orchestrator/validation-error", "timeout must be a positive integer.")
        if environment not in self.environments:
            return 404, _err("puppetlabs.orchestrator/unknown-environment",
                             "Unknown environment %s" % environment, {"environment": environment})
        try:
            spec = taskrunner.load_task(self.modules_dir, body["task"])
        except (taskrunner.TaskNotFound, taskrunner.TaskMetadataError):
            return 404, _err("puppetlabs.orchestrator/unknown-task",
                             "Could not find a task named '%s' in environment '%s'" % (body["task"], environment),
                             {"task": body["task"], "environment": environment})
        if self.permitted_tasks is not None and spec.full_name not in self.permitted_tasks:
            return 403, _err("puppetlabs.orchestrator/not-permitted",
                             "The user '%s' does not have permission to run task %s" % (self.owner, spec.full_name))
        if body.get("noop") and not spec.metadata.get("supports_noop", False):
            return 400, _err("puppetlabs.orchestrator/validation-error",
                             "Task %s does not support noop" % spec.full_name)
        errors = taskrunner.validate_params(spec, body["params"])
        if errors:
            return 400, _err("puppetlabs.orchestrator/validation-error", "; ".join(errors), {"errors": errors})
        nodes, error = self._resolve_scope(scope)
        if error:
            return error
        if not nodes:
            return 400, _err("puppetlabs.orchestrator/empty-target", "No nodes were found for the specified target.")
        with self._lock:
            name = str(next(self._ids))
            job = _Job(name, spec, environment, body["params"], nodes, body.get("description"),
                       body.get("userdata"), timeout, self.owner, self.faults.job_404_gets)
            job.noop = bool(body.get("noop"))
            job.lagging_gets = self.faults.lagging_node_gets
            self.jobs[name] = job
            busy = sum(1 for j in self.jobs.values() if not j.done())
            self.max_concurrent_jobs = max(self.max_concurrent_jobs, busy)
        for node in nodes:
            self._pool.submit(self._run_node, job, node)
        return 202, {"job": {"id": "%s%s/jobs/%s" % (self.url, API, name), "name": name}}

    def _resolve_scope(self, scope):
        if "nodes" in scope:
            nodes = scope["nodes"]
            if not isinstance(nodes, list) or not all(isinstance(n, str) and n for n in nodes):
                return None, (400, _err("puppetlabs.orchestrator/validation-error", "scope.nodes must be a list of certnames."))
            return list(dict.fromkeys(nodes)), None
        if "query" in scope:
            if not self.may_query_puppetdb:
                # PE answers query-error when the role may not run PuppetDB queries; its exact
                # message for that case is not public.
                return None, (400, _err("puppetlabs.orchestrator/query-error",
                                        "The user '%s' does not have permission to run PuppetDB queries."
                                        % self.owner))
            try:
                return self.puppetdb_query(scope["query"]), None
            except puppetdb.QueryError as exc:
                # PuppetDB's own message; how PE words the text around it is not public.
                return None, (400, _err("puppetlabs.orchestrator/query-error", str(exc)))
            except puppetdb.PuppetDBError as exc:
                return None, (400, _err("puppetlabs.orchestrator/puppetdb-error", str(exc)))
        group = scope["node_group"]
        if not isinstance(group, str) or group not in self.node_groups:
            return None, (400, _err("puppetlabs.orchestrator/empty-target", "No nodes were found for the specified target."))
        return list(self.node_groups[group]), None

    def puppetdb_query(self, text: Any) -> List[str]:
        """The certnames of this PE that PuppetDB selects with the query (raises puppetdb.QueryError)."""
        if not isinstance(text, str):
            raise puppetdb.QueryError("The query must be a PQL or AST string.")
        return sorted(n for n in puppetdb.certnames(self.puppetdb.query(text)) if n in self.inventory)

    @staticmethod
    def _settle(job: _Job, entry: Dict[str, Any], state: str, **fields):
        """A node's final state, stamped, under the job's lock."""
        with job.lock:
            entry.update(state=state, finish_timestamp=_now(), **fields)

    def _run_node(self, job: _Job, node: str):
        entry = job.nodes[node]
        try:
            if job.cancel.is_set():
                return self._settle(job, entry, "stopped")
            with job.lock:
                entry["state"] = "ready"
            if self.faults.slow_start and job.cancel.wait(self.faults.slow_start):
                return self._settle(job, entry, "stopped")
            if node in self.faults.skipped_nodes:
                return self._settle(job, entry, "skipped")
            if node in self.faults.offline_nodes or not self.inventory.get(node, False):
                message = "%s is not connected to the PCP broker" % node
                return self._settle(job, entry, "errored", details={"message": message}, result={"_error": {
                    "kind": "puppetlabs.orchestrator/execution-failure", "msg": message, "details": {"node": node}}})
            with job.lock:
                entry.update(state="running", start_timestamp=_now())
            delay = self.faults.task_delay(node)
            if delay and job.force.wait(delay):
                return self._settle(job, entry, "stopped")
            env = dict(self.task_env)
            env.update(self.node_env.get(node, {}))
            with self._lock:
                self.task_runs += 1
            outcome = taskrunner.run_task(job.task, job.params, target=node, timeout=job.timeout, extra_env=env,
                                          cancel=job.force, noop=job.noop,
                                          max_output=1024 if node in self.faults.oversized_nodes else taskrunner.MAX_OUTPUT_BYTES)
            with self._lock:
                self.stderr.setdefault(job.name, {})[node] = outcome.stderr  # never in the API: PE hides it
            state = "stopped" if job.force.is_set() and outcome.exit_code is None and outcome.state != "errored" \
                else outcome.state
            self._settle(job, entry, state, result=outcome.result, duration=round(outcome.duration, 3))
        except Exception as exc:  # the orchestrator itself must never leave a node hanging
            self._settle(job, entry, "errored", result={"_error": {
                "kind": "puppetlabs.orchestrator/execution-failure", "msg": str(exc), "details": {}}})
        finally:
            with job.lock:
                if job.done() and not job.finished:
                    job.finished = _now()

    def get_job(self, name):
        job = self.jobs.get(name)
        if job is None or job.hide_gets > 0:
            if job is not None:
                with job.lock:
                    job.hide_gets -= 1
            return 404, _err("puppetlabs.orchestrator/unknown-job", "No job exists with id %s" % name)
        return None, job

    def job_body(self, job: _Job):
        with job.lock:
            state = job.state()
            return {
                "id": "%s%s/jobs/%s" % (self.url, API, job.name), "name": job.name, "state": state,
                "command": "task", "type": "task", "description": job.description or "",
                "environment": {"name": job.environment}, "owner": {"login": job.owner},
                "options": {"task": job.task.full_name, "params": job.params, "environment": job.environment,
                            "timeout": job.timeout, "userdata": job.userdata},
                "userdata": job.userdata or {}, "timestamp": job.created, "started_timestamp": job.created,
                "finished_timestamp": job.finished, "node_count": len(job.nodes),
                "node_states": job.node_states(),
                "nodes": {"id": "%s%s/jobs/%s/nodes" % (self.url, API, job.name)},
            }

    def nodes_body(self, job: _Job):
        with job.lock:
            items = [dict(n) for n in job.nodes.values()]
            if job.done() and getattr(job, "lagging_gets", 0) > 0:
                job.lagging_gets -= 1
                items = [dict(n, state="running", result=None, finish_timestamp=None, duration=None) for n in items]
        return {"items": items, "next-events": {"id": "%s%s/jobs/%s/events" % (self.url, API, job.name), "event": "0"}}

    def command_stop(self, body):
        if not isinstance(body, dict) or set(body) - {"job", "force"} or "job" not in body:
            return 400, _err("puppetlabs.orchestrator/validation-error", "The body must be {\"job\": <name>, \"force\": bool}.")
        status, job = self.get_job(str(body["job"]))
        if status:
            return status, job
        with job.lock:
            if not job.done():
                job.stopping = True
                job.cancel.set()
                if body.get("force"):
                    job.force.set()
            counts = job.node_states()
        return 202, {"job": {"id": "%s%s/jobs/%s" % (self.url, API, job.name), "name": job.name, "nodes": counts}}

    def task_body(self, module, name, raw_path):
        query = dict(p.split("=", 1) for p in urlsplit(raw_path).query.split("&") if "=" in p)
        environment = unquote(query.get("environment", "production"))
        if environment not in self.environments:
            return 404, _err("puppetlabs.orchestrator/unknown-environment", "Unknown environment %s" % environment)
        task = module if name == "init" else "%s::%s" % (module, name)
        try:
            spec = taskrunner.load_task(self.modules_dir, task)
        except (taskrunner.TaskNotFound, taskrunner.TaskMetadataError):
            return 404, _err("puppetlabs.orchestrator/unknown-task",
                             "Could not find a task named '%s' in environment '%s'" % (task, environment))
        files = [(os.path.basename(spec.executable), spec.executable)] + list(spec.files)
        return 200, {"id": "%s%s/tasks/%s/%s" % (self.url, API, module, name), "name": spec.full_name,
                     "environment": {"name": environment, "code_id": None}, "metadata": spec.metadata,
                     "files": [_file_entry(filename, path) for filename, path in files if os.path.isfile(path)]}

    def inventory_body(self, nodes=None):
        names = list(self.inventory) if nodes is None else nodes
        items = [{"name": n, "connected": bool(self.inventory.get(n)) and n not in self.faults.offline_nodes,
                  "broker": "pcp://localhost/server", "timestamp": _now()} for n in names]
        return {"items": items}


def _file_entry(filename, path):
    """A task file as GET /tasks/<module>/<task> lists it (the implementation, then `files` entries)."""
    with open(path, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    return {"filename": filename, "sha256": digest, "size_bytes": os.path.getsize(path)}


def _err(kind, msg, details=None):
    return {"kind": kind, "msg": msg, "details": details or {}}


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        pass  # TLS handshakes aborted by clients (wrong CA tests) are expected, not noise


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LocalOrchestrator/1"
    orch: LocalOrchestrator

    def log_message(self, *args):
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        orch = self.orch
        path = urlsplit(self.path).path
        orch.count("%s %s" % (method, path))
        body_bytes = b""
        length = self.headers.get("Content-Length")
        if length:
            try:
                size = int(length)
            except ValueError:
                return self._send(400, _err("puppetlabs.orchestrator/validation-error", "Bad Content-Length."))
            if size > MAX_BODY:
                return self._send(413, _err("puppetlabs.orchestrator/validation-error", "Request body too large."))
            body_bytes = self.rfile.read(size)
        if orch.faults.take("resets"):
            return self._reset()
        if orch.faults.take("hangs"):
            time.sleep(orch.faults.hang_seconds)
        status = orch.faults.take("http_errors")
        if status:
            extra = [("Retry-After", str(orch.faults.retry_after))] if orch.faults.retry_after is not None else []
            return self._send(status, _err("puppetlabs.orchestrator/unknown-error", "Injected HTTP %d" % status),
                              headers=extra)
        if orch.faults.take("malformed") or (method == "GET" and orch.faults.take("malformed_gets")):
            return self._send_raw(200, b'{"job": {"id": "https://x/orchestrator/v1/jobs/1", "na', "application/json")
        denied = orch.authenticate(self.headers.get("X-Authentication"))
        if denied:
            return self._send(*denied)
        if path == PDB_QUERY and method == "GET":
            return self._puppetdb(orch)
        if not path.startswith(API + "/"):
            return self._send(404, _err("puppetlabs.orchestrator/not-found", "Not found: %s" % path))
        route = [unquote(p) for p in path[len(API) + 1:].split("/") if p]
        body: Any = None
        if method in ("POST", "PUT"):
            try:
                body = json.loads(body_bytes.decode("utf-8")) if body_bytes else None
            except (ValueError, UnicodeDecodeError):
                return self._send(400, _err("puppetlabs.orchestrator/validation-error", "The request body is not valid JSON."))
        if method == "POST" and route == ["command", "task"]:
            return self._send(*orch.command_task(body))
        if method == "POST" and route == ["command", "stop"]:
            return self._send(*orch.command_stop(body))
        if method == "GET" and len(route) in (2, 3) and route[0] == "jobs" and route[2:] in ([], ["nodes"]):
            status, job = orch.get_job(route[1])
            if status:
                return self._send(status, job)
            return self._send(200, orch.job_body(job) if len(route) == 2 else orch.nodes_body(job))
        if method == "GET" and len(route) == 3 and route[0] == "tasks":
            return self._send(*orch.task_body(route[1], route[2], self.path))
        if route == ["inventory"] and method == "GET":
            return self._send(200, orch.inventory_body())
        if route == ["inventory"] and method == "POST":
            nodes = body.get("nodes") if isinstance(body, dict) else None
            if not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes):
                return self._send(400, _err("puppetlabs.orchestrator/validation-error", "nodes must be a list of strings."))
            return self._send(200, orch.inventory_body(nodes))
        return self._send(404, _err("puppetlabs.orchestrator/not-found", "Not found: %s %s" % (method, path)))

    def _puppetdb(self, orch: "LocalOrchestrator"):
        """PuppetDB's query endpoint, forwarded to the real PuppetDB: its status and body as it
        sends them (errors are plain text), rows of other PE installations left out.

        PE's PuppetDB answers a token whose role lacks "View node data from PuppetDB" with
        403; its body is not public, so the text here is this double's own.
        """
        if not orch.may_query_puppetdb:
            return self._send_raw(403, b"Permission denied: this user may not view node data from PuppetDB",
                                  "text/plain")
        try:
            answer = orch.puppetdb.raw_query(parse_qs(urlsplit(self.path).query))
        except puppetdb.PuppetDBError as exc:
            return self._send_raw(503, str(exc).encode(), "text/plain")
        if answer.status_code != 200:
            return self._send_raw(answer.status_code, answer.content,
                                  answer.headers.get("Content-Type", "text/plain"))
        rows = answer.json()
        if isinstance(rows, list):
            rows = [r for r in rows if not (isinstance(r, dict) and isinstance(r.get("certname"), str))
                    or r["certname"] in orch.inventory]
        return self._send(200, rows)

    def _send(self, status, body, headers=()):
        self._send_raw(status, json.dumps(body).encode(), "application/json", headers)

    def _send_raw(self, status, data, content_type, headers=()):
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def _reset(self):
        """Closes the TCP connection with RST and no answer (a dropped connection)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
