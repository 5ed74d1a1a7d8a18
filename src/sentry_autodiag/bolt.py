"""The Bolt runner: the diagnosis task through Puppet Bolt (or OpenBolt) instead of PE's orchestrator.

Open-source Puppet and OpenVox have no orchestrator API; their task runner is Bolt, a
command (`bolt task run ... --format json`) that reaches nodes over SSH with the
inventory, transport and credentials of the admin's Bolt project. `BoltClient` offers the
orchestrator client's interface (start → job id, job → state, job_node → the node's
result, stop), so the flow follows a Bolt run as it follows a PE job:

- `run_task` starts Bolt detached (its own session, reparented to init) writing its JSON
  to a file under the state directory, and returns at once: no worker waits on it;
- the exit status lands in a file when Bolt ends; `timeout` ends Bolt at the job timeout;
  the file-size limit (`ulimit -f`) bounds its output;
- `job`/`job_node` read Bolt's documented JSON (items[].{target, action, object, status,
  value}, a top-level `_error`), and turn each way it can fail into an OrchestratorError
  or a node error that the notes explain in Bolt's terms.

The job lives on the host that started it: all workers that run the flow's steps must see
the same state directory (one worker host, or a shared filesystem).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from . import orchestrator as oc

JOB_PREFIX = "bolt-"
JOB_NAME = re.compile(r"\Abolt-[0-9a-f]{32}\Z")
# A Bolt target name as the flow hands it (targeting.py already refused the rest): never a
# list (","), a glob ("*"), a file ("@...") or an option ("-...").
TARGET = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,252}\Z")
MAX_OUTPUT = 20 * 1024 * 1024     # bytes of Bolt's stdout (the task's report is at most 16 MiB)
MAX_STDERR = 64 * 1024            # bytes of stderr shown in a note
KILL_GRACE = 10                   # seconds between TERM and KILL at the timeout
TIMEOUT_EXIT = (124, 137)         # timeout(1): timed out; killed after the grace
STATE_TTL = 24 * 3600             # job directories older than this are removed by the next start
CHECK_TIMEOUT = 60                # seconds for the check's `bolt --version` / `bolt command run true`

# The detached run: timeout bounds its time, ulimit -f (512-byte blocks) its output; the
# exit status is written last, atomically. $1 = timeout, $2 = blocks, the rest = Bolt's argv.
_RUN = ('t=$1; blocks=$2; shift 2; '
        '( ulimit -f "$blocks"; timeout --foreground -k %d "$t" "$@" >stdout 2>stderr </dev/null; '
        'echo $? >rc.part; mv rc.part rc ) >/dev/null 2>&1 & echo $! >pid' % KILL_GRACE)

# Bolt's connection failures (kind puppetlabs.tasks/connect-error, by issue_code or message):
# the note's headline and what to do.
CONNECT_NOTES = {
    "host-key": ("host key unknown",
                 "Bolt does not know (or no longer trusts) this node's SSH host key. As the user the Sentry "
                 "workers run as, add the node's key to that user's ~/.ssh/known_hosts (ssh-keyscan, checked "
                 "against the node's real key), or fix the changed key; do not turn host-key-check off."),
    "auth": ("authentication refused",
             "The node refused Bolt's SSH login: check the user and private-key of this target in the Bolt "
             "project's inventory.yaml, and that the key is in the node's authorized_keys."),
    "unreachable": ("node unreachable over SSH",
                    "Bolt could not open an SSH connection to the node: check that the node is up, that its "
                    "host name or the inventory's uri resolves from the Sentry workers, and that sshd listens "
                    "on the inventory's port. That itself may be the incident."),
}
UNKNOWN_TASK_HINT = ("Put the diagnostics module in the Bolt project's modulepath (modules/diagnostics, or "
                     "`bolt module add`), or fix the task name in the settings.")
PARAMS_HINT = ("Bolt refused the task's parameters against its metadata: check the log path and log lines in "
               "the settings, and that the project holds the diagnostics module version this plugin expects.")
OUTPUT_HINT = ("The Bolt binary setting must name Bolt itself (or a wrapper that passes its stdout through "
               "unchanged); run the same command as the workers' user to see what it prints.")
LOST_HINT = ("Every worker that follows a Bolt run must see the Bolt state directory of the host that started it "
             "(one worker host, or a shared directory).")


class BoltError(oc.OrchestratorError):
    """A Bolt run that gave no node result; `headline` and `hint` are the note's own words."""

    reason = "bolt-error"
    headline = "Bolt run failed"
    hint = None  # type: Optional[str]

    def __init__(self, message, kind=None, details=None, headline=None, hint=None):
        super().__init__(message, kind=kind, details=details)
        if headline:
            self.headline = headline
        if hint:
            self.hint = hint


class BoltTimeout(BoltError):
    reason = "timeout"
    headline = "timed out"


class BoltOutputError(BoltError):
    reason = "bad-answer"
    headline = "unreadable Bolt output"
    hint = OUTPUT_HINT


class BoltJobLost(BoltError):
    reason = "job-not-found"
    headline = "job lost"
    hint = LOST_HINT


class Run(NamedTuple):
    """What a finished Bolt run said: its exit status and JSON items, by target."""
    rc: int
    items: Dict[str, Dict[str, Any]]
    target_count: int
    elapsed: Optional[float]


class BoltClient:
    """The orchestrator client's interface over `bolt task run` subprocesses (see module doc)."""

    def __init__(self, binary: str, project: str, state_dir: str, max_output: int = MAX_OUTPUT):
        self.binary = binary
        self.project = project
        self.state_dir = state_dir
        self.max_output = max_output
        self._runs = {}  # type: Dict[str, Run]

    def __repr__(self):
        return "BoltClient(%r, project=%r)" % (self.binary, self.project)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._runs.clear()

    # --- starting -------------------------------------------------------------------

    def run_task(self, task: str, params: Dict[str, Any], nodes: Optional[List[str]] = None,
                 query: Optional[str] = None, environment: str = "production", timeout: Optional[int] = None,
                 description: Optional[str] = None, userdata: Optional[Dict[str, Any]] = None,
                 noop: bool = False, **_ignored) -> str:
        """Starts Bolt on one node, detached; returns the job name at once."""
        if query is not None:
            raise oc.ConfigurationError("A PQL scope constraint needs the PE runner: Bolt targets nodes by its "
                                        "inventory. Clear the PQL scope setting for the Bolt runner.")
        if not nodes or len(nodes) != 1 or not TARGET.match(nodes[0]):
            raise oc.ConfigurationError("The Bolt runner takes exactly one plain node name, got %r." % (nodes,))
        self._check_paths()
        name = JOB_PREFIX + uuid.uuid4().hex
        jobdir = os.path.join(self.state_dir, name)
        argv = [self.binary, "task", "run", task, "--targets", nodes[0], "--format", "json",
                "--params", json.dumps(params, separators=(",", ":")), "--project", self.project,
                "--no-save-rerun"] + (["--noop"] if noop else [])
        try:
            os.makedirs(jobdir, mode=0o700)
            with open(os.path.join(jobdir, "job.json"), "w") as f:
                json.dump({"argv": argv, "node": nodes[0], "started": time.time(), "timeout": timeout,
                           "description": description, "userdata": userdata}, f)
            blocks = -(-self.max_output // 512)
            starter = subprocess.Popen(["sh", "-c", _RUN, "sh", str(int(timeout or 3600)), str(blocks)] + argv,
                                       cwd=jobdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
            if starter.wait(timeout=30) != 0 or not os.path.exists(os.path.join(jobdir, "pid")):
                raise oc.ConfigurationError("Bolt could not be started from %s." % jobdir)
        except (OSError, subprocess.SubprocessError) as exc:
            raise oc.ConfigurationError("Bolt could not be started (state directory %s): %s" % (
                self.state_dir, exc))
        # the starter shell (the session leader) has exited: its group id still names the run
        with open(os.path.join(jobdir, "pgid"), "w") as f:
            f.write(str(starter.pid))
        self._sweep()
        return name

    def _check_paths(self) -> None:
        if not (os.path.isfile(self.binary) and os.access(self.binary, os.X_OK)):
            raise oc.ConfigurationError("The Bolt binary %s does not exist or is not executable by the worker's "
                                        "user." % self.binary)
        if not os.path.isdir(self.project):
            raise oc.ConfigurationError("The Bolt project directory %s does not exist." % self.project)

    def _sweep(self) -> None:
        """Removes finished job directories older than STATE_TTL (best effort)."""
        cutoff = time.time() - STATE_TTL
        try:
            for entry in os.scandir(self.state_dir):
                if JOB_NAME.match(entry.name) and entry.stat().st_mtime < cutoff and \
                        os.path.exists(os.path.join(entry.path, "rc")):
                    shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            pass

    # --- following ------------------------------------------------------------------

    def _dir(self, name: str) -> str:
        if not JOB_NAME.match(str(name)):
            raise BoltJobLost("%r is not a Bolt job name." % (name,))
        path = os.path.join(self.state_dir, name)
        if not os.path.isdir(path):
            raise BoltJobLost("The Bolt run %s is not in the state directory %s of this host." % (
                name, self.state_dir))
        return path

    def job(self, name: str) -> oc.Job:
        """The run's state: running, or done (finished/failed/stopped) with its output read.

        A run that gave no node result (Bolt refused it, timed out, printed no JSON) raises
        a BoltError the note explains."""
        path = self._dir(name)
        rc = _read_int(os.path.join(path, "rc"))
        if os.path.exists(os.path.join(path, "stopped")) and rc != 0:
            return oc.Job(name, "stopped", 1, {"stopped": 1}, {})
        if rc is None:
            if _alive(_read_int(os.path.join(path, "pgid"))):
                return oc.Job(name, "running", 1, {"running": 1}, {})
            rc = _read_int(os.path.join(path, "rc"))  # it may have ended between the two looks
            if rc is None:
                raise BoltError("Bolt ended without an exit status (killed, or the worker host restarted).",
                                hint=LOST_HINT)
        run = self._read(path, rc)
        self._runs[name] = run
        return oc.Job(name, "finished" if rc == 0 else "failed", run.target_count,
                      {"finished" if rc == 0 else "failed": run.target_count}, {}, duration=run.elapsed)

    def _read(self, path: str, rc: int) -> Run:
        meta = _read_json_file(os.path.join(path, "job.json")) or {}
        stderr = _tail(os.path.join(path, "stderr"), MAX_STDERR)
        if rc in TIMEOUT_EXIT:
            raise BoltTimeout("Bolt did not finish within the job timeout of %s seconds and was stopped."
                              % meta.get("timeout"), hint="Raise the Job timeout in the settings if the task "
                              "legitimately needs longer, or check the node and its SSH connection.")
        with open(os.path.join(path, "stdout"), "rb") as f:
            data = f.read(self.max_output + 1)
        if len(data) >= self.max_output or rc == 128 + signal.SIGXFSZ:
            raise BoltOutputError("Bolt's output exceeded the limit of %d bytes; it was cut off." % self.max_output)
        return parse_output(data, rc, stderr)

    def job_node(self, name: str, node: str) -> Optional[oc.NodeResult]:
        run = self._runs.get(name)
        if run is None:
            if not self.job(name).done:
                return None
            run = self._runs.get(name)
        if run is None:
            return None  # stopped: no output to read
        item = run.items.get(node)
        return node_result(item) if item is not None else None

    def node_known(self, certname: str) -> Optional[bool]:
        return None  # Bolt's inventory does not say; the connection error does

    def refuses_timeout(self) -> bool:
        return False

    def stop(self, name: str, force: bool = False) -> Dict[str, int]:
        """Ends the run's whole process group (Bolt and its SSH sessions); idempotent."""
        path = self._dir(name)
        open(os.path.join(path, "stopped"), "w").close()
        pgid = _read_int(os.path.join(path, "pgid"))
        if pgid and _alive(pgid):
            try:
                os.killpg(pgid, signal.SIGKILL if force else signal.SIGTERM)
            except OSError:
                pass
        return {"stopped": 1}


def client_for(settings) -> BoltClient:
    """The Bolt client of a project's settings (runner: bolt)."""
    state_dir = settings.bolt_state_dir or os.path.expanduser("~/.cache/sentry-autodiag/bolt")
    try:
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise oc.ConfigurationError("The Bolt state directory %s cannot be created: %s" % (state_dir, exc))
    return BoltClient(settings.bolt_binary, settings.bolt_project, state_dir)


# --- Bolt's JSON ------------------------------------------------------------------------


def parse_output(data: bytes, rc: int, stderr: str = "") -> Run:
    """`bolt task run --format json` output as a Run; raises a BoltError for a run with no items.

    Bolt documents one object {"items": [...], "target_count", "elapsed_time"}; when Bolt
    itself fails it prints {"items": [], "_error": {kind, msg, details}} (exit 1) instead.
    Exit 0 = every target succeeded, 1 = some failed or Bolt failed, 2 = a plan failure."""
    text = data.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text) if text else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        said = " It printed: %s" % _short(text) if text else " It printed nothing."
        err = " Its error output: %s" % _short(stderr) if stderr.strip() else ""
        raise BoltOutputError("Bolt exited with status %d without its JSON result.%s%s" % (rc, said, err))
    err = doc.get("_error")
    if isinstance(err, dict):
        raise error_for(err)
    items = doc.get("items")
    if not isinstance(items, list):
        raise BoltOutputError("Bolt's JSON has no items list (exit status %d)." % rc)
    by_target = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("target"), str):
            by_target[item["target"]] = item
    count = doc.get("target_count")
    elapsed = doc.get("elapsed_time")
    return Run(rc, by_target, count if isinstance(count, int) and not isinstance(count, bool) else len(by_target),
               float(elapsed) if isinstance(elapsed, (int, float)) and not isinstance(elapsed, bool) else None)


def error_for(err: Dict[str, Any]) -> BoltError:
    """Bolt's own error (the top-level `_error`) in the note's words."""
    kind = str(err.get("kind") or "")
    msg = str(err.get("msg") or "Bolt failed without a message.")
    details = err.get("details") if isinstance(err.get("details"), dict) else {}
    if kind == "bolt/unknown-task":
        return BoltError(msg, kind, details, headline="task not found in the Bolt project", hint=UNKNOWN_TASK_HINT)
    if kind == "bolt/pal-error" and "parameter" in msg:  # "expects ... parameter", "has no parameter named"
        return BoltError(msg, kind, details, headline="task parameters refused", hint=PARAMS_HINT)
    if kind.startswith("bolt/") and ("inventory" in kind or "inventory" in msg.lower()):
        return BoltError(msg, kind, details, headline="Bolt inventory error",
                         hint="Fix inventory.yaml in the Bolt project (bolt inventory show --targets <node>).")
    return BoltError(msg, kind, details, headline="Bolt refused the run",
                     hint="Run the same `bolt task run` as the workers' user in the Bolt project to see more.")


def node_result(item: Dict[str, Any]) -> oc.NodeResult:
    """One of Bolt's items as the orchestrator's node item (the same report and error rules)."""
    status = item.get("status")
    value = item.get("value")
    err = value.get("_error") if isinstance(value, dict) else None
    if status == "success":
        state = "finished"
    elif isinstance(err, dict) and err.get("kind") == "puppetlabs.tasks/connect-error":
        state = "errored"  # the task never ran: Bolt could not reach the node
    else:
        state = "failed"
    if isinstance(err, dict) and err.get("issue_code") and isinstance(err.get("details", {}), dict):
        # Bolt names the connection failure beside details (issue_code): keep it where notes read it
        details = dict(err.get("details") or {}, issue_code=err["issue_code"])
        value = dict(value, _error=dict(err, details=details))
    return oc.normalize_node({"name": item.get("target"), "state": state, "result": value})


def connect_failure(node: oc.NodeResult) -> Optional[Tuple[str, str, str]]:
    """(headline, message, hint) when Bolt could not connect to the node, else None."""
    err = node.error or {}
    if node.state != "errored" or err.get("kind") != "puppetlabs.tasks/connect-error":
        return None
    msg = str(err.get("msg") or "")
    code = str((err.get("details") or {}).get("issue_code") or err.get("issue_code") or "")
    low = msg.lower()
    if code == "HOST_KEY_ERROR" or "host key" in low:
        key = "host-key"
    elif code == "AUTH_ERROR" or "authentication failed" in low:
        key = "auth"
    else:
        key = "unreachable"
    headline, hint = CONNECT_NOTES[key]
    return headline, msg or "Bolt could not connect to the node.", hint


# --- the check (Test Plugin, sentry-autodiag check) -------------------------------------


def check(binary: str, project: str, task: str, test_node: str = "") -> Tuple[bool, str]:
    """Bolt's version, the task in the project, and (with a test node) a no-op connection."""
    client = BoltClient(binary, project, state_dir="")
    try:
        client._check_paths()
    except oc.OrchestratorError as exc:
        return False, exc.message
    ok, out = _run([binary, "--version"])
    if not ok:
        return False, "`%s --version` failed: %s" % (binary, out)
    version = out.strip().splitlines()[-1] if out.strip() else "?"
    ok, out = _run([binary, "task", "show", task, "--project", project, "--format", "json"])
    try:
        shown = json.loads(out) if ok else None
    except ValueError:
        shown = None
    if not isinstance(shown, dict) or shown.get("name") != task:
        return False, "Bolt %s runs, but the project %s holds no task %s: %s" % (
            version, project, task, _short(out) or "no answer")
    said = "Bolt %s runs, and the project %s holds the task %s" % (version, project, task)
    if not test_node:
        return True, said + " (no test node set: the SSH connection was not tried)."
    if not TARGET.match(test_node):
        return False, said + ", but the test node %r is not a plain node name." % test_node
    ok, out = _run([binary, "command", "run", "true", "--targets", test_node, "--format", "json",
                    "--project", project, "--no-save-rerun"])
    try:
        item = parse_output(out.encode(), 0 if ok else 1).items.get(test_node)
    except BoltError as exc:
        return False, said + ", but `bolt command run true` failed: %s" % exc.message
    if item is None or item.get("status") != "success":
        failure = connect_failure(node_result(item)) if item else None
        value = (item or {}).get("value")
        reason = failure[1] if failure else _short(json.dumps(value)) if value else "no result for the node"
        return False, said + ", but the test connection to %s failed (%s): %s%s" % (
            test_node, failure[0] if failure else "command failed", reason,
            " What to do: " + failure[2] if failure else "")
    return True, said + ", and it reached %s over its transport (bolt command run true)." % test_node


def _run(argv: List[str]) -> Tuple[bool, str]:
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=CHECK_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, str(exc)
    out = done.stdout.decode("utf-8", "replace")[:MAX_STDERR]
    if done.returncode != 0 and not out.strip():
        out = done.stderr.decode("utf-8", "replace")[-2000:]
    return done.returncode == 0, out


# --- small helpers ------------------------------------------------------------------------


def _read_int(path: str) -> Optional[int]:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _read_json_file(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path) as f:
            value = json.load(f)
        return value if isinstance(value, dict) else None
    except (OSError, ValueError):
        return None


def _tail(path: str, limit: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _alive(pgid: Optional[int]) -> bool:
    if not pgid or pgid <= 1:
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
