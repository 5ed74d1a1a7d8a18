"""Runs a Puppet task the way PE's pxp-agent and Bolt do, from a modules directory.

Contract (puppet-specifications, tasks/): `<module>/tasks/<name>.json` + one executable
implementation, chosen as pxp-agent chooses it (the first whose `requirements` are all
among the agent's features, {puppet-agent, shell} on Linux); params as a JSON object on
stdin and/or `PT_<name>` variables per `input_method`, plus `_task` (and `_installdir`,
`_noop` when they apply; `_target` only for remote tasks, so never here); stdout that
parses as a JSON object is the result, anything else is wrapped as `{"_output": stdout}`;
a non-zero exit or an `_error` key means failure; stdout that is not valid UTF-8 (or
holds a NUL) fails the run with pxp-agent's execution error. stderr is kept in the
outcome, as pxp-agent keeps it; PE's API does not expose it.

Metadata `files` (top level and the chosen implementation's) are staged the way
pxp-agent and Bolt stage them: a fresh install dir holding `<module>/tasks/<impl>` and
every listed file at `<module>/<mount>/<path>`; the task runs from there and gets the
dir as `_installdir`; the dir is removed afterwards. Entries are resolved and refused as
Puppet's loader does (Puppet::Module::Task.find_extra_files): `<module>/<mount>/<path>`
with mount one of files, lib, scripts, tasks; a directory must end in "/" and brings
every file below it; nothing may leave its module's mount (no "..", no symlinks out).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from sentry_autodiag import puppet_types

TASK_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_OUTPUT_BYTES = 64 * 1024 * 1024  # pxp-agent's max-message-size
# The keys the task spec defines; others are tolerated (Puppet's loaders ignore them).
METADATA_KEYS = {"description", "puppet_task_version", "supports_noop", "input_method",
                 "parameters", "files", "implementations", "private", "extensions", "remote", "identifiers"}
INPUT_METHODS = {"stdin", "environment", "both", "powershell"}
AGENT_FEATURES = ("puppet-agent", "shell")  # what pxp-agent offers on Linux (Task::features_)
FILE_MOUNTS = ("files", "lib", "scripts", "tasks")  # Puppet::Module::Task::MOUNTS


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
    # (name relative to the install dir, absolute source path) of each metadata `files` entry
    files: Tuple[Tuple[str, str], ...] = ()
    # set when no implementation's requirements are met: the agent refuses the run
    impl_error: Optional[str] = None

    @property
    def full_name(self):
        return self.module if self.name == "init" else "%s::%s" % (self.module, self.name)


class TaskOutcome(NamedTuple):
    state: str                 # "finished", "failed", or "errored" (the agent could not run it)
    result: Dict[str, Any]
    exit_code: Optional[int]
    duration: float
    stdout_bytes: int
    # kept as pxp-agent keeps it (in its results, which PE's API does not expose)
    stderr: str = ""


def split_task_name(task: str):
    """'module::name' (or 'module' for the init task) → (module, name)."""
    parts = task.split("::") if isinstance(task, str) else []
    if len(parts) == 1:
        parts.append("init")
    if len(parts) != 2 or not all(TASK_NAME.match(p) for p in parts):
        raise TaskNotFound("invalid task name %r" % (task,))
    return parts[0], parts[1]


def load_task(modules_dir: str, task: str, features=AGENT_FEATURES) -> TaskSpec:
    """Finds a task's metadata and the implementation the agent would run.

    As Puppet's loader (Puppet::Module::Task): every listed implementation must exist;
    without `implementations`, exactly one executable named after the task. As
    pxp-agent: the first implementation whose requirements are all among the agent's
    features is chosen, with its own input_method and files.
    """
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
    executables = sorted(f for f in (os.listdir(tasks_dir) if os.path.isdir(tasks_dir) else [])
                         if TASK_NAME.match(os.path.splitext(f)[0]) and not f.endswith((".json", ".md", ".conf"))
                         and os.path.isfile(os.path.join(tasks_dir, f)))
    impls = metadata.get("implementations")
    impl: Dict[str, Any] = {}
    impl_error = None
    if impls is not None:
        if not isinstance(impls, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str)
                                                  for i in impls):
            raise TaskMetadataError("Task metadata for task %s::%s does not specify implementations as an array "
                                    "of objects with a name" % (module, name))
        for i in impls:
            if i["name"] not in executables:
                raise TaskMetadataError("Task metadata for task %s::%s specifies missing implementation %s"
                                        % (module, name, i["name"]))
            if not isinstance(i.get("requirements", []), list):
                raise TaskMetadataError("Task metadata for task %s::%s does not specify requirements as an array"
                                        % (module, name))
        chosen = [i for i in impls if all(r in features for r in (i.get("requirements") or []))]
        if chosen:
            impl = chosen[0]
            executable = impl["name"]
        else:  # pxp-agent's words (selectImplementation); the run fails on the node, not at POST
            impl_error = "no implementations match supported features: %s" % ", ".join(sorted(features))
            executable = impls[0]["name"] if impls else ""
        if not impls:
            raise TaskNotFound("task %s::%s lists no implementation" % (module, name))
    else:
        named = [f for f in executables if os.path.splitext(f)[0] == name]
        if not named:
            raise TaskNotFound("task %s::%s not found in %s" % (module, name, modules_dir))
        if len(named) > 1:
            raise TaskMetadataError("Multiple executables were found for task %s::%s; define 'implementations' "
                                    "in metadata to differentiate between them" % (module, name))
        executable = named[0]
    input_method = impl.get("input_method") or metadata.get("input_method") or "both"
    if input_method not in INPUT_METHODS:
        raise TaskMetadataError("input_method must be one of %s" % sorted(INPUT_METHODS))
    entries = []
    for owner in (metadata, impl):
        listed = owner.get("files") or []
        if not isinstance(listed, list):
            raise TaskMetadataError("The 'files' task metadata expects an array, got %r." % (listed,))
        entries.extend(listed)
    files = resolve_files(modules_dir, list(dict.fromkeys(entries)))
    return TaskSpec(module, name, metadata, os.path.join(tasks_dir, executable), input_method, tuple(files),
                    impl_error)


def resolve_files(modules_dir: str, entries: List[Any]) -> List[Tuple[str, str]]:
    """Metadata `files` entries → [(install-dir relative name, source path)], refused like Puppet.

    Why: a task with helper files only runs when the runner brings them along; an entry
    that names a path outside its module's mount must never be copied.
    """
    root = os.path.abspath(modules_dir)
    found: List[Tuple[str, str]] = []
    for entry in entries:
        if not isinstance(entry, str) or not entry:
            raise TaskMetadataError("task metadata files entries must be non-empty strings, got %r" % (entry,))
        parts = entry.split("/", 2)
        module, mount, rest = parts[0], parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else ""
        if not TASK_NAME.match(module) or not os.path.isdir(os.path.join(root, module)):
            raise TaskMetadataError("Could not find module %s containing task file %s" % (module, entry))
        if mount not in FILE_MOUNTS:
            raise TaskMetadataError("Files must be saved in module directories that Puppet makes available "
                                    "via mount points: %s" % ", ".join(FILE_MOUNTS))
        if entry.startswith("/") or any(p in (".", "..") for p in rest.rstrip("/").split("/")) or \
                "//" in entry or "\\" in entry:
            raise TaskMetadataError("File pathnames cannot include relative paths: %s" % entry)
        mount_dir = os.path.realpath(os.path.join(root, module, mount))
        path = os.path.join(root, module, mount, rest)
        if not _inside(os.path.realpath(path), mount_dir):
            raise TaskMetadataError("%s leaves the %s directory of module %s" % (entry, mount, module))
        if not os.path.exists(path):
            raise TaskMetadataError("Could not find %s on disk" % path)
        if os.path.isdir(path):
            if not entry.endswith("/"):
                raise TaskMetadataError("Directories specified in task metadata must include a trailing slash: %s"
                                        % entry)
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                for fname in sorted(filenames):
                    source = os.path.join(dirpath, fname)
                    if not _inside(os.path.realpath(source), mount_dir):
                        raise TaskMetadataError("%s leaves the %s directory of module %s" % (source, mount, module))
                    found.append(("%s/%s/%s" % (module, mount, os.path.relpath(source, os.path.join(root, module, mount))),
                                  source))
        else:
            if entry.endswith("/"):
                raise TaskMetadataError("Files specified in task metadata cannot include a trailing slash: %s" % entry)
            found.append((entry, path))
    return list(dict(found).items())


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def stage_files(spec: TaskSpec) -> str:
    """Builds a fresh install dir (`<module>/tasks/<impl>` plus every `files` entry); the caller removes it."""
    installdir = tempfile.mkdtemp(prefix="localorch-task-")
    try:
        os.chmod(installdir, 0o700)
        targets = [("%s/tasks/%s" % (spec.module, os.path.basename(spec.executable)), spec.executable)]
        for name, source in targets + list(spec.files):
            dest = os.path.join(installdir, *name.split("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(source, dest)  # keeps the executable bit
        return installdir
    except BaseException:
        shutil.rmtree(installdir, ignore_errors=True)
        raise


def check_metadata(metadata: Dict[str, Any]) -> None:
    """Rejects task metadata that Puppet would not load; keys it does not know are tolerated.

    A parameter type this runner cannot check is accepted (see puppet_types); only
    malformed type syntax is refused. Whether PE itself refuses a task whose type does
    not parse, and with which answer, is not public: here such a task is unknown-task.
    """
    if not isinstance(metadata, dict):
        raise TaskMetadataError("task metadata must be a JSON object")
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


def task_input(spec: TaskSpec, params: Dict[str, Any], target: str, installdir: Optional[str] = None,
               noop: bool = False):
    """The stdin bytes and PT_* variables a runner passes, per input_method.

    As pxp-agent: `_task` always, `_installdir` for tasks with files, `_noop` for a noop
    run. `_target` is added only for remote tasks (which run on a proxy), so never here;
    `target` is accepted for the callers' sake and unused.
    """
    full = dict(params)
    full["_task"] = spec.full_name
    if installdir is not None:
        full["_installdir"] = installdir
    if noop:
        full["_noop"] = True
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


def is_valid_utf8(data: bytes) -> bool:
    """pxp-agent's Util::isValidUTF8: valid UTF-8 and no NUL byte."""
    if b"\0" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def invalid_utf8_error(stderr: str) -> Dict[str, Any]:
    """What pxp-agent reports for stdout that is not valid UTF-8 (BoltModule::processOutputAndUpdateMetadata,
    ActionResponse::toJSON): status failure, the error as the task's `_error` on stdout.
    That PE then shows the node `failed` with this `_error` is inferred, not recorded."""
    label = "non-blocking 'task run' request (transaction %s)" % uuid.uuid4()
    return {"kind": "puppetlabs.pxp-agent/execution-error",
            "msg": "The task executed for the %s returned invalid UTF-8 on stdout - stderr:%s"
                   % (label, "\n" + stderr if stderr else " (empty)"),
            "details": {}}


def run_task(spec: TaskSpec, params: Dict[str, Any], target: str = "localhost", timeout: float = 300,
             extra_env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None,
             max_output: int = MAX_OUTPUT_BYTES, cancel: Optional[threading.Event] = None,
             noop: bool = False) -> TaskOutcome:
    """Runs the task as a subprocess and returns its normalized outcome; never raises for the task's faults.

    Setting `cancel` kills the task (its whole process group): the outcome is failed with
    exit_code None, as for a timeout.
    """
    if spec.impl_error:
        # pxp-agent refuses the request before running anything; how PE shows that
        # node is not public: here it is errored with pxp-agent's message.
        return TaskOutcome("errored", {"_error": {"kind": "puppetlabs.pxp-agent/execution-error",
                                                  "msg": spec.impl_error, "details": {}}}, None, 0.0, 0)
    installdir = stage_files(spec) if spec.files else None
    try:
        return _run(spec, params, target, timeout, extra_env, cwd, max_output, cancel, installdir, noop)
    finally:
        if installdir:
            shutil.rmtree(installdir, ignore_errors=True)


def _run(spec, params, target, timeout, extra_env, cwd, max_output, cancel, installdir, noop) -> TaskOutcome:
    stdin, env_params = task_input(spec, params, target, installdir, noop)
    executable = spec.executable
    if installdir:
        executable = os.path.join(installdir, spec.module, "tasks", os.path.basename(spec.executable))
    env = dict(os.environ)
    env.update(extra_env or {})
    env.update(env_params)
    start = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([executable], stdin=subprocess.PIPE, stdout=out,
                                stderr=err, env=env, cwd=cwd or "/",
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
        err.seek(0)
        stderr = err.read(max_output).decode("utf-8", errors="replace")
        if size > max_output:
            return TaskOutcome("failed", {"_error": {
                "kind": "puppetlabs.pxp-agent/output-too-large",
                "msg": "The task output (%d bytes) exceeds the maximum message size of %d bytes" % (size, max_output),
                "details": {"size": size}}}, exit_code, duration, size, stderr)
        out.seek(0)
        stdout = out.read()
    if not is_valid_utf8(stdout):
        return TaskOutcome("failed", {"_error": invalid_utf8_error(stderr)}, exit_code, duration, size, stderr)
    result = normalize_output(stdout, exit_code)
    failed = exit_code != 0 or "_error" in result
    return TaskOutcome("failed" if failed else "finished", result, exit_code, duration, size, stderr)


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
