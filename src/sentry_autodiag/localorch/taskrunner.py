"""Runs a Puppet task the way PE's pxp-agent and Bolt do, from a modules directory.

Contract (puppet-specifications, tasks/): `<module>/tasks/<name>.json` + one executable
implementation; params as a JSON object on stdin and/or `PT_<name>` variables per
`input_method`; stdout that parses as a JSON object is the result, anything else is
wrapped as `{"_output": stdout}`; a non-zero exit or an `_error` key means failure.
"""
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from typing import Any, Dict, List, NamedTuple, Optional

from . import puppet_types

TASK_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_OUTPUT_BYTES = 64 * 1024 * 1024  # pxp-agent's max-message-size
METADATA_KEYS = {"description", "puppet_task_version", "supports_noop", "input_method",
                 "parameters", "files", "implementations", "private", "extensions", "remote"}
INPUT_METHODS = {"stdin", "environment", "both", "powershell"}


class TaskNotFound(LookupError):
    pass


class TaskMetadataError(ValueError):
    pass


class TaskSpec(NamedTuple):
    module: str
    name: str
    metadata: Dict[str, Any]
    executable: str
    input_method: str

    @property
    def full_name(self):
        return self.module if self.name == "init" else "%s::%s" % (self.module, self.name)


class TaskOutcome(NamedTuple):
    state: str                 # "finished" or "failed"
    result: Dict[str, Any]
    exit_code: Optional[int]
    duration: float
    stdout_bytes: int


def split_task_name(task: str):
    """'module::name' (or 'module' for the init task) → (module, name)."""
    parts = task.split("::") if isinstance(task, str) else []
    if len(parts) == 1:
        parts.append("init")
    if len(parts) != 2 or not all(TASK_NAME.match(p) for p in parts):
        raise TaskNotFound("invalid task name %r" % (task,))
    return parts[0], parts[1]


def load_task(modules_dir: str, task: str) -> TaskSpec:
    """Finds and validates a task's metadata and implementation file."""
    module, name = split_task_name(task)
    tasks_dir = os.path.join(os.path.abspath(modules_dir), module, "tasks")
    meta_path = os.path.join(tasks_dir, name + ".json")
    metadata: Dict[str, Any] = {}
    if os.path.isfile(meta_path):
        with open(meta_path) as fh:
            try:
                metadata = json.load(fh)
            except ValueError as exc:
                raise TaskMetadataError("%s is not valid JSON: %s" % (meta_path, exc))
        check_metadata(metadata)
    candidates = sorted(f for f in (os.listdir(tasks_dir) if os.path.isdir(tasks_dir) else [])
                        if f.split(".", 1)[0] == name and not f.endswith((".json", ".md")))
    impls = metadata.get("implementations")
    if impls:
        candidates = [i["name"] for i in impls if i.get("name") in candidates]
    if not candidates:
        raise TaskNotFound("task %s::%s not found in %s" % (module, name, modules_dir))
    input_method = metadata.get("input_method") or "both"
    if impls:
        input_method = impls[0].get("input_method") or input_method
    return TaskSpec(module, name, metadata, os.path.join(tasks_dir, candidates[0]), input_method)


def check_metadata(metadata: Dict[str, Any]) -> None:
    """Rejects task metadata that PE would not load."""
    if not isinstance(metadata, dict):
        raise TaskMetadataError("task metadata must be a JSON object")
    unknown = set(metadata) - METADATA_KEYS
    if unknown:
        raise TaskMetadataError("unknown task metadata keys: %s" % ", ".join(sorted(unknown)))
    if metadata.get("input_method", "both") not in INPUT_METHODS:
        raise TaskMetadataError("input_method must be one of %s" % sorted(INPUT_METHODS))
    if not isinstance(metadata.get("supports_noop", False), bool):
        raise TaskMetadataError("supports_noop must be a boolean")
    params = metadata.get("parameters")
    if params is not None:
        if not isinstance(params, dict):
            raise TaskMetadataError("parameters must be an object")
        for pname, pdef in params.items():
            if not TASK_NAME.match(pname):
                raise TaskMetadataError("parameter name %r does not match %s" % (pname, TASK_NAME.pattern))
            if not isinstance(pdef, dict):
                raise TaskMetadataError("parameter %s must be an object" % pname)
            try:
                puppet_types.parse_type(pdef.get("type", "Any"))
            except puppet_types.PuppetTypeError as exc:
                raise TaskMetadataError("parameter %s: %s" % (pname, exc))


def validate_params(spec: TaskSpec, params: Any) -> List[str]:
    """PE's checks of a task run's params: undeclared, missing or ill-typed → messages."""
    if not isinstance(params, dict):
        return ["params must be an object"]
    declared = spec.metadata.get("parameters")
    if declared is None:  # no `parameters` key: the task accepts anything
        return []
    errors = []
    for key in sorted(set(params) - set(declared)):
        errors.append("Task %s does not accept parameter '%s'" % (spec.full_name, key))
    for key, pdef in sorted(declared.items()):
        node = puppet_types.parse_type(pdef.get("type", "Any"))
        if key not in params:
            if not puppet_types.matches(node, None):
                errors.append("Task %s requires a value for parameter '%s'" % (spec.full_name, key))
            continue
        if not puppet_types.matches(node, params[key]):
            errors.append("Task %s parameter '%s' expects a %s value, got %s"
                          % (spec.full_name, key, pdef.get("type", "Any"), json.dumps(params[key])[:100]))
    return errors


def task_input(spec: TaskSpec, params: Dict[str, Any], target: str):
    """The stdin bytes and PT_* variables a runner passes, per input_method."""
    full = dict(params)
    full["_task"] = spec.full_name
    full["_target"] = {"name": target}
    stdin = json.dumps(full).encode() if spec.input_method in ("stdin", "both", "powershell") else b""
    env = {}
    if spec.input_method in ("environment", "both"):
        for key, value in full.items():
            env["PT_" + key] = value if isinstance(value, str) else json.dumps(value)
    return stdin, env


def normalize_output(stdout: bytes, exit_code: int) -> Dict[str, Any]:
    """stdout JSON object → itself; otherwise {"_output": text}; failure adds `_error`."""
    text = stdout.decode("utf-8", errors="replace")
    result: Dict[str, Any]
    try:
        parsed = json.loads(text)
        result = parsed if isinstance(parsed, dict) else {"_output": text}
    except ValueError:
        result = {"_output": text}
    if exit_code != 0 and "_error" not in result:
        result["_error"] = {
            "kind": "puppetlabs.tasks/task-error",
            "msg": "The task errored with a code %d" % exit_code,
            "details": {"exitcode": exit_code},
        }
    return result


def run_task(spec: TaskSpec, params: Dict[str, Any], target: str = "localhost", timeout: float = 300,
             extra_env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None,
             max_output: int = MAX_OUTPUT_BYTES, cancel: Optional[threading.Event] = None) -> TaskOutcome:
    """Runs the task as a subprocess and returns its normalized outcome; never raises for the task's faults.

    Setting `cancel` kills the task (its whole process group): the outcome is failed with
    exit_code None, as for a timeout.
    """
    stdin, env_params = task_input(spec, params, target)
    env = dict(os.environ)
    env.update(extra_env or {})
    env.update(env_params)
    start = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([spec.executable], stdin=subprocess.PIPE, stdout=out,
                                stderr=subprocess.DEVNULL, env=env, cwd=cwd or "/",
                                start_new_session=True)
        try:
            try:  # a task that does not read its input may exit before we finish writing
                proc.stdin.write(stdin)
                proc.stdin.close()
            except BrokenPipeError:
                pass
            exit_code = _wait(proc, timeout, cancel)
            if exit_code is None:
                _kill_group(proc)
                return TaskOutcome("failed", {"_error": {
                    "kind": "puppetlabs.tasks/task-stopped", "msg": "The task was stopped",
                    "details": {}}}, None, time.monotonic() - start, 0)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return TaskOutcome("failed", {"_error": {
                "kind": "puppetlabs.tasks/task-timeout",
                "msg": "The task timed out after %s seconds" % timeout,
                "details": {"timeout": timeout}}}, None, time.monotonic() - start, 0)
        finally:
            if proc.poll() is None:
                _kill_group(proc)
        duration = time.monotonic() - start
        size = out.tell()
        if size > max_output:
            return TaskOutcome("failed", {"_error": {
                "kind": "puppetlabs.pxp-agent/output-too-large",
                "msg": "The task output (%d bytes) exceeds the maximum message size of %d bytes" % (size, max_output),
                "details": {"size": size}}}, exit_code, duration, size)
        out.seek(0)
        result = normalize_output(out.read(), exit_code)
    failed = exit_code != 0 or "_error" in result
    return TaskOutcome("failed" if failed else "finished", result, exit_code, duration, size)


def _wait(proc, timeout, cancel):
    """proc.wait(timeout) that returns None early when `cancel` is set."""
    if cancel is None:
        return proc.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        if cancel.is_set():
            return None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        try:
            return proc.wait(timeout=min(0.05, remaining))
        except subprocess.TimeoutExpired:
            continue


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
