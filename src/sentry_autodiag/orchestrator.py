"""Client for the Puppet Enterprise orchestrator API v1 (plain Python + requests).

Every answer PE can give becomes either a typed value or a typed OrchestratorError whose
`message` is fit for a Sentry note and whose `retryable` says whether trying again can
help. TLS is always verified against the CA the admin configured (and only that CA);
there is no switch to turn verification off. The token is sent as X-Authentication and
never logged or put in an error message.
"""
import json
import ssl
import threading
from typing import Any, Dict, List, NamedTuple, Optional, Set
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

API_PREFIX = "/orchestrator/v1"
PUPPETDB_PORT = 8081             # PE's PuppetDB; it takes the same RBAC token as the orchestrator
DONE_JOB_STATES = frozenset({"finished", "failed", "stopped"})
# The node states PE documents; an item in any other state is kept as is, never an error.
NODE_STATES = frozenset({"new", "ready", "running", "stopping", "finished", "failed", "errored", "skipped",
                         "stopped"})
DONE_NODE_STATES = frozenset({"finished", "failed", "errored", "skipped", "stopped"})
MAX_ERROR_TEXT = 300
MAX_STATE_TEXT = 40
# Token problems PE answers with (clj-rbac-client): all mean "this token cannot be used".
TOKEN_ERROR_KINDS = frozenset({"token-expired", "token-revoked", "invalid-token", "token-invalid", "user-revoked",
                               "user-unauthenticated"})

# Base URLs of orchestrators that refused the `timeout` key of POST /command/task (an older PE):
# remembered for the life of the process, so later diagnoses do not pay for the refusal again.
_REFUSES_TIMEOUT: Set[str] = set()
_REFUSES_TIMEOUT_LOCK = threading.Lock()


# --- errors ---------------------------------------------------------------------------


class OrchestratorError(Exception):
    """Base: `message` is for humans (a Sentry note), `kind` is PE's error kind if any."""

    retryable = False
    reason = "orchestrator-error"

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
    """Connection refused/reset, timeouts, 5xx, 429: trying again later may work."""

    retryable = True
    reason = "unreachable"


class ProtocolError(OrchestratorError):
    """The answer was not the JSON the API documents (a proxy page, a truncated body)."""

    retryable = True
    reason = "bad-answer"


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
    state = state[:MAX_STATE_TEXT] if isinstance(state, str) and state else "unknown"
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
        if result is not None:
            for key in ("_output", "output"):
                if isinstance(result.get(key), str) and set(result) <= {key, "_error"}:
                    output = result[key]
                    break
            else:
                report = {k: v for k, v in result.items() if k != "_error"} or None
    elif isinstance(result, str):
        output = result
    if error is None and state == "errored":
        details = item.get("details") if isinstance(item.get("details"), dict) else {}
        msg = details.get("message") or details.get("msg") or "The orchestrator could not run the task on %s." % item["name"]
        error = {"kind": "puppetlabs.orchestrator/execution-failure", "msg": str(msg), "details": details}
    if error is None and state == "failed":
        error = {"kind": "puppetlabs.tasks/task-error", "msg": "The task failed.", "details": {}}
    return NodeResult(
        name=item["name"], state=state, report=report, output=output, error=error,
        duration=_seconds(item.get("duration")),
        start_timestamp=item.get("start_timestamp") if isinstance(item.get("start_timestamp"), str) else None,
        finish_timestamp=item.get("finish_timestamp") if isinstance(item.get("finish_timestamp"), str) else None,
    )


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
    return {
        "kind": str(err.get("kind") or "unknown"),
        "msg": str(err.get("msg") or err.get("message") or "no message"),
        "details": err.get("details") if isinstance(err.get("details"), dict) else {},
    }


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


class PinnedCAAdapter(HTTPAdapter):
    """Verifies the peer against our SSLContext only (no CA bundle file, no disk)."""

    def __init__(self, ssl_context, **kwargs):
        self._ssl_context = ssl_context
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["ssl_context"] = self._ssl_context
        return super().init_poolmanager(*args, **kwargs)

    def cert_verify(self, conn, url, verify, cert):
        # requests would add its public CA bundle to the context; keep only the Puppet CA.
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None


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
        self.session.mount("https://", PinnedCAAdapter(make_ssl_context(load_ca(ca)), max_retries=0))

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
        try:
            answer = self._request("POST", "/command/task", body, expect=(200, 201, 202))
        except RequestInvalid as exc:
            if "timeout" not in body or not _names_key(exc, "timeout"):
                raise
            with _REFUSES_TIMEOUT_LOCK:
                _REFUSES_TIMEOUT.add(self.base_url)
            del body["timeout"]
            answer = self._request("POST", "/command/task", body, expect=(200, 201, 202))
        job = answer.get("job") if isinstance(answer, dict) else None
        if not isinstance(job, dict):
            raise ProtocolError("The orchestrator accepted the task but its answer names no job.")
        name = job.get("name")
        if name is None and isinstance(job.get("id"), str):
            name = job["id"].rstrip("/").rsplit("/", 1)[-1]
        if isinstance(name, bool) or not isinstance(name, (str, int)) or not str(name).strip():
            raise ProtocolError("The orchestrator accepted the task but its answer names no job.")
        return str(name)

    @property
    def refuses_timeout(self) -> bool:
        """True once this orchestrator URL refused the `timeout` key (an older PE)."""
        return self.base_url in _REFUSES_TIMEOUT

    def job(self, name: str) -> Job:
        """GET /jobs/<name>. A state PE may add later is kept and counts as not done, so the
        caller keeps polling until its own deadline instead of calling PE unreachable."""
        answer = self._request("GET", "/jobs/%s" % quote(str(name), safe=""), job_lookup=True)
        if not isinstance(answer, dict) or not isinstance(answer.get("state"), str) or not answer["state"]:
            raise ProtocolError("The orchestrator returned a job without a state.")
        answer["state"] = answer["state"][:MAX_STATE_TEXT]
        states = answer.get("node_states") if isinstance(answer.get("node_states"), dict) else {}  # null: no nodes
        count = answer.get("node_count")
        return Job(str(name), answer["state"], count if isinstance(count, int) and not isinstance(count, bool) else 0,
                   {str(k): v for k, v in states.items() if isinstance(v, int)}, answer,
                   _seconds(answer.get("duration")))

    def job_nodes(self, name: str) -> List[NodeResult]:
        """Every readable node item of the job; an item that cannot be read is left out, not fatal."""
        return [n for n in (_readable(item) for item in self._node_items(name)) if n is not None]

    def job_node(self, name: str, node: str) -> Optional[NodeResult]:
        """Our node's item of the job, or None when the list has none; other nodes' items are not read.

        Why: the list may hold other nodes in states or shapes this client does not know;
        only the diagnosed node's item decides the note.
        """
        for item in self._node_items(name):
            if isinstance(item, dict) and item.get("name") == node:
                return normalize_node(item)
        return None

    def _node_items(self, name: str) -> List[Any]:
        answer = self._request("GET", "/jobs/%s/nodes" % quote(str(name), safe=""), job_lookup=True)
        items = answer.get("items") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise ProtocolError("The orchestrator returned no node list for job %s." % name)
        return items

    def stop(self, name: str, force: bool = False) -> Dict[str, int]:
        answer = self._request("POST", "/command/stop", {"job": str(name), "force": bool(force)},
                               expect=(200, 202), job_lookup=True)
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
        if response.status_code in expect:
            try:
                return response.json()
            except ValueError:
                raise ProtocolError("The orchestrator answered %s with a body that is not JSON."
                                    % response.status_code, status=response.status_code)
        raise error_from_response(response.status_code, response.text, job_lookup=job_lookup)


def error_from_response(status: int, text: str, job_lookup: bool = False) -> OrchestratorError:
    """Maps an HTTP error answer of the orchestrator to the typed error an admin can act on."""
    kind, msg, details = None, None, {}
    try:
        body = json.loads(text)
        if isinstance(body, dict):
            kind = body.get("kind") if isinstance(body.get("kind"), str) else None
            msg = body.get("msg") if isinstance(body.get("msg"), str) else None
            details = body.get("details") if isinstance(body.get("details"), dict) else {}
    except ValueError:
        pass
    said = " (%s)" % _short(msg) if msg else ""
    args = dict(kind=kind, status=status, details=details)
    short_kind = (kind or "").rsplit("/", 1)[-1]
    if status == 401 or short_kind in TOKEN_ERROR_KINDS:
        what = {"token-expired": "has expired", "token-revoked": "was revoked",
                "user-revoked": "belongs to a user who was revoked in PE",
                "user-unauthenticated": "is missing (the request carried none)"}.get(short_kind, "was refused")
        action = {"user-revoked": "Reinstate the user in PE's access control or use a token of another user",
                  "user-unauthenticated": "Save the RBAC token in the plugin settings"}.get(
            short_kind, "Create a new long-lived token (puppet-access login --lifetime 1y) and save it in the "
                        "plugin settings")
        return AuthError("The orchestrator says the RBAC token %s%s. %s." % (what, said, action), **args)
    if short_kind == "not-permitted":
        return NotPermitted("The RBAC role of this token may not run this task on this node%s. Give the role "
                            "the permission 'Tasks: Run tasks: diagnostics::collect' on the node group." % said, **args)
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
    if short_kind == "validation-error":
        return RequestInvalid("The orchestrator rejected the request%s." % said, **args)
    if status == 404 and job_lookup:
        return JobNotFound("The orchestrator does not know the job (yet).", **args)
    if status == 429 or status >= 500:
        return TransientError("The orchestrator is unavailable (HTTP %d)%s." % (status, said), **args)
    if status == 404:
        return ConfigurationError("The orchestrator URL answers 404%s: check that it is the orchestrator "
                                  "(https://<primary>:8143)." % said, **args)
    return OrchestratorError("The orchestrator answered HTTP %d%s." % (status, said), **args)


def _names_key(exc: OrchestratorError, key: str) -> bool:
    """Does a validation error name this body key (in its message or its details)?"""
    try:
        details = json.dumps(exc.details)
    except (TypeError, ValueError):
        details = ""
    return key in (exc.message or "") or key in details


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
