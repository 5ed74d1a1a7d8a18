"""The real PuppetDB behind the local orchestrator: PQL queries, and the commands that feed it.

PE's orchestrator resolves a `query` scope by asking PuppetDB, and PE's PuppetDB answers the
node lookups. The local orchestrator does both against Debian's PuppetDB 7.12 (started by
scripts/puppetdb.sh on 127.0.0.1, cleartext: the TLS and token side of PE is the local
orchestrator's own HTTPS listener), so every PQL string of the tests and the demo is parsed and
evaluated by PuppetDB itself and its errors are PuppetDB's own words. Nodes get there as
PuppetDB learns them from Puppet: `replace facts` commands (POST /pdb/cmd/v1); they leave it
by `deactivate node`, by expiry (node-ttl, run at once with the admin "clean" command) or
by deletion.
"""
import datetime
import os
import re
import subprocess
import threading
from typing import Any, Dict, Iterable, List, Optional

import requests

PORT = int(os.environ.get("AUTODIAG_PUPPETDB_PORT") or 8080)
DEFAULT_URL = os.environ.get("AUTODIAG_PUPPETDB_URL") or "http://127.0.0.1:%d" % PORT
SCRIPT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "puppetdb.sh"))
PRODUCER = "localorch"
Facts = Dict[str, Any]


class PuppetDBError(Exception):
    """PuppetDB could not be asked, or answered something it should not."""


class QueryError(PuppetDBError):
    """PuppetDB refused the query (HTTP 400); the message is PuppetDB's own text."""


def timestamp(when: Optional[datetime.datetime] = None) -> str:
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


class PuppetDB:
    """A small client of PuppetDB's query, command, admin and status APIs. Thread-safe: one
    loopback connection per call (the orchestrator's handler threads share one client)."""

    def __init__(self, url: str = DEFAULT_URL, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method, path, **kw) -> requests.Response:
        try:
            return requests.request(method, self.url + path, timeout=kw.pop("timeout", self.timeout), **kw)
        except requests.exceptions.RequestException as exc:
            raise PuppetDBError("PuppetDB at %s is unreachable (%s)" % (self.url, exc))

    def running(self) -> bool:
        try:
            answer = self._call("GET", "/status/v1/services/puppetdb-status", timeout=3)
            return answer.status_code == 200 and answer.json().get("state") == "running"
        except (PuppetDBError, ValueError, AttributeError):
            return False

    def query(self, pql: str) -> List[Any]:
        """The rows PuppetDB answers for a PQL (or AST) query; QueryError carries its refusal."""
        answer = self._call("GET", "/pdb/query/v4", params={"query": pql})
        if answer.status_code == 400:
            raise QueryError(answer.text.strip())
        if answer.status_code != 200:
            raise PuppetDBError("PuppetDB answered HTTP %d: %s" % (answer.status_code, answer.text.strip()[:300]))
        return answer.json()

    def raw_query(self, params: Dict[str, Any]) -> requests.Response:
        """The query endpoint's answer, unchanged (for a proxy)."""
        return self._call("GET", "/pdb/query/v4", params=params)

    def command(self, command: str, version: int, certname: str, payload: Dict[str, Any],
                producer_timestamp: Optional[str] = None, wait: int = 30) -> None:
        """Submits a command and waits until PuppetDB has processed it."""
        params = {"command": command, "version": version, "certname": certname,
                  "secondsToWaitForCompletion": wait}
        if producer_timestamp:
            params["producer-timestamp"] = producer_timestamp
        answer = self._call("POST", "/pdb/cmd/v1", params=params, json=payload, timeout=wait + 10)
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code != 200 or not body.get("processed") or body.get("error"):
            raise PuppetDBError("PuppetDB did not process %s for %s: HTTP %d %s"
                                % (command, certname, answer.status_code, body.get("error") or answer.text[:300]))

    def replace_facts(self, certname: str, facts: Facts, environment: str = "production",
                      when: Optional[datetime.datetime] = None) -> None:
        stamp = timestamp(when)
        self.command("replace_facts", 5, certname, {
            "certname": certname, "environment": environment, "producer_timestamp": stamp,
            "producer": PRODUCER, "values": facts}, producer_timestamp=stamp)

    def deactivate(self, certname: str) -> None:
        """`puppet node deactivate`: PuppetDB's queries leave the node out from now on."""
        stamp = timestamp()
        self.command("deactivate_node", 3, certname, {"certname": certname, "producer_timestamp": stamp},
                     producer_timestamp=stamp)

    def delete(self, certname: str) -> None:
        """Forgets the node entirely (`puppet node purge`): never seen, as far as PuppetDB can tell."""
        answer = self._call("POST", "/pdb/admin/v1/cmd",
                            json={"command": "delete", "version": 1, "payload": {"certname": certname}})
        if answer.status_code != 200:
            raise PuppetDBError("PuppetDB refused to delete %s: HTTP %d %s" % (certname, answer.status_code, answer.text))

    def expire(self, certname: str, facts: Optional[Facts] = None) -> None:
        """A node that stopped checking in: its last facts are older than node-ttl (7 days), and
        PuppetDB's own expiry (the garbage collection `expire_nodes`, run now) expires it."""
        self.delete(certname)  # a newer fact set would be kept over the old one
        old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30)
        self.replace_facts(certname, facts if facts is not None else default_facts(certname), when=old)
        answer = self._call("POST", "/pdb/admin/v1/cmd",
                            json={"command": "clean", "version": 1, "payload": ["expire_nodes"]})
        if answer.status_code != 200:
            raise PuppetDBError("PuppetDB did not run expire_nodes: HTTP %d %s" % (answer.status_code, answer.text))

    def node_state(self, certname: str) -> Optional[str]:
        """"active", "deactivated", "expired", or None when PuppetDB never saw it."""
        rows = self.query('nodes[certname, deactivated, expired] { node_state = "any" and certname = %s }'
                          % pql_string(certname))
        if not rows:
            return None
        return "deactivated" if rows[0]["deactivated"] else "expired" if rows[0]["expired"] else "active"


def pql_string(value: str) -> str:
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


_started = set()
_start_lock = threading.Lock()


def ensure_running(url: str = DEFAULT_URL) -> None:
    """Starts the project's PuppetDB (scripts/puppetdb.sh) unless it answers; once per process.

    The script is idempotent and locks, so concurrent test processes share one PuppetDB."""
    with _start_lock:
        if url in _started:
            return
        db = PuppetDB(url)
        if not db.running():
            if url != DEFAULT_URL or not os.path.exists(SCRIPT):
                raise PuppetDBError("PuppetDB does not answer at %s" % url)
            result = subprocess.run([SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    universal_newlines=True)
            if result.returncode != 0 or not db.running():
                raise PuppetDBError("scripts/puppetdb.sh could not start PuppetDB:\n%s" % result.stdout[-2000:])
        _started.add(url)


def default_facts(certname: str, family: Optional[str] = None) -> Facts:
    """A small, plausible fact set for a test node (RedHat unless the name says Debian/Ubuntu)."""
    short, _, domain = certname.partition(".")
    if family is None:
        family = "Debian" if re.search(r"deb|ubuntu", certname) else "RedHat"
    name, release = ("Debian", "12") if family == "Debian" else ("RedHat", "9")
    return {
        "kernel": "Linux",
        "os": {"family": family, "name": name, "release": {"major": release, "full": release + ".0"}},
        "networking": {"hostname": short, "domain": domain, "fqdn": certname},
        "processors": {"count": 2},
        "memory": {"system": {"total_bytes": 4 * 1024 ** 3}},
        "clientcert": certname,
    }


def submit_nodes(db: PuppetDB, facts: Dict[str, Facts], environment: str = "production") -> None:
    for certname, values in facts.items():
        db.replace_facts(certname, values, environment)


def certnames(rows: Iterable[Any]) -> List[str]:
    """The distinct certnames of query rows, in order; rows without one are skipped."""
    seen: Dict[str, None] = {}
    for row in rows:
        if isinstance(row, dict) and isinstance(row.get("certname"), str):
            seen.setdefault(row["certname"], None)
    return list(seen)
