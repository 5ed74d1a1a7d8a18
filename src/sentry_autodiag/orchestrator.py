"""Client for the Puppet Enterprise orchestrator API v1 (plain Python + requests).

Every answer PE can give becomes either a typed value or a typed OrchestratorError whose
`message` is fit for a Sentry note and whose `retryable` says whether trying again can
help. TLS is always verified against the CA the admin configured (and only that CA);
there is no switch to turn verification off. The token is sent as X-Authentication and
never logged or put in an error message.
"""
import datetime
import email.utils
import html
import ipaddress
import json
import re
import ssl
import threading
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Set, Tuple
from urllib.parse import quote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

API_PREFIX = "/orchestrator/v1"
URLLIB3_MAJOR = int(urllib3.__version__.split(".")[0])  # 1.x under Sentry 23.7.1, 2.x in the gateway
PUPPETDB_PORT = 8081             # PE's PuppetDB; it takes the same RBAC token as the orchestrator
DONE_JOB_STATES = frozenset({"finished", "failed", "stopped"})
# The node states PE documents; an item in any other state is kept as is, never an error.
NODE_STATES = frozenset({"new", "ready", "running", "stopping", "finished", "failed", "errored", "skipped",
                         "stopped"})
DONE_NODE_STATES = frozenset({"finished", "failed", "errored", "skipped", "stopped"})
MAX_ERROR_TEXT = 300
MAX_STATE_TEXT = 40
MAX_NODE_PAGES = 50              # GET /jobs/<name>/nodes pages read looking for one node (a paginated answer)
MAX_RETRY_AFTER = 3600.0
SENSITIVE_TEXT = "Sensitive [value redacted]"
# Token problems PE answers with (clj-rbac-client): all mean "this token cannot be used".
TOKEN_ERROR_KINDS = frozenset({"token-expired", "token-revoked", "invalid-token", "token-invalid", "user-revoked",
                               "user-unauthenticated", "api-user-login", "remote-user-conflict"})
# The role may not do this (PE's orchestrator says not-permitted, RBAC itself permission-denied): not the token.
PERMISSION_KINDS = frozenset({"not-permitted", "permission-denied"})
# A body PE refused as malformed (RBAC's and trapperkeeper's kinds for it).
VALIDATION_KINDS = frozenset({"validation-error", "schema-violation", "malformed-request", "invalid-request"})
# What RBAC says in a text/plain 401 (it answers in text when the request did not take JSON).
TOKEN_TEXTS = (("expired", "token-expired"), ("token has been revoked", "token-revoked"),
               ("user has been revoked", "user-revoked"), ("revoked", "token-revoked"),
               ("requires authentication", "user-unauthenticated"), ("invalid", "invalid-token"))

# Base URLs of orchestrators that refused the `timeout` key of POST /command/task (an older PE):
# remembered for the life of the process, so later diagnoses do not pay for the refusal again.
_REFUSES_TIMEOUT: Set[str] = set()
_REFUSES_TIMEOUT_LOCK = threading.Lock()


# --- errors ---------------------------------------------------------------------------


class OrchestratorError(Exception):
    """Base: `message` is for humans (a Sentry note), `kind` is PE's error kind if any."""

    retryable = False
    reason = "orchestrator-error"
    # True when the HTTP answer was not PE's own (an HTML page of a proxy, load balancer or login gateway)
    foreign = False

    def __init__(self, message, kind=None, status=None, details=None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status
        self.details = details or {}


class ConfigurationError(OrchestratorError):
    """The plugin settings cannot work: bad URL, bad CA certificate, empty token."""

    reason = "configuration"


class TLSError(OrchestratorError):
    """The orchestrator's certificate does not verify against the configured CA."""

    reason = "tls"


class AuthError(OrchestratorError):
    """401/403 for the token itself: expired, revoked or unknown. Never retried."""

    reason = "auth"


class NotPermitted(OrchestratorError):
    """The token's RBAC role may not run this task on these nodes."""

    reason = "not-permitted"


class UnknownEnvironment(OrchestratorError):
    reason = "unknown-environment"


class UnknownTask(OrchestratorError):
    reason = "unknown-task"


class EmptyTarget(OrchestratorError):
    """No node matched the scope (unknown certname, or outside the PQL constraint)."""

    reason = "empty-target"


class RequestInvalid(OrchestratorError):
    """PE's validation-error (either kind namespace): a parameter or the body is wrong."""

    reason = "validation"


class QueryError(OrchestratorError):
    """query-error: the scope's PQL is wrong, or the token's role may not run PuppetDB queries."""

    reason = "query"


class PuppetDBError(QueryError):
    """puppetdb-error: the orchestrator could not get an answer from PuppetDB for the scope."""

    reason = "puppetdb"


class JobNotFound(OrchestratorError):
    """GET of a job answered 404: normal for a moment right after its creation."""

    retryable = True
    reason = "job-not-found"


class TransientError(OrchestratorError):
    """Connection refused/reset, timeouts, 5xx, 429: trying again later may work.

    `retry_after`: the seconds the answer's Retry-After header asked for (None when it had none)."""

    retryable = True
    reason = "unreachable"
    retry_after = None  # type: Optional[float]


class ClientError(OrchestratorError):
    """The HTTP/TLS client failed before any answer (an unexpected exception of requests,
    urllib3 or ssl): not retried, reported with the exception's words."""

    reason = "client-error"


class ProtocolError(OrchestratorError):
    """The answer was not the JSON the API documents (a proxy page, a truncated body)."""

    retryable = True
    reason = "bad-answer"


class StartUnconfirmed(ProtocolError):
    """The orchestrator took the task request (a 2xx) but its answer names no readable job.

    Not retryable: the job most likely runs already, and sending the request again would
    run the task twice on the node. The caller reports it instead."""

    retryable = False
    reason = "start-unconfirmed"


# --- values ---------------------------------------------------------------------------


class Job(NamedTuple):
    name: str
    state: str
    node_count: int
    node_states: Dict[str, int]
    raw: Dict[str, Any]
    duration: Optional[float] = None   # seconds; PE sends it as a string ("256.0")

    @property
    def done(self) -> bool:
        return self.state in DONE_JOB_STATES


class NodeResult(NamedTuple):
    name: str
    state: str
    report: Optional[Dict[str, Any]]   # the task's own JSON object, if it printed one
    output: Optional[str]              # plain stdout when the task did not print a JSON object
    error: Optional[Dict[str, Any]]    # {"kind", "msg", "details"} when the node failed/errored
    duration: Optional[float]
    start_timestamp: Optional[str]
    finish_timestamp: Optional[str]

    @property
    def done(self) -> bool:
        return self.state in DONE_NODE_STATES


def normalize_node(item: Dict[str, Any]) -> NodeResult:
    """One item of GET /jobs/<name>/nodes, in any documented variant, as a NodeResult.

    A state PE may add later (or `stopping`) is kept as given, not refused: the caller
    decides by its own node only. Only an item without a name cannot be read.
    """
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise ProtocolError("The orchestrator returned a node entry without a name.")
    state = item.get("state")
    state = state.strip().lower()[:MAX_STATE_TEXT] if isinstance(state, str) and state.strip() else "unknown"
    result = item.get("result")
    report = output = error = None
    if isinstance(result, dict):
        err = result.get("_error")
        if isinstance(err, dict):
            error = _error_object(err)
        elif err is not None:
            error = _foreign_error(err)  # a task's own `_error` is passed through as is, even a non-object
        elif state in ("failed", "errored") and "msg" in result and "kind" in result:
            error = _error_object(result)  # older docs: the error object bare
            result = None
        elif state in ("failed", "errored") and isinstance(result.get("error"), str) and set(result) <= {
                "error", "_output", "output"}:
            # PE 2017-2018 docs: "Error output from a task": {"error": "Invalid task name 'package::status'"}
            error = {"kind": "unknown", "msg": result["error"] or "no message", "details": {}}
            result = {k: v for k, v in result.items() if k != "error"}
        if result is not None:
            # `_output: null` next to `_error` (a task that printed nothing) is no output
            result = {k: v for k, v in result.items() if not (k in ("_output", "output") and v is None)}
            for key in ("_output", "output"):
                if isinstance(result.get(key), str) and set(result) <= {key, "_error"}:
                    output = result[key] if result[key].strip() else None
                    report = _json_object(output) if output else None  # stdout PE wrapped although a JSON object
                    if report is not None:
                        output = None
                    break
            else:
                report = {k: v for k, v in result.items() if k != "_error"} or None
    elif isinstance(result, str):
        output = result
        report = _json_object(output)
        if report is not None:
            output = None
    elif isinstance(result, (list, int, float)) and not isinstance(result, bool) and result != []:
        output = json.dumps(result, ensure_ascii=False, default=str)  # not a documented shape: shown, not lost
    if report and "_sensitive" in report:
        report = dict(report, _sensitive=SENSITIVE_TEXT)  # the task spec's way to return a secret: never in a note
    if error is None and state == "errored":
        details = item.get("details") if isinstance(item.get("details"), dict) else {}
        msg = _text(details.get("message")) or _text(details.get("msg")) or \
            "The orchestrator could not run the task on %s." % item["name"]
        error = {"kind": "puppetlabs.orchestrator/execution-failure", "msg": msg, "details": details}
    if error is None and state == "failed":
        details = item.get("details") if isinstance(item.get("details"), dict) else {}
        msg = _text(details.get("message")) or "The task failed."
        error = {"kind": "puppetlabs.tasks/task-error", "msg": msg, "details": {}}
    return NodeResult(
        name=item["name"], state=state, report=report, output=output, error=error,
        duration=_seconds(item.get("duration")),
        start_timestamp=item.get("start_timestamp") if isinstance(item.get("start_timestamp"), str) else None,
        finish_timestamp=item.get("finish_timestamp") if isinstance(item.get("finish_timestamp"), str) else None,
    )


def _text(value: Any) -> Optional[str]:
    """A non-empty message string, or None."""
    return value if isinstance(value, str) and value.strip() else None


def _json_object(text: str) -> Optional[Dict[str, Any]]:
    """The JSON object a whole stdout text holds (surrounding spaces and a BOM allowed), else None."""
    text = text.strip().lstrip("\ufeff").strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _seconds(value: Any) -> Optional[float]:
    """A duration as PE sends it (a number, or a string such as "256.0") → float seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if number == number and abs(number) != float("inf") else None
    return None


def _error_object(err: Dict[str, Any]) -> Dict[str, Any]:
    """An error object in any shape PE or a task gives: a missing message is said from what there is."""
    details = err.get("details") if isinstance(err.get("details"), dict) else {}
    kind = str(err["kind"]) if err.get("kind") not in (None, "") else "unknown"
    msg = err.get("msg") if err.get("msg") not in (None, "") else err.get("message")
    if msg in (None, ""):
        code = details.get("exitcode", details.get("exit_code"))
        if isinstance(code, int) and not isinstance(code, bool):
            msg = "The task errored with a code %d" % code
        else:
            msg = "no message"
    elif not isinstance(msg, str):
        msg = json.dumps(msg, ensure_ascii=False, default=str)
    return {"kind": kind, "msg": msg, "details": details}


def _foreign_error(err: Any) -> Dict[str, Any]:
    """A task's `_error` that is not an object (a string, number, list): its text is the message."""
    text = err if isinstance(err, str) else json.dumps(err, ensure_ascii=False, default=str)
    return {"kind": "unknown", "msg": text or "no message", "details": {}}


# --- TLS ------------------------------------------------------------------------------


def load_ca(ca: str) -> str:
    """CA as PEM text, or a path to a PEM file → PEM text. Raises ConfigurationError."""
    if not isinstance(ca, str) or not ca.strip():
        raise ConfigurationError("No CA certificate is configured: paste the Puppet CA "
                                 "(/etc/puppetlabs/puppet/ssl/certs/ca.pem) into the settings.")
    if "-----BEGIN" not in ca:
        try:
            with open(ca.strip()) as fh:
                ca = fh.read()
        except OSError as exc:
            raise ConfigurationError("The CA certificate file %s cannot be read: %s" % (ca.strip()[:200], exc.strerror))
    make_ssl_context(ca)  # validates
    return ca


def make_ssl_context(ca_pem: str) -> ssl.SSLContext:
    """A context that trusts exactly the given CA(s) and checks the host name."""
    # Not create_default_context(): it loads the system CAs; only the Puppet CA may count.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    try:
        context.load_verify_locations(cadata=ca_pem)
    except (ssl.SSLError, ValueError, TypeError) as exc:
        raise ConfigurationError("The CA certificate is not a valid PEM certificate (%s)." % exc)
    if not context.get_ca_certs():
        raise ConfigurationError("The CA certificate holds no certificate.")
    return context


def _ip_context(ca_pem: str) -> Optional[ssl.SSLContext]:
    """The context for IP-literal hosts under urllib3 1.x (see PinnedCAAdapter)."""
    if URLLIB3_MAJOR >= 2:
        return None
    context = make_ssl_context(ca_pem)
    context.check_hostname = False  # urllib3 1.x checks the name (match_hostname) after the handshake
    return context


def _ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address((host or "").strip("[]"))
    except ValueError:
        return False
    return True


class PinnedCAAdapter(HTTPAdapter):
    """Verifies the peer against our SSLContext only (no CA bundle file, no disk).

    urllib3 1.x (Sentry 23.7.1's) sends no server name for an IP literal, and Python's
    TLS layer then refuses a context that checks host names (ValueError). For IP hosts
    under urllib3 1.x the context leaves the name check to urllib3 itself, which matches
    the certificate's IP address entries after the handshake; the chain is still
    verified against the Puppet CA only."""

    def __init__(self, ssl_context, ip_context=None, **kwargs):
        self._ssl_context = ssl_context
        self._ip_context = ip_context if URLLIB3_MAJOR < 2 else None
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["ssl_context"] = self._ssl_context
        return super().init_poolmanager(*args, **kwargs)

    def cert_verify(self, conn, url, verify, cert):
        # requests would add its public CA bundle to the context; keep only the Puppet CA.
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None
        if self._ip_context is not None and _ip_literal(conn.host):
            conn.conn_kw["ssl_context"] = self._ip_context
            conn.assert_hostname = None  # urllib3 matches the IP against the certificate


# --- the client -----------------------------------------------------------------------


class OrchestratorClient:
    """One requests Session per client; use as a context manager or call close()."""

    def __init__(self, url: str, token: str, ca: str, connect_timeout: float = 5.0,
                 read_timeout: float = 30.0, user_agent: str = "sentry-autodiag",
                 puppetdb_url: Optional[str] = None):
        self.base_url = normalize_base_url(url)
        # PE's PuppetDB, asked only by node_known(); by default the primary's port 8081.
        self.puppetdb_url = normalize_base_url(puppetdb_url, default_port=PUPPETDB_PORT, api_prefix="/pdb") \
            if puppetdb_url else "https://%s:%d" % (_host_of(self.base_url), PUPPETDB_PORT)
        token = (token or "").strip()
        if not token:
            raise ConfigurationError("No RBAC token is configured.")
        if any(c in token for c in "\r\n\0"):
            raise ConfigurationError("The RBAC token holds line breaks or NUL characters.")
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies or CA bundles from the environment
        self.session.headers.update({"X-Authentication": token, "Content-Type": "application/json",
                                     "Accept": "application/json", "User-Agent": user_agent})
        ca = load_ca(ca)
        self.session.mount("https://", PinnedCAAdapter(make_ssl_context(ca), _ip_context(ca), max_retries=0))

    def __repr__(self):
        return "OrchestratorClient(%r)" % self.base_url  # never the token

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.session.close()

    # API calls

    def run_task(self, task: str, params: Dict[str, Any], nodes: Optional[List[str]] = None,
                 query: Optional[str] = None, node_group: Optional[str] = None,
                 environment: str = "production", description: Optional[str] = None,
                 timeout: Optional[int] = None, userdata: Optional[Dict[str, Any]] = None,
                 noop: bool = False) -> str:
        """POST /command/task → the job name. `noop`: a dry run (the task must support it).

        `timeout` is a key only recent PE versions accept; a PE that answers validation-error
        naming it gets the request once more without it (the caller's own deadline still
        holds), and this orchestrator URL is remembered so later calls leave it out at once.
        `targets` (for agentless nodes) is sent, empty, only when a PE refuses the request
        naming it as missing.
        """
        scopes = {k: v for k, v in (("nodes", nodes), ("query", query), ("node_group", node_group)) if v is not None}
        if len(scopes) != 1:
            raise ValueError("give exactly one of nodes, query, node_group")
        body: Dict[str, Any] = {"environment": environment, "task": task, "params": params or {}, "scope": scopes}
        if description is not None:
            body["description"] = description
        if userdata is not None:
            body["userdata"] = userdata
        if noop:
            body["noop"] = True
        if timeout is not None and not self.refuses_timeout:
            body["timeout"] = int(timeout)
        answer = None
        for attempt in range(3):
            try:
                answer = self._request("POST", "/command/task", body, expect=(200, 201, 202))
                break
            except ProtocolError as exc:
                # an HTML page (a login or proxy page) never reached PE: that stays a bad answer
                if exc.status is not None and 200 <= exc.status < 300 and not exc.foreign:
                    raise StartUnconfirmed(
                        "The orchestrator accepted the task (HTTP %d) but its answer could not be read, so the "
                        "job's name is unknown: %s The job may be running; it was not started again, so that the "
                        "node does not run the task twice." % (exc.status, exc.message),
                        kind=exc.kind, status=exc.status, details=exc.details) from exc
                raise
            except RequestInvalid as exc:
                if attempt < 2 and "timeout" in body and _names_key(exc, "timeout"):
                    with _REFUSES_TIMEOUT_LOCK:
                        _REFUSES_TIMEOUT.add(self.base_url)
                    del body["timeout"]
                elif attempt < 2 and "targets" not in body and _names_key(exc, "targets"):
                    body["targets"] = []  # the newest docs list `targets` (agentless nodes only) as required
                else:
                    raise
        job = answer.get("job") if isinstance(answer, dict) else None
        name = _job_name(job) if isinstance(job, dict) else None
        if name is None:
            raise StartUnconfirmed("The orchestrator accepted the task but its answer names no job (expected "
                                   "{\"job\": {\"id\": …, \"name\": …}}, got %s). The job may be running; it "
                                   "was not started again, so that the node does not run the task twice."
                                   % _shape(answer))
        return name

    @property
    def refuses_timeout(self) -> bool:
        """True once this orchestrator URL refused the `timeout` key (an older PE)."""
        return self.base_url in _REFUSES_TIMEOUT

    def job(self, name: str) -> Job:
        """GET /jobs/<name>. A state PE may add later is kept and counts as not done, so the
        caller keeps polling until its own deadline instead of calling PE unreachable."""
        answer = self._request("GET", "/jobs/%s" % quote(str(name), safe=""), job_lookup=True)
        state = answer.get("state") if isinstance(answer, dict) else None
        if not isinstance(state, str) or not state.strip():
            raise ProtocolError("The orchestrator returned no job state for job %s (got %s)." % (name, _shape(answer)))
        answer["state"] = state.strip().lower()[:MAX_STATE_TEXT]
        states = answer.get("node_states") if isinstance(answer.get("node_states"), dict) else {}  # null: no nodes
        count = answer.get("node_count")
        return Job(str(name), answer["state"], count if isinstance(count, int) and not isinstance(count, bool) else 0,
                   {str(k): v for k, v in states.items() if isinstance(v, int) and not isinstance(v, bool)}, answer,
                   _seconds(answer.get("duration")))

    def job_nodes(self, name: str) -> List[NodeResult]:
        """Every readable node item of the job; an item that cannot be read is left out, not fatal."""
        return [n for page in self._node_pages(name) for n in (_readable(item) for item in page) if n is not None]

    def job_node(self, name: str, node: str) -> Optional[NodeResult]:
        """Our node's item of the job, or None when the list has none; other nodes' items are not read.

        Why: the list may hold other nodes in states or shapes this client does not know;
        only the diagnosed node's item decides the note. A paginated list is read page by page
        until the node is found. Certnames are lower case in Puppet: when no item has the exact
        name, the one item whose name differs only in case (or a trailing dot) is ours.
        """
        wanted = _fold(node)
        near = []  # type: List[Dict[str, Any]]
        for page in self._node_pages(name):
            for item in page:
                if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                    continue
                if item["name"] == node:
                    return normalize_node(item)
                if _fold(item["name"]) == wanted:
                    near.append(item)
        return normalize_node(near[0]) if len(near) == 1 else None

    def _node_pages(self, name: str) -> Iterator[List[Any]]:
        """The item lists of GET /jobs/<name>/nodes: one, or each page of a paginated answer.

        PE documents no pagination object for this endpoint but accepts limit/offset; an answer
        that carries {"pagination": {"limit", "offset", "total"}} (as GET /jobs does) with more
        items than it holds is followed with ?limit=&offset= (at most MAX_NODE_PAGES pages)."""
        path = "/jobs/%s/nodes" % quote(str(name), safe="")
        answer = self._request("GET", path, job_lookup=True)
        asked = None  # the offset of the page asked for last
        for _ in range(MAX_NODE_PAGES):
            items = answer if isinstance(answer, list) else answer.get("items") if isinstance(answer, dict) else None
            if not isinstance(items, list):
                raise ProtocolError("The orchestrator returned no node list for job %s (got %s)."
                                    % (name, _shape(answer)))
            if asked is not None and _page_offset(answer) not in (None, asked):
                return  # the server ignored limit/offset and answered another page again: no loop over it
            yield items
            following = _next_offset(answer, len(items))
            if following is None:
                return
            asked = following[1]
            answer = self._request("GET", "%s?limit=%d&offset=%d" % (path, following[0], asked), job_lookup=True)

    def stop(self, name: str, force: bool = False) -> Dict[str, int]:
        try:
            answer = self._request("POST", "/command/stop", {"job": str(name), "force": bool(force)},
                                   expect=(200, 202), job_lookup=True)
        except ProtocolError as exc:
            if exc.status is not None and 200 <= exc.status < 300 and not exc.foreign:
                return {}  # accepted (a 204, or a body a proxy dropped): the stop itself was taken
            raise
        job = answer.get("job") if isinstance(answer, dict) else None
        nodes = job.get("nodes") if isinstance(job, dict) else None
        return {str(k): v for k, v in nodes.items() if isinstance(v, int)} if isinstance(nodes, dict) else {}

    def task_info(self, task: str, environment: str = "production") -> Dict[str, Any]:
        """GET /tasks/<module>/<name>?environment=…: the task's metadata (proves token and task)."""
        module, _, name = task.partition("::")
        answer = self._request("GET", "/tasks/%s/%s?environment=%s" % (
            quote(module, safe=""), quote(name or "init", safe=""), quote(environment, safe="")))
        if not isinstance(answer, dict):
            raise ProtocolError("The orchestrator returned no task description.")
        return answer

    def inventory(self, nodes: List[str]) -> Dict[str, bool]:
        """POST /inventory → {certname: connected}; unknown nodes are not connected."""
        answer = self._request("POST", "/inventory", {"nodes": list(nodes)})
        items = answer.get("items") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise ProtocolError("The orchestrator returned no inventory list.")
        connected = {n: False for n in nodes}
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                connected[item["name"]] = item.get("connected") is True
        return connected

    def node_known(self, certname: str) -> Optional[bool]:
        """Does PE's PuppetDB hold an active node by this certname? None when PE cannot tell us.

        Why: for a `nodes` scope PE answers an unknown certname exactly like a node whose
        agent is down ("not connected to the PCP broker"); only PuppetDB knows which it is.
        The query (`nodes[certname] { certname = "…" }`, active nodes only) goes to
        PuppetDB's /pdb/query/v4 with the same RBAC token, which needs the permission
        "Nodes: View node data from PuppetDB" (nodes:view_data:*). A refused token, an
        unreachable PuppetDB or an odd answer all give None: never an error, never a guess.
        """
        if not isinstance(certname, str) or not certname or any(c in certname for c in '"\\\r\n\0'):
            return None
        query = 'nodes[certname] { certname = "%s" }' % certname
        url = self.puppetdb_url + "/pdb/query/v4"
        try:
            response = self.session.get(url, params={"query": query}, allow_redirects=False,
                                        timeout=(min(self.timeout[0], 5.0), min(self.timeout[1], 10.0)))
        except requests.exceptions.RequestException:
            return None
        if response.status_code != 200:
            return None  # 401/403: the role may not view PuppetDB data; others: PuppetDB cannot say
        try:
            rows = response.json()
        except ValueError:
            return None
        if not isinstance(rows, list):
            return None
        return any(isinstance(r, dict) and r.get("certname") == certname for r in rows)

    def puppetdb_refusal(self, query: str) -> Optional[str]:
        """PuppetDB's own words when it refuses (400) or fails on (500) a PQL query, None when it runs it.

        Why: PE's orchestrator hands a query scope to PuppetDB, so only PuppetDB can say whether
        a PQL constraint is valid; its query endpoint answers without starting a job. Raises
        OrchestratorError when PuppetDB cannot be asked (unreachable, TLS, token refused, odd answer).
        """
        url = self.puppetdb_url + "/pdb/query/v4"
        try:
            response = self.session.get(url, params={"query": query}, allow_redirects=False, timeout=self.timeout)
        except requests.exceptions.SSLError as exc:
            raise TLSError("PuppetDB's TLS certificate at %s does not verify against the configured CA (%s)."
                           % (self.puppetdb_url, _short(exc)))
        except requests.exceptions.RequestException as exc:
            raise TransientError("PuppetDB at %s is unreachable (%s)." % (self.puppetdb_url, _short(exc)))
        text = _body_text(response)
        if response.status_code == 400:
            return " ".join(text.split()) or "HTTP 400 without a message"
        if response.status_code == 500 and text.strip() and not _is_html(text):
            # PuppetDB fails on some queries its parser passed (e.g. a string escape JSON does not know)
            return "HTTP 500: %s" % " ".join(text.split())
        if response.status_code in (401, 403):
            raise AuthError("PuppetDB at %s refused the RBAC token (HTTP %d%s): its role needs the permission "
                            "Nodes: View node data from PuppetDB, which a PQL scope needs too."
                            % (self.puppetdb_url, response.status_code,
                               ", %s" % _short(_page_text(text)) if _page_text(text) else ""))
        if response.status_code != 200 or not text.lstrip().startswith("["):
            raise ProtocolError("PuppetDB at %s answered HTTP %d, not a query result: check the PuppetDB URL."
                                % (self.puppetdb_url, response.status_code), status=response.status_code)
        return None

    # plumbing

    def _request(self, method, path, body=None, expect=(200,), job_lookup=False):
        url = self.base_url + API_PREFIX + path
        try:
            response = self.session.request(method, url, data=None if body is None else json.dumps(body),
                                            timeout=self.timeout, allow_redirects=False)
        except requests.exceptions.SSLError as exc:
            raise TLSError("The orchestrator's TLS certificate does not verify against the configured CA "
                           "for host %s (%s). Check the URL's host name and the CA certificate."
                           % (urlsplit(self.base_url).hostname, _short(exc)))
        except requests.exceptions.Timeout:
            raise TransientError("The orchestrator at %s did not answer in time." % self.base_url)
        except requests.exceptions.ConnectionError as exc:
            raise TransientError("The orchestrator at %s is unreachable (%s)." % (self.base_url, _short(exc)))
        except requests.exceptions.RequestException as exc:
            raise TransientError("The request to the orchestrator failed (%s)." % _short(exc))
        except Exception as exc:  # the HTTP/TLS client itself failed: still a reason in words, never a traceback
            raise ClientError("The request to %s failed inside this worker's HTTP/TLS client before the orchestrator "
                              "answered (%s: %s)." % (self.base_url, type(exc).__name__, _short(exc)))
        status = response.status_code
        if status in expect or 200 <= status < 300:
            return _json_answer(status, response)
        raise error_from_response(status, _body_text(response), job_lookup=job_lookup, headers=response.headers)


def _json_answer(status: int, response: requests.Response) -> Any:
    """The JSON of a 2xx answer; a body that is not JSON is a ProtocolError that says what it was."""
    if not (response.content or b"").strip():
        raise ProtocolError("The orchestrator answered HTTP %d with an empty body where the API sends JSON (a proxy "
                            "or load balancer in front of it may have cut the answer off)." % status, status=status)
    text = _body_text(response)
    try:
        value = json.loads(text)
    except ValueError:
        page = _page_text(text)
        if _is_html(text):
            error = ProtocolError("The orchestrator URL answered HTTP %d with an HTML page%s, not JSON: a proxy, load "
                                  "balancer or login page answers instead of the orchestrator."
                                  % (status, " (%s)" % page if page else ""), status=status)
            error.foreign = True
            raise error
        if text.lstrip()[:1] in ("{", "["):
            raise ProtocolError("The orchestrator answered HTTP %d with a body that is not JSON: it is cut off or "
                                "malformed (%d bytes), as when the connection or a proxy in front of the orchestrator "
                                "drops part of the answer."
                                % (status, len(response.content)), status=status)
        raise ProtocolError("The orchestrator answered HTTP %d with a body that is not JSON%s."
                            % (status, " (%s)" % page if page else ""), status=status)
    if _is_pe_error(value):
        # an error object under a 2xx status (a proxy rewrote the status): PE's kind decides
        raise error_from_response(status, text, headers=response.headers)
    return value


def _body_text(response: requests.Response) -> str:
    """The body as text. JSON is UTF-8 (RFC 8259) whatever the Content-Type says: a proxy that labels
    it text/plain or text/html without a charset must not turn "°C" into "Â°C" (requests would
    decode such a body as ISO-8859-1). A leading BOM is dropped; other encodings fall back to requests."""
    try:
        return (response.content or b"").decode("utf-8-sig")
    except UnicodeDecodeError:
        return response.text


def _is_pe_error(value: Any) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("kind"), str) and value["kind"].startswith("puppetlabs.")
            and "msg" in value and not {"job", "items", "state", "name", "id"} & set(value))


def _is_html(text: str) -> bool:
    head = text.lstrip()[:512].lower() if isinstance(text, str) else ""
    return head.startswith("<") and any(tag in head for tag in ("<html", "<!doctype", "<head", "<body", "<title",
                                                                 "<h1", "<center"))


def _page_text(text: str) -> Optional[str]:
    """A few words from a non-JSON body: an HTML page's title (or first heading), or plain text."""
    if not isinstance(text, str) or not text.strip():
        return None
    if _is_html(text):
        for tag in ("title", "h1"):
            found = re.search(r"<%s[^>]*>(.*?)</%s\s*>" % (tag, tag), text, re.I | re.S)
            if found:
                words = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())
                if words:
                    return words[:120]
        return None
    return _short(text)[:200]


def _retry_after(headers: Any) -> Optional[float]:
    """Retry-After as seconds (a number or an HTTP date), bounded; None when absent or unreadable."""
    value = headers.get("Retry-After") if headers is not None else None
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    if seconds != seconds:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _safe_location(location: Any) -> str:
    """A redirect target without its query or credentials (a login URL may carry a session)."""
    if not isinstance(location, str) or not location.strip():
        return "an unnamed location"
    parts = urlsplit(location.strip())
    if parts.scheme and parts.hostname:
        try:
            port = ":%d" % parts.port if parts.port else ""
        except ValueError:
            port = ""
        return _short("%s://%s%s%s" % (parts.scheme, parts.hostname, port, parts.path))[:200]
    return _short(parts.path or "/")[:200]


STATUS_WORDS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
                429: "Too Many Requests"}


def error_from_response(status: int, text: str, job_lookup: bool = False, headers: Any = None) -> OrchestratorError:
    """Maps an HTTP error answer of the orchestrator to the typed error an admin can act on.

    `headers` (optional) gives Location for a redirect and Retry-After for 429/5xx. The error's
    `foreign` is True when the answer was an HTML page, i.e. not PE's JSON."""
    error = _error_from_response(status, text, job_lookup, headers)
    error.foreign = isinstance(text, str) and _is_html(text) or 300 <= status < 400 or status == 407
    return error


def _error_from_response(status: int, text: str, job_lookup: bool, headers: Any) -> OrchestratorError:
    kind, msg, details = None, None, {}
    body = None
    try:
        body = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        pass
    if isinstance(body, dict):
        kind = body.get("kind") if isinstance(body.get("kind"), str) and body.get("kind").strip() else None
        for key in ("msg", "message", "error"):
            if isinstance(body.get(key), str) and body[key].strip():
                msg = body[key]
                break
        details = body.get("details") if isinstance(body.get("details"), dict) else {}
    html_page = body is None and _is_html(text)
    if msg is None and body is None:
        msg = _page_text(text)  # RBAC answers text/plain with the message alone; a proxy an HTML page
    said = " (%s)" % _short(msg) if msg else ""
    args = dict(kind=kind, status=status, details=details)
    short_kind = (kind or "").rsplit("/", 1)[-1]
    if kind is None and status == 401 and msg and not html_page:
        lowered = msg.lower()
        short_kind = next((k for words, k in TOKEN_TEXTS if words in lowered), "")
        if short_kind:
            kind = args["kind"] = "puppetlabs.rbac/" + short_kind  # RBAC's text/plain answer is its msg alone
    if 300 <= status < 400:
        location = _safe_location(headers.get("Location") if headers is not None else None)
        return ConfigurationError(
            "The orchestrator URL answered with a redirect (HTTP %d to %s): the orchestrator API never redirects, so "
            "something in front of it (a proxy or single sign-on login page) answers instead. Point the URL at the "
            "orchestrator itself, https://<primary>:8143." % (status, location), **args)
    if status == 407:
        return ConfigurationError("A proxy between Sentry and the orchestrator demands its own authentication (HTTP "
                                  "407)%s. The plugin connects to the orchestrator directly: let Sentry's workers reach "
                                  "https://<primary>:8143 without that proxy." % said, **args)
    if status == 401 and (html_page or (kind is None and msg and not short_kind)):
        return AuthError("The orchestrator URL answered HTTP 401 with a page that is not PE's%s: a proxy in front of "
                         "the orchestrator may demand its own login, or PE refused the RBAC token. Check that the URL "
                         "points at https://<primary>:8143, and the token." % said, **args)
    if status == 401 or short_kind in TOKEN_ERROR_KINDS:
        what = {"token-expired": "has expired", "token-revoked": "was revoked",
                "user-revoked": "belongs to a user who was revoked in PE",
                "user-unauthenticated": "is missing (the request carried none)"}.get(short_kind, "was refused")
        action = {"user-revoked": "Reinstate the user in PE's access control or use a token of another user",
                  "user-unauthenticated": "Save the RBAC token in the plugin settings"}.get(
            short_kind, "Create a new long-lived token (puppet-access login --lifetime 1y) and save it in the "
                        "plugin settings")
        return AuthError("The orchestrator says the RBAC token %s%s. %s." % (what, said, action), **args)
    if short_kind in PERMISSION_KINDS:
        return NotPermitted("The RBAC role of this token may not run this task on this node%s. Give the role "
                            "the permission 'Tasks: Run tasks: diagnostics::collect' on the node group." % said, **args)
    if status == 403 and html_page:
        return AuthError("The orchestrator URL answered HTTP 403 with a page that is not PE's%s: a proxy or firewall "
                         "in front of the orchestrator refuses the request. Let Sentry's workers reach "
                         "https://<primary>:8143 directly." % said, **args)
    if status == 403:
        return AuthError("The orchestrator refused the RBAC token (403)%s. Check the token and its role." % said, **args)
    if short_kind == "unknown-environment":
        return UnknownEnvironment("The Puppet environment is unknown to the orchestrator%s. Check the "
                                  "environment in the plugin settings." % said, **args)
    if short_kind == "unknown-task":
        return UnknownTask("The task is not installed in that Puppet environment%s. Deploy the diagnostics "
                           "module to the environment's code." % said, **args)
    if short_kind == "empty-target":
        return EmptyTarget("No Puppet node matched%s: the host is unknown to PuppetDB or outside the "
                           "allowed scope." % said, **args)
    if short_kind == "puppetdb-error":
        return PuppetDBError("The orchestrator could not query PuppetDB for the node%s." % said, **args)
    if short_kind == "query-error":
        return QueryError("The orchestrator refused the node query%s." % said, **args)
    if short_kind in VALIDATION_KINDS:
        return RequestInvalid("The orchestrator rejected the request%s." % said, **args)
    if short_kind == "unknown-job" or (status == 404 and job_lookup):
        return JobNotFound("The orchestrator does not know the job%s: it may not be visible yet, or PE was "
                           "restarted or restored, or purged its job records." % said, **args)
    if status == 429 or status >= 500:
        retry_after = _retry_after(headers)
        words = STATUS_WORDS.get(status, "")
        if kind is None and (html_page or not msg) and status in (502, 503, 504):
            message = ("The orchestrator did not answer: a proxy or load balancer in front of it returned HTTP %d %s%s. "
                       "The orchestration service on the primary may be restarting or down." % (status, words, said))
        elif status == 429:
            message = "The orchestrator (or a proxy in front of it) is rate-limiting requests (HTTP 429)%s." % said
        else:
            message = "The orchestrator is unavailable (HTTP %d%s)%s." % (status, " " + words if words else "", said)
        if retry_after is not None:
            message += " It asked to retry after %d seconds." % round(retry_after)
        error = TransientError(message, **args)
        error.retry_after = retry_after
        return error
    if status == 404:
        return ConfigurationError("The orchestrator URL answers 404%s: check that it is the orchestrator "
                                  "(https://<primary>:8143)." % said, **args)
    return OrchestratorError("The orchestrator answered HTTP %d%s." % (status, said), **args)


def _job_name(job: Dict[str, Any]) -> Optional[str]:
    """The job's name from {"name": "1234"} or, failing that, its id URL (…/orchestrator/v1/jobs/1234).

    PE sends the name as a string; a number, surrounding spaces or a name given as the job's
    URL are read too. None when neither key names a job."""
    for key in ("name", "id"):
        value = job.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and value.strip():
            value = value.strip()
            if "/" in value:
                value = urlsplit(value).path.rstrip("/").rsplit("/", 1)[-1]
                value = "" if value in ("jobs", "v1", "orchestrator") else value  # a URL that names no job
            if value and not any(c in value for c in " \t\r\n"):
                return value
    return None


def _shape(value: Any) -> str:
    """A few words on what a JSON answer was, for a message (never its content)."""
    if isinstance(value, dict):
        keys = sorted(str(k) for k in value)[:6]
        return "an object with keys %s" % (", ".join(keys) if keys else "none")
    if isinstance(value, list):
        return "a JSON array of %d item(s)" % len(value)
    return "a JSON %s" % {str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def _names_key(exc: OrchestratorError, key: str) -> bool:
    """Does a validation error name this body key (in its message or its details)?"""
    try:
        details = json.dumps(exc.details)
    except (TypeError, ValueError):
        details = ""
    return key in (exc.message or "") or key in details


def _fold(certname: str) -> str:
    return certname.strip().rstrip(".").lower()


def _next_offset(answer: Any, count: int) -> Optional[Tuple[int, int]]:
    """(limit, offset) of the next page when a paginated answer says more items follow, else None."""
    page = answer.get("pagination") if isinstance(answer, dict) else None
    if not isinstance(page, dict) or count == 0:
        return None
    numbers = [page.get(k) for k in ("limit", "offset", "total")]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in numbers[1:]):
        return None
    limit, offset, total = numbers
    following = offset + count
    if following >= total:
        return None
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else count
    return limit, following


def _page_offset(answer: Any) -> Optional[int]:
    page = answer.get("pagination") if isinstance(answer, dict) else None
    offset = page.get("offset") if isinstance(page, dict) else None
    return offset if isinstance(offset, int) and not isinstance(offset, bool) else None


def _readable(item: Any) -> Optional[NodeResult]:
    try:
        return normalize_node(item)
    except ProtocolError:
        return None


def _host_of(base_url: str) -> str:
    host = urlsplit(base_url).hostname or ""
    return "[%s]" % host if ":" in host else host


def normalize_base_url(url: str, default_port: int = 8143, api_prefix: str = API_PREFIX) -> str:
    """https://host[:port][/orchestrator/v1] → https://host:port (no trailing slash)."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError("No orchestrator URL is configured.")
    parts = urlsplit(url.strip())
    if parts.scheme != "https":
        raise ConfigurationError("The orchestrator URL must start with https://.")
    if not parts.hostname or parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigurationError("The orchestrator URL must be https://<host>[:port] with nothing else.")
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError("The orchestrator URL has an invalid port.")
    path = parts.path.rstrip("/")
    if path not in ("", api_prefix):
        raise ConfigurationError("The orchestrator URL must be https://<host>[:port] (the API path is added).")
    host = "[%s]" % parts.hostname if ":" in parts.hostname else parts.hostname
    return "https://%s:%d" % (host, port or default_port)


def _short(value) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT] + "…"
