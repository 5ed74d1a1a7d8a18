"""Client for the Puppet Enterprise orchestrator API v1 (plain Python + requests).

Every answer PE can give becomes either a typed value or a typed OrchestratorError whose
`message` is fit for a Sentry note and whose `retryable` says whether trying again can
help. TLS is always verified against the CA the admin configured (and only that CA);
there is no switch to turn verification off. The token is sent as X-Authentication and
never logged or put in an error message.
"""
import json
import ssl
from typing import Any, Dict, List, NamedTuple, Optional
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

API_PREFIX = "/orchestrator/v1"
DONE_JOB_STATES = frozenset({"finished", "failed", "stopped"})
NODE_STATES = frozenset({"new", "ready", "running", "finished", "failed", "errored", "skipped", "stopped"})
DONE_NODE_STATES = frozenset({"finished", "failed", "errored", "skipped", "stopped"})
MAX_ERROR_TEXT = 300


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
    """PQL or PuppetDB failure for a scope query."""

    reason = "query"


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
    """One item of GET /jobs/<name>/nodes, in any documented variant, as a NodeResult."""
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise ProtocolError("The orchestrator returned a node entry without a name.")
    state = item.get("state")
    if state not in NODE_STATES:
        raise ProtocolError("The orchestrator returned an unknown node state %r." % (str(state)[:40],))
    result = item.get("result")
    report = output = error = None
    if isinstance(result, dict):
        err = result.get("_error")
        if isinstance(err, dict):
            error = _error_object(err)
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
    duration = item.get("duration")
    return NodeResult(
        name=item["name"], state=state, report=report, output=output, error=error,
        duration=float(duration) if isinstance(duration, (int, float)) and not isinstance(duration, bool) else None,
        start_timestamp=item.get("start_timestamp") if isinstance(item.get("start_timestamp"), str) else None,
        finish_timestamp=item.get("finish_timestamp") if isinstance(item.get("finish_timestamp"), str) else None,
    )


def _error_object(err: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "kind": str(err.get("kind") or "unknown"),
        "msg": str(err.get("msg") or err.get("message") or "no message"),
        "details": err.get("details") if isinstance(err.get("details"), dict) else {},
    }


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


class _PinnedCAAdapter(HTTPAdapter):
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
                 read_timeout: float = 30.0, user_agent: str = "sentry-autodiag"):
        self.base_url = normalize_base_url(url)
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
        self.session.mount("https://", _PinnedCAAdapter(make_ssl_context(load_ca(ca)), max_retries=0))

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
                 timeout: Optional[int] = None, userdata: Optional[Dict[str, Any]] = None) -> str:
        """POST /command/task → the job name."""
        scopes = {k: v for k, v in (("nodes", nodes), ("query", query), ("node_group", node_group)) if v is not None}
        if len(scopes) != 1:
            raise ValueError("give exactly one of nodes, query, node_group")
        body: Dict[str, Any] = {"environment": environment, "task": task, "params": params or {}, "scope": scopes}
        if description is not None:
            body["description"] = description
        if timeout is not None:
            body["timeout"] = int(timeout)
        if userdata is not None:
            body["userdata"] = userdata
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

    def job(self, name: str) -> Job:
        answer = self._request("GET", "/jobs/%s" % quote(str(name), safe=""), job_lookup=True)
        if not isinstance(answer, dict) or answer.get("state") not in {"new", "ready", "running", "stopping"} | DONE_JOB_STATES:
            raise ProtocolError("The orchestrator returned a job without a known state.")
        states = answer.get("node_states") if isinstance(answer.get("node_states"), dict) else {}
        count = answer.get("node_count")
        return Job(str(name), answer["state"], count if isinstance(count, int) else 0,
                   {str(k): v for k, v in states.items() if isinstance(v, int)}, answer)

    def job_nodes(self, name: str) -> List[NodeResult]:
        answer = self._request("GET", "/jobs/%s/nodes" % quote(str(name), safe=""), job_lookup=True)
        items = answer.get("items") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise ProtocolError("The orchestrator returned no node list for job %s." % name)
        return [normalize_node(item) for item in items]

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
    if status == 401 or short_kind in ("token-expired", "token-revoked", "invalid-token", "token-invalid"):
        what = "has expired" if short_kind == "token-expired" else "was refused"
        return AuthError("The orchestrator says the RBAC token %s%s. Create a new long-lived token "
                         "(puppet-access login --lifetime 1y) and save it in the plugin settings." % (what, said), **args)
    if status == 403:
        if short_kind == "not-permitted":
            return NotPermitted("The RBAC role of this token may not run this task on this node%s. Give the "
                                "role the permission 'Tasks: run diagnostics::collect' on the node group." % said, **args)
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
    if short_kind in ("query-error", "puppetdb-error"):
        return QueryError("The node query failed%s." % said, **args)
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


def normalize_base_url(url: str) -> str:
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
    if path not in ("", API_PREFIX):
        raise ConfigurationError("The orchestrator URL must be https://<host>[:port] (the API path is added).")
    host = "[%s]" % parts.hostname if ":" in parts.hostname else parts.hostname
    return "https://%s:%d" % (host, port or 8143)


def _short(value) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT] + "…"
