"""A Bolt stand-in for the tests: a TEST DOUBLE of Puppet Bolt 4.0.0's CLI, not product code.

Bolt is not packaged in Debian, PyPI or npm, so CI cannot install it; the product runs the
admin's real `bolt`. This stand-in speaks the CLI subset the product and the tests use and
prints what Bolt 4.0.0 prints, byte for byte where the recordings in
tests/fixtures/bolt_answers show it (tests/test_bolt_answers.py checks it against them):

    bolt --version
    bolt task show <task> --project <dir> [--format json]
    bolt task run <task> --targets <t> --params <json> --format json --project <dir> [--no-save-rerun] [--noop]
    bolt command run <command> --targets <t> --format json --project <dir> [--no-save-rerun]
    bolt inventory show --project <dir> [--inventoryfile <file>] --format json

It reads the Bolt project (bolt-project.yaml: modulepath; inventory.yaml: targets, groups,
config.ssh user/port/private-key/host-key-check/connect-timeout/run-as/tmpdir/cleanup),
checks the parameters against the task's metadata (Puppet types the tasks here use), and
runs the real task over real SSH the way Bolt's ssh transport does, with Debian's `ssh`
and `scp` (one connection, as Bolt's net-ssh keeps one: an OpenSSH control master):
mkdir -m 700 /tmp/<uuid>; the metadata's `files` and the task uploaded under it
(`_installdir`); the parameters (plus `_task`, `_installdir`) as PT_ variables and/or JSON
on stdin per input_method; stdout parsed as Bolt does (a JSON object is the value, anything
else `{"_output": ...}`; a non-zero exit adds a puppetlabs.tasks/task-error); rm -rf.

Run as `python -m localorch.bolt_standin ...` (tests/bolt_lab.py writes a
`bolt` wrapper script for it). Python 3.8, PyYAML; no Sentry imports.
"""
import ctypes
import getpass
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple

import yaml

VERSION = "4.0.0"
FEATURES = {"shell"}  # what Bolt's ssh transport (bash shell) provides to task implementations
STDIN_METHODS = ("both", "stdin")
ENV_METHODS = ("both", "environment")
SSH_OPTIONS = {"batch-mode", "cleanup", "connect-timeout", "copy-command", "disconnect-timeout",
               "encryption-algorithms", "extensions", "host", "host-key-algorithms", "host-key-check",
               "interpreters", "kex-algorithms", "load-config", "login-shell", "mac-algorithms", "native-ssh",
               "password", "port", "private-key", "proxyjump", "run-as", "run-as-command", "script-dir",
               "ssh-command", "sudo-executable", "sudo-password", "sudo-password-prompt", "tmpdir", "tty", "user"}
CONFIG_KEYS = {"transport", "ssh", "winrm", "local", "docker", "podman", "pcp", "remote", "lxd", "jail"}
TARGET_KEYS = {"name", "uri", "alias", "config", "vars", "facts", "features", "plugin_hooks"}
GROUP_KEYS = {"name", "targets", "groups", "config", "vars", "facts", "features", "plugin_hooks"}
# Bolt's logger warning on an authentication failure (its colours included), as recorded
AUTH_WARNING = "\x1b[33mall authorization methods failed (tried none, publickey)\x1b[0m\n\x1b[0m"

_children = []  # type: List[subprocess.Popen]
_dirs = []  # type: List[str]  # local control directories, removed when the stand-in is ended


class BoltError(Exception):
    """Bolt's own error (the top-level `_error` / the error object of `task show`)."""

    def __init__(self, kind: str, msg: str):
        super().__init__(msg)
        self.kind = kind
        self.msg = msg

    def to_h(self) -> Dict[str, Any]:
        return {"kind": self.kind, "msg": self.msg, "details": {}}


class NodeError(Exception):
    """A failure on one target (connection, file transfer): the item's `_error`."""

    def __init__(self, kind: str, msg: str, issue_code: str):
        super().__init__(msg)
        self.error = {"details": {}, "kind": kind, "msg": msg, "issue_code": issue_code}


def _dump(value: Any) -> str:
    """Ruby's to_json: compact, UTF-8 kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- the project and its inventory --------------------------------------------------------


class Project:
    def __init__(self, path: str, inventoryfile: Optional[str] = None):
        self.path = os.path.abspath(path)
        self.config = _yaml(os.path.join(self.path, "bolt-project.yaml")) or {}
        modulepath = self.config.get("modulepath", ["modules"])
        if isinstance(modulepath, str):
            modulepath = modulepath.split(os.pathsep)
        self.modulepath = [os.path.join(self.path, p) for p in modulepath]
        self.default_inventory = os.path.join(self.path, "inventory.yaml")
        self.inventory_file = os.path.abspath(inventoryfile) if inventoryfile else self.default_inventory
        self.inventory = _yaml(self.inventory_file) or {}
        self.warnings = []  # type: List[str]
        self.targets = {}  # type: Dict[str, Dict[str, Any]]  # name -> {uri, config}
        self.groups = {}  # type: Dict[str, List[str]]
        self._load_group(self.inventory, {}, "all")

    def _load_group(self, group: Dict[str, Any], inherited: Dict[str, Any], name: str) -> List[str]:
        self._check_keys(group, GROUP_KEYS if name != "all" else GROUP_KEYS | {"version"}, name)
        config = _merge(inherited, self._config(group.get("config"), name))
        members = []
        for entry in group.get("targets") or []:
            if isinstance(entry, str):
                entry = {"uri": entry}
            if not isinstance(entry, dict):
                continue
            self._check_keys(entry, TARGET_KEYS, str(entry.get("name") or entry.get("uri")))
            tname = str(entry.get("name") or entry.get("uri"))
            known = self.targets.get(tname)
            tconfig = _merge(config, self._config(entry.get("config"), tname))
            if known:  # a target in several groups: later groups add to its config
                tconfig = _merge(known["config"], self._config(entry.get("config"), tname))
            self.targets[tname] = {"uri": str(entry.get("uri") or (known or {}).get("uri") or tname),
                                   "config": tconfig}
            aliases = entry.get("alias") or []
            for alias in [aliases] if isinstance(aliases, str) else aliases:
                self.targets[str(alias)] = self.targets[tname]
            members.append(tname)
        for sub in group.get("groups") or []:
            if isinstance(sub, dict) and sub.get("name"):
                members += self._load_group(sub, config, str(sub["name"]))
        self.groups[name] = members
        return members

    def _config(self, config: Any, where: str) -> Dict[str, Any]:
        if not isinstance(config, dict):
            return {}
        self._check_keys(config, CONFIG_KEYS, where + " config")
        if isinstance(config.get("ssh"), dict):
            self._check_keys(config["ssh"], SSH_OPTIONS, where + " config.ssh")
        return config

    def _check_keys(self, mapping: Dict[str, Any], known: set, where: str) -> None:
        for key in mapping:
            if key not in known:
                self.warnings.append("Unknown option '%s' at '%s' at %s." % (key, where, self.inventory_file))

    def resolve(self, targets: str) -> List[Tuple[str, Dict[str, Any]]]:
        """The targets of a --targets value: names, aliases, groups; others are ad hoc URIs."""
        out = []
        for name in [t for t in targets.split(",") if t]:
            if name in self.groups and name not in self.targets:
                out += [(n, self.targets[n]) for n in self.groups[name]]
            elif name in self.targets:
                out.append((name, self.targets[name]))
            else:
                out.append((name, {"uri": name, "config": self._config(self.inventory.get("config"), "all")}))
        return out

    # --- tasks ---

    def task(self, name: str) -> "Task":
        module, _, short = name.partition("::")
        short = short or "init"
        for root in self.modulepath:
            tasks_dir = os.path.join(root, module, "tasks")
            if not re.match(r"\A[a-z][a-z0-9_]*\Z", module) or not os.path.isdir(tasks_dir):
                continue
            files = sorted(f for f in os.listdir(tasks_dir) if f.split(".")[0] == short)
            if files:
                return Task(name, module, os.path.join(root, module), tasks_dir, short, files, root)
        raise BoltError("bolt/unknown-task", "Could not find a task named '%s'. For a list of available tasks, "
                                             "run 'bolt task show'." % name)


class Task:
    def __init__(self, name, module, module_dir, tasks_dir, short, files, root):
        self.name = name
        self.module_dir = module_dir
        self.tasks_dir_name = module + "/tasks"
        meta = os.path.join(tasks_dir, short + ".json")
        self.metadata = _json_file(meta) if os.path.exists(meta) else {}
        executables = [f for f in files if not f.endswith((".json", ".md", ".conf"))]
        impls = self.metadata.get("implementations")
        if impls:
            chosen = next((i for i in impls if set(i.get("requirements", [])) <= FEATURES), None)
            if chosen is None:
                raise BoltError("bolt/no-implementation", "No suitable implementation of %s for the features %s"
                                % (name, sorted(FEATURES)))
            self.executable = os.path.join(tasks_dir, chosen["name"])
            self.input_method = chosen.get("input_method", self.metadata.get("input_method", "both"))
            extra = list(self.metadata.get("files", [])) + list(chosen.get("files", []))
        else:
            if len(executables) != 1:
                raise BoltError("bolt/pal-error", "Task %s has multiple executables and no implementations" % name)
            self.executable = os.path.join(tasks_dir, executables[0])
            self.input_method = self.metadata.get("input_method", "both")
            extra = list(self.metadata.get("files", []))
        self.files = []  # type: List[Dict[str, str]]  # {name (under _installdir), path}
        for entry in extra:
            mod, _, rest = entry.partition("/")
            path = os.path.join(root, mod, rest)
            if entry.endswith("/"):
                for base, _dirs, names in sorted(os.walk(path)):
                    for fname in sorted(names):
                        full = os.path.join(base, fname)
                        self.files.append({"name": entry + os.path.relpath(full, path), "path": full})
            else:
                self.files.append({"name": entry, "path": path})
        self.files.sort(key=lambda f: f["name"])

    def to_h(self) -> Dict[str, Any]:
        return {"name": self.name,
                "files": [{"name": os.path.basename(self.executable), "path": self.executable}] + self.files,
                "metadata": self.metadata, "module_dir": self.module_dir}

    def check_params(self, params: Dict[str, Any]) -> None:
        """Bolt's (Puppet's) parameter check against the metadata, with its messages."""
        declared = self.metadata.get("parameters")
        if declared is None:
            return
        errors = []
        for key in params:
            if key not in declared and not key.startswith("_"):
                errors.append("has no parameter named '%s'" % key)
        for key, spec in declared.items():
            ptype = parse_type(str((spec or {}).get("type", "Any")))
            if key not in params:
                if not ptype.accepts_undef() and "default" not in (spec or {}):
                    errors.append("expects a value for parameter '%s'" % key)
                continue
            problem = ptype.mismatch(params[key])
            if problem:
                errors.append("parameter '%s' %s" % (key, problem))
        if errors:
            raise BoltError("bolt/pal-error", "Task %s:\n %s" % (self.name, "\n ".join(errors)))


# --- Puppet types (the subset task metadata here uses) -------------------------------------


class PType:
    def __init__(self, name: str, args: List[Any]):
        self.name = name
        self.args = args

    def __str__(self):
        if not self.args:
            return self.name
        return "%s[%s]" % (self.name, ", ".join(_render(a) for a in self.args))

    def accepts_undef(self) -> bool:
        return self.name in ("Optional", "Any", "Undef") or (
            self.name == "Variant" and any(a.accepts_undef() for a in self.args))

    def base(self) -> str:
        return {"Pattern": "String", "Enum": "String"}.get(self.name, self.name)

    def matches(self, value: Any) -> bool:
        n, a = self.name, self.args
        if n == "Any":
            return True
        if n in ("Optional", "Undef"):
            return value is None or (bool(a) and a[0].matches(value))
        if n == "Variant":
            return any(t.matches(value) for t in a)
        if value is None:
            return False
        if n == "Integer":
            return isinstance(value, int) and not isinstance(value, bool) and _in_range(value, a)
        if n == "Float":
            return isinstance(value, float) and _in_range(value, a)
        if n == "Numeric":
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if n == "Boolean":
            return isinstance(value, bool)
        if n == "String":
            return isinstance(value, str) and _in_range(len(value), a)
        if n == "Pattern":
            return isinstance(value, str) and any(re.search(_py_regex(r), value) for r in a)
        if n == "Enum":
            return isinstance(value, str) and value in a
        if n in ("Array", "Tuple"):
            return isinstance(value, list) and _in_range(len(value), a[1:] if a and isinstance(a[0], PType) else a) \
                and (not a or not isinstance(a[0], PType) or all(a[0].matches(v) for v in value))
        if n == "Hash":
            return isinstance(value, dict)
        if n == "Data":
            return True
        return True  # a type this stand-in does not model: accepted

    def mismatch(self, value: Any) -> Optional[str]:
        """None when the value matches, else Puppet's words ('expects ..., got ...')."""
        if self.matches(value):
            return None
        inner = self.args[0] if self.name == "Optional" and self.args else self
        if inner.name in ("Array", "Tuple") and isinstance(value, list) and inner.args and \
                isinstance(inner.args[0], PType):
            for i, item in enumerate(value):
                problem = inner.args[0].mismatch(item)
                if problem:
                    return "index %d %s" % (i, problem)
        optional = inner is not self
        if inner.name == "Pattern" and isinstance(value, str):
            return "expects %sa match for %s, got '%s'" % ("an undef value or " if optional else "", inner, value)
        if inner.name == "Enum" and isinstance(value, str):
            return "expects %sa match for %s, got '%s'" % ("an undef value or " if optional else "", inner, value)
        same_base = _infer(value).split("[")[0] == inner.base()
        wanted = str(inner) if same_base else inner.base()
        got = _infer(value) if same_base else _infer(value).split("[")[0]
        if optional:
            return "expects a value of type Undef or %s, got %s" % (wanted, got)
        return "expects %s %s value, got %s" % ("an" if wanted[0] in "AEIOU" else "a", wanted, got)


def _infer(value: Any) -> str:
    if value is None:
        return "Undef"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer[%d, %d]" % (value, value)
    if isinstance(value, float):
        return "Float[%r, %r]" % (value, value)
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    return "Hash"


def _in_range(n, args) -> bool:
    nums = [a for a in args if not isinstance(a, PType)]
    low = nums[0] if nums and nums[0] != "default" else None
    high = nums[1] if len(nums) > 1 and nums[1] != "default" else None
    return (low is None or n >= low) and (high is None or n <= high)


def _render(arg: Any) -> str:
    if isinstance(arg, PType):
        return str(arg)
    if isinstance(arg, Regex):
        return "/%s/" % arg.source
    if isinstance(arg, str) and arg != "default":
        return "'%s'" % arg
    return str(arg)


class Regex(str):
    @property
    def source(self) -> str:
        return str(self)


def _py_regex(r: Any) -> str:
    src = str(r)
    return re.sub(r"\\z", r"\\Z", src.replace("\\Z", "(?=\\n?\\Z)"))


def parse_type(text: str) -> PType:
    """Parses a Puppet type expression (Name[arg, ...], ints, 'strings', /regexes/, default)."""
    pos = 0

    def skip():
        nonlocal pos
        while pos < len(text) and text[pos] in " \t\n":
            pos += 1

    def value():
        nonlocal pos
        skip()
        c = text[pos]
        if c == "/":
            end = pos + 1
            while text[end] != "/":
                end += 2 if text[end] == "\\" else 1
            src, pos = text[pos + 1:end], end + 1
            return Regex(src)
        if c in "'\"":
            end = text.index(c, pos + 1)
            s, pos = text[pos + 1:end], end + 1
            return s
        m = re.compile(r"-?\d+(\.\d+)?").match(text, pos)
        if m:
            pos = m.end()
            return float(m.group()) if m.group(1) else int(m.group())
        m = re.compile(r"[A-Za-z_][A-Za-z0-9_:]*").match(text, pos)
        if not m:
            raise ValueError("bad type %r at %d" % (text, pos))
        pos = m.end()
        if m.group() == "default":
            return "default"
        args = []
        skip()
        if pos < len(text) and text[pos] == "[":
            pos += 1
            while True:
                args.append(value())
                skip()
                if text[pos] == ",":
                    pos += 1
                    continue
                if text[pos] == "]":
                    pos += 1
                    break
        return PType(m.group(), args)

    return value()


# --- SSH, the way Bolt's ssh transport uses it ---------------------------------------------


class Connection:
    """One SSH connection to a target (an OpenSSH control master), like Bolt's net-ssh session."""

    def __init__(self, name: str, target: Dict[str, Any]):
        self.name = name
        ssh = dict((target.get("config") or {}).get("ssh") or {})
        uri = target["uri"]
        m = re.match(r"\A(?:ssh://)?(?:([^@/]+)@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?/?\Z", uri)
        if not m:
            raise NodeError("puppetlabs.tasks/connect-error", "Failed to connect to %s: invalid URI %s" % (
                name, uri), "CONNECT_ERROR")
        self.host = m.group(2).strip("[]")
        self.port = int(m.group(3) or ssh.get("port") or 22)
        self.user = str(m.group(1) or ssh.get("user") or getpass.getuser())
        self.run_as = ssh.get("run-as")
        self.timeout = int(ssh.get("connect-timeout", 10))
        self.tmpdir = str(ssh.get("tmpdir", "/tmp"))
        self.cleanup = ssh.get("cleanup", True) is not False
        home = os.environ.get("HOME") or os.path.expanduser("~")
        check = ssh.get("host-key-check", True) is not False
        config = os.path.join(home, ".ssh", "config")
        self.options = ["-F", config if ssh.get("load-config", True) and os.path.exists(config) else "none",
                        "-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % self.timeout,
                        "-o", "StrictHostKeyChecking=%s" % ("yes" if check else "no"),
                        "-o", "UserKnownHostsFile=%s" % (os.path.join(home, ".ssh", "known_hosts")
                                                         if check else "/dev/null"),
                        "-o", "User=%s" % self.user, "-o", "Port=%d" % self.port]
        key = ssh.get("private-key")
        if key:
            key = key if not isinstance(key, dict) else key.get("key-data")
            self.options += ["-o", "IdentitiesOnly=yes", "-i", os.path.expanduser(str(key))]
        self.dir = tempfile.mkdtemp(prefix="bolt-standin-")
        _dirs.append(self.dir)
        self.control = os.path.join(self.dir, "c")
        self.master = None  # type: Optional[subprocess.Popen]

    @property
    def known_hosts_name(self) -> str:
        return self.host if self.port == 22 else "[%s]:%d" % (self.host, self.port)

    def connect(self) -> None:
        log = open(os.path.join(self.dir, "master.log"), "w+")
        self.master = _spawn(["ssh", "-M", "-N", "-v", "-S", self.control, "-o", "ControlPersist=no"] + self.options
                             + [self.host], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        while not os.path.exists(self.control):
            if self.master.poll() is not None:
                log.seek(0)
                raise self._connect_error(log.read())
            time.sleep(0.02)

    def _connect_error(self, said: str) -> NodeError:
        lines = [l for l in said.splitlines() if not l.startswith(("debug", "OpenSSH_"))]
        text = "\n".join(lines)
        fp = re.search(r"Server host key: \S+ (SHA256:\S+)", said)
        if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
            how = "does not match" if "HAS CHANGED" in text else "is unknown"
            return NodeError("puppetlabs.tasks/connect-error", 'Host key verification failed for %s: fingerprint %s '
                             '%s for "%s"' % (self.name, fp.group(1) if fp else "?", how, self.known_hosts_name),
                             "HOST_KEY_ERROR")
        if "Permission denied" in text:
            sys.stderr.write(AUTH_WARNING)
            return NodeError("puppetlabs.tasks/connect-error", "Authentication failed for user %s@%s" % (
                self.user, self.host), "AUTH_ERROR")
        if "timed out" in text:
            return NodeError("puppetlabs.tasks/connect-error", "Timeout after %d seconds connecting to %s" % (
                self.timeout, self.name), "CONNECT_ERROR")
        if "Connection refused" in text:
            return NodeError("puppetlabs.tasks/connect-error", "Failed to connect to %s: Connection refused - "
                             "connect(2) for %s:%d" % (self.name, self.host, self.port), "CONNECT_ERROR")
        m = re.search(r"Could not resolve hostname [^:]*: (.*)", text)
        if m:
            return NodeError("puppetlabs.tasks/connect-error", "Failed to connect to %s: getaddrinfo: %s" % (
                self.name, m.group(1).strip()), "CONNECT_ERROR")
        last = lines[-1].strip() if lines else "ssh exited with status %s" % self.master.returncode
        return NodeError("puppetlabs.tasks/connect-error", "Failed to connect to %s: %s" % (self.name, last),
                         "CONNECT_ERROR")

    def execute(self, command: str, stdin: Optional[bytes] = None) -> Tuple[int, bytes, bytes]:
        """Runs a command line on the target; stdin is left open (as Bolt does) when None."""
        argv = ["ssh", "-S", self.control, "-o", "ControlMaster=no", "-o", "LogLevel=ERROR"] + self.options + \
            ["-T", self.host, command]
        if stdin is not None:
            proc = _spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = proc.communicate(stdin)
        else:
            rfd, wfd = os.pipe()
            try:
                proc = _spawn(argv, stdin=rfd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                os.close(rfd)
                out, err = proc.communicate()
            finally:
                os.close(wfd)
        return proc.returncode, out, err

    def upload(self, sources: List[str], destination: str) -> None:
        done = _run(["scp", "-O", "-q", "-o", "ControlPath=%s" % self.control, "-o", "ControlMaster=no",
                     "-o", "LogLevel=ERROR"] + self.options + sources + ["%s:%s" % (self.host, destination)])
        if done.returncode != 0:
            raise NodeError("puppetlabs.tasks/task_file_error", done.stderr.decode("utf-8", "replace").strip() or
                            "scp exited with status %d" % done.returncode, "WRITE_ERROR")

    def checked(self, argv: List[str], code: str, what: str) -> None:
        rc, _out, err = self.execute(" ".join(shlex.quote(a) for a in argv))
        if rc != 0:
            raise NodeError("puppetlabs.tasks/task_file_error", "%s: %s" % (what, err.decode("utf-8", "replace")),
                            code)

    def wrap(self, command: str, env: Optional[Dict[str, str]] = None) -> str:
        """Bolt's command line: /usr/bin/env PT_...=... sh -c '<cmd>', under sudo for run-as."""
        sudo = self.run_as and self.run_as != self.user
        if not env and not sudo:
            return command
        line = "sh -c %s" % shlex.quote(command)
        if env:
            line = "/usr/bin/env %s %s" % (" ".join("%s=%s" % (k, shlex.quote(v)) for k, v in env.items()), line)
        if sudo:
            line = "sudo -n -H -u %s %s" % (shlex.quote(str(self.run_as)), line)
        return line

    def close(self) -> None:
        if self.master is not None and self.master.poll() is None:
            _run(["ssh", "-S", self.control, "-O", "exit", self.host])
            try:
                self.master.wait(5)
            except subprocess.TimeoutExpired:
                self.master.kill()
                self.master.wait()
        for name in os.listdir(self.dir):
            try:
                os.unlink(os.path.join(self.dir, name))
            except OSError:
                pass
        os.rmdir(self.dir)


def _pdeathsig() -> None:
    """Children die with the stand-in (Bolt is one process: ending it ends its SSH sessions)."""
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _spawn(argv: List[str], **kwargs) -> subprocess.Popen:
    proc = subprocess.Popen(argv, preexec_fn=_pdeathsig, **kwargs)
    _children.append(proc)
    return proc


def _run(argv: List[str]) -> subprocess.CompletedProcess:
    proc = _spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


# --- the actions ---------------------------------------------------------------------------


def run_task(task: Task, name: str, target: Dict[str, Any], params: Dict[str, Any]) -> Dict[str, Any]:
    conn = Connection(name, target)
    try:
        conn.connect()
        arguments = dict(params, _task=task.name)
        tmp = "%s/%s" % (conn.tmpdir.rstrip("/"), uuid.uuid4())
        conn.checked(["mkdir", "-m", "700", tmp], "TMPDIR_ERROR", "Could not make tmpdir")
        try:
            task_dir = tmp
            if task.files:
                arguments["_installdir"] = tmp
                task_dir = "%s/%s" % (tmp, task.tasks_dir_name)
                dirs = sorted({task.tasks_dir_name} | {os.path.dirname(f["name"]) for f in task.files})
                conn.checked(["mkdir", "-p"] + ["%s/%s" % (tmp, d) for d in dirs], "MKDIR_ERROR",
                             "Could not create subdirectories")
                by_dir = {}  # type: Dict[str, List[str]]
                for f in task.files:
                    by_dir.setdefault(os.path.dirname(f["name"]), []).append(f["path"])
                for d, paths in sorted(by_dir.items()):
                    conn.upload(paths, "%s/%s/" % (tmp, d))
            remote = "%s/%s" % (task_dir, os.path.basename(task.executable))
            conn.upload([task.executable], remote)
            conn.checked(["chmod", "u+x", remote], "CHMOD_ERROR", "Could not make file '%s' executable" % remote)
            stdin = _dump(arguments).encode() if task.input_method in STDIN_METHODS else None
            env = {"PT_%s" % k: v if isinstance(v, str) else _dump(v) for k, v in arguments.items()} \
                if task.input_method in ENV_METHODS else None
            rc, out, err = conn.execute(conn.wrap(shlex.quote(remote), env), stdin)
        finally:
            if conn.cleanup:
                conn.execute("rm -rf %s" % shlex.quote(tmp), b"")
        return {"target": name, "action": "task", "object": task.name, **for_task(out, err, rc)}
    except NodeError as exc:
        return {"target": name, "action": "task", "object": None, "status": "failure", "value": {"_error": exc.error}}
    finally:
        conn.close()


def for_task(stdout: bytes, stderr: bytes, exit_code: int) -> Dict[str, Any]:
    """Bolt::Result.for_task: the item's status and value from the task's output."""
    try:
        text = stdout.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None:
        value = {"_error": {"kind": "puppetlabs.tasks/task-error", "issue_code": "TASK_ERROR",
                            "msg": "The task result contained invalid UTF-8 on stdout", "details": {}}}
    else:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        value = parsed if isinstance(parsed, dict) else {"_output": text}
    if exit_code != 0 and value.get("_error") is None:
        err = stderr.decode("utf-8", "replace")
        if text == "":
            msg = ("The task failed with exit code %d and no stdout, but stderr contained:\n%s" % (exit_code, err)
                   if err else "The task failed with exit code %d and no output" % exit_code)
        else:
            msg = "The task failed with exit code %d" % exit_code
        value["_error"] = {"kind": "puppetlabs.tasks/task-error", "issue_code": "TASK_ERROR", "msg": msg,
                           "details": {"exit_code": exit_code}}
    if "_error" in value:
        if not (isinstance(value["_error"], dict) and "msg" in value["_error"]):
            value["_error"] = {"msg": "Invalid error returned from task: %s. Error must be an object with a msg "
                                      "key." % _dump(value["_error"]), "kind": "bolt/invalid-task-error",
                               "details": {"original_error": value["_error"]}}
        value["_error"].setdefault("kind", "bolt/error")
        value["_error"].setdefault("details", {})
    return {"status": "failure" if "_error" in value else "success", "value": value}


def run_command(command: str, name: str, target: Dict[str, Any]) -> Dict[str, Any]:
    conn = Connection(name, target)
    try:
        conn.connect()
        rc, out, err = conn.execute(conn.wrap(command))
        o, e = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        value = {"stdout": o, "stderr": e, "merged_output": o + e, "exit_code": rc}
        if rc != 0:
            value["_error"] = {"kind": "puppetlabs.tasks/command-error", "issue_code": "COMMAND_ERROR",
                               "msg": "The command failed with exit code %d" % rc, "details": {"exit_code": rc}}
        return {"target": name, "action": "command", "object": command,
                "status": "failure" if rc != 0 else "success", "value": value}
    except NodeError as exc:
        return {"target": name, "action": "command", "object": None, "status": "failure",
                "value": {"_error": exc.error}}
    finally:
        conn.close()


def print_results(items: List[Dict[str, Any]], started: float) -> int:
    """Bolt's JSON outputter, line for line."""
    out = ['{ "items": [']
    out.append(",\n".join(_dump(i) for i in items))
    out.append('],\n"target_count": %d, "elapsed_time": %d }' % (len(items), int(time.time() - started)))
    sys.stdout.write("\n".join(l for l in out if l) + "\n")
    return 0 if all(i["status"] == "success" for i in items) else 1


def print_error(error: BoltError, format_: str, items_open: bool) -> int:
    if items_open and format_ == "json":
        sys.stdout.write('{ "items": [\n],\n"_error": \n%s\n}\n' % _dump(error.to_h()))
    elif format_ == "json":
        sys.stdout.write(_dump(error.to_h()) + "\n")
    else:
        sys.stderr.write("\x1b[31mError: %s\x1b[0m\n" % error.msg)
    return 1


# --- the command line ----------------------------------------------------------------------

VALUE_OPTIONS = {"--targets": "targets", "-t": "targets", "--params": "params", "--format": "format",
                 "--project": "project", "--inventoryfile": "inventoryfile", "-i": "inventoryfile",
                 "--run-as": "run_as", "--connect-timeout": "connect_timeout", "--user": "user", "-u": "user"}
FLAGS = {"--no-save-rerun": "no_save_rerun", "--noop": "noop", "--no-host-key-check": "no_host_key_check",
         "--host-key-check": "host_key_check", "--verbose": "verbose", "-v": "verbose"}


def parse_args(argv: List[str]) -> Tuple[List[str], Dict[str, Any]]:
    words = []  # type: List[str]
    opts = {"format": "human"}  # type: Dict[str, Any]
    i = 0
    while i < len(argv):
        arg = argv[i]
        key, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if key in VALUE_OPTIONS:
            if eq:
                opts[VALUE_OPTIONS[key]] = inline
            elif i + 1 < len(argv):
                i += 1
                opts[VALUE_OPTIONS[key]] = argv[i]
            else:
                raise BoltError("bolt/cli-error", "Option '%s' needs a parameter" % arg)
        elif arg in FLAGS:
            opts[FLAGS[arg]] = True
        elif arg.startswith("-") and arg != "-":
            raise BoltError("bolt/cli-error", "Unknown argument '%s'" % arg)
        else:
            words.append(arg)
        i += 1
    return words, opts


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    started = time.time()
    if argv in (["--version"], ["version"]):
        print(VERSION)
        return 0
    try:
        words, opts = parse_args(argv)
    except BoltError as exc:
        return print_error(exc, "json" if "json" in argv else "human", False)
    fmt = opts["format"]
    try:
        project = Project(opts.get("project") or os.getcwd(), opts.get("inventoryfile"))
        for warning in project.warnings:
            sys.stderr.write("\x1b[33m%s\x1b[0m\n" % warning)
        if words[:2] == ["task", "show"] and len(words) == 3:
            shown = project.task(words[2]).to_h()
            sys.stdout.write((_dump(shown) if fmt == "json" else "%s\n\n%s" % (
                shown["name"], shown["metadata"].get("description", ""))) + "\n")
            return 0
        if words[:2] == ["inventory", "show"]:
            names = sorted(project.groups.get("all", []))
            default = project.default_inventory
            sys.stdout.write(_dump({"adhoc": {"count": 0, "targets": []},
                                    "inventory": {"count": len(names), "targets": names,
                                                  "file": project.inventory_file, "default": default},
                                    "targets": names, "count": len(names)}) + "\n")
            return 0
        if words[:2] == ["task", "run"] and len(words) >= 3:
            return task_run(project, words[2], words[3:], opts, fmt, started)
        if words[:2] == ["command", "run"] and len(words) == 3:
            targets = _targets(project, opts)
            return print_results([run_command(words[2], n, t) for n, t in targets], started)
        raise BoltError("bolt/cli-error", "The stand-in does not implement 'bolt %s'" % " ".join(words))
    except BoltError as exc:
        return print_error(exc, fmt, words[1:2] == ["run"] and exc.kind != "bolt/cli-error")


def _targets(project: Project, opts: Dict[str, Any]) -> List[Tuple[str, Dict[str, Any]]]:
    if not opts.get("targets"):
        raise BoltError("bolt/cli-error", "Command requires a targeting option: --targets, --query, or --rerun")
    return project.resolve(opts["targets"])


def task_run(project, name, extra, opts, fmt, started) -> int:
    text = opts.get("params")
    if text is not None:
        try:
            params = json.loads(text)
        except ValueError as exc:
            sys.stdout.write("Unable to parse --params value as JSON: %s\n" % exc)
            return 1
    else:
        params = dict(p.split("=", 1) for p in extra if "=" in p)
    task = project.task(name)
    if opts.get("noop"):
        if not task.metadata.get("supports_noop"):
            raise BoltError("bolt/unsupported-noop", "Task %s does not support noop" % name)
        params["_noop"] = True
    task.check_params(params)
    targets = _targets(project, opts)
    return print_results([run_task(task, n, t, params) for n, t in targets], started)


# --- small helpers --------------------------------------------------------------------------


def _yaml(path: str) -> Any:
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        return None
    except yaml.YAMLError as exc:
        raise BoltError("bolt/parse-error", "Unable to parse YAML file at %s: %s" % (path, exc))


def _json_file(path: str) -> Dict[str, Any]:
    with open(path) as f:
        return json.load(f)


def _merge(base: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _terminate(signum, _frame) -> None:
    """Ends the SSH children with the stand-in, as ending Bolt ends its sessions."""
    import shutil
    for child in _children:
        if child.poll() is None:
            child.kill()
    for path in _dirs:
        shutil.rmtree(path, ignore_errors=True)
    os._exit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    sys.exit(main())
