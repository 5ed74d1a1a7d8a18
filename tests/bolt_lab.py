"""A Bolt lab for the Bolt runner's tests: a Bolt CLI over a real OpenSSH server from Debian,
on loopback, started once per test session.

The Bolt CLI is the Bolt stand-in (localorch.bolt_standin: Bolt 4.0.0's CLI
and JSON, running the real task over real ssh/scp), because Bolt is not packaged in Debian,
PyPI or npm. With AUTODIAG_REAL_BOLT=/path/to/bolt the same lab runs an installed real Bolt
instead (that is how tests/fixtures/bolt_answers were recorded: scripts/record_bolt_answers.py).

- sshd on 127.0.0.1 and 127.0.0.2 (one port), its own host key, pubkey login of the user
  running the tests only, no PAM, no passwords;
- a Bolt project (bolt-project.yaml, inventory.yaml, modules/diagnostics = this repo's
  module, modules/labtasks = small tasks of tests/fixtures/bolt_lab_modules) whose inventory
  names one target per way a run can end:
  web01 (reachable), down01 (nothing listens), badkey01 (a key the server refuses),
  newhost01 (127.0.0.2: a host key Bolt has never seen), tarpit01 (accepts TCP, never speaks;
  connect-timeout 600), silent01 (the same, connect-timeout 2);
- `bin/bolt`: the Bolt CLI with HOME set to the lab (its ~/.ssh/known_hosts holds 127.0.0.1's key);
  `bin/bolt-garbled`: the same whose stdout an admin's wrapper cuts short (malformed output).
"""
import getpass
import os
import shutil
import signal
import socket
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from typing import Optional

from net_helpers import unused_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB_MODULES = os.path.join(ROOT, "tests", "fixtures", "bolt_lab_modules")
SSHD = "/usr/sbin/sshd"

_lab = None  # type: Optional[BoltLab]
_lock = threading.Lock()


def _keygen(path: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bolt-lab", "-f", path], check=True)


class BoltLab:
    def __init__(self, real_bolt: Optional[str] = None):
        real_bolt = real_bolt or os.environ.get("AUTODIAG_REAL_BOLT") or None
        if real_bolt and not os.access(real_bolt, os.X_OK):
            raise RuntimeError("AUTODIAG_REAL_BOLT=%s is not an executable" % real_bolt)
        self.real = bool(real_bolt)
        self.dir = tempfile.mkdtemp(prefix="autodiag-bolt-lab-")
        os.chmod(self.dir, 0o755)
        d = self.dir
        self.port = unused_port()
        self.closed_port = unused_port()
        for name in ("hostkey", "client", "stranger"):
            _keygen(os.path.join(d, name))
        shutil.copy(os.path.join(d, "client.pub"), os.path.join(d, "authorized_keys"))
        os.chmod(os.path.join(d, "authorized_keys"), 0o600)
        with open(os.path.join(d, "sshd_config"), "w") as f:
            f.write("ListenAddress 127.0.0.1:%d\nListenAddress 127.0.0.2:%d\nHostKey %s/hostkey\n"
                    "AuthorizedKeysFile %s/authorized_keys\nPasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\nStrictModes no\n"
                    "PermitRootLogin prohibit-password\nAllowUsers %s\nPidFile %s/sshd.pid\nLogLevel INFO\n"
                    % (self.port, self.port, d, d, getpass.getuser(), d))
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        self.sshd = subprocess.Popen([SSHD, "-D", "-f", os.path.join(d, "sshd_config"), "-E", os.path.join(d, "sshd.log")])
        self.tarpit = socket.socket()
        self.tarpit.bind(("127.0.0.1", 0))
        self.tarpit.listen(16)  # accepts (the kernel does), never answers: an SSH banner that never comes
        self.tarpit_port = self.tarpit.getsockname()[1]
        self._wait_for_sshd()
        # the lab's HOME: known_hosts holds the server's key for 127.0.0.1 only
        home = os.path.join(d, "home")
        os.makedirs(os.path.join(home, ".ssh"), mode=0o700)
        with open(os.path.join(d, "hostkey.pub")) as f:
            host_key = " ".join(f.read().split()[:2])
        with open(os.path.join(home, ".ssh", "known_hosts"), "w") as f:
            f.write("[127.0.0.1]:%d %s\n" % (self.port, host_key))
        self.project = os.path.join(d, "project")
        os.makedirs(os.path.join(self.project, "modules"))
        os.symlink(os.path.join(ROOT, "puppet", "diagnostics"), os.path.join(self.project, "modules", "diagnostics"))
        os.symlink(os.path.join(LAB_MODULES, "labtasks"), os.path.join(self.project, "modules", "labtasks"))
        with open(os.path.join(self.project, "bolt-project.yaml"), "w") as f:
            f.write("name: autodiag\nmodulepath: [modules]\nanalytics: false\n")
        with open(os.path.join(self.project, "inventory.yaml"), "w") as f:
            f.write(self.inventory())
        bindir = os.path.join(d, "bin")
        os.makedirs(bindir)
        if real_bolt:
            run = "exec %s" % shlex.quote(real_bolt)
        else:  # the stand-in, with this interpreter and this checkout's code
            run = "PYTHONPATH=%s exec %s -m localorch.bolt_standin" % (
                shlex.quote(os.path.join(ROOT, "src") + ":" + os.path.join(ROOT, "devtools")), shlex.quote(sys.executable))
        self.bolt = self._script(bindir, "bolt", 'HOME=%s %s "$@"\n' % (shlex.quote(home), run))
        self.garbled_bolt = self._script(bindir, "bolt-garbled", '"%s" "$@" | head -c 120\n' % self.bolt)
        self.state_dir = os.path.join(d, "state")
        self.app_log_dir = os.path.join(d, "log")

    def inventory(self) -> str:
        user = getpass.getuser()
        key = os.path.join(self.dir, "client")
        return ("config:\n  transport: ssh\n  ssh:\n    user: %s\n    private-key: %s\n    host-key-check: true\n"
                "    port: %d\n    connect-timeout: 10\n"
                "targets:\n"
                "  - {name: web01, uri: 127.0.0.1}\n"
                "  - {name: web01.example.com, uri: 127.0.0.1}\n"
                "  - {name: down01, uri: '127.0.0.1:%d'}\n"
                "  - name: badkey01\n    uri: 127.0.0.1\n    config: {ssh: {private-key: %s/stranger}}\n"
                "  - {name: newhost01, uri: 127.0.0.2}\n"
                "  - name: tarpit01\n    uri: '127.0.0.1:%d'\n    config: {ssh: {connect-timeout: 600}}\n"
                "  - name: silent01\n    uri: '127.0.0.1:%d'\n    config: {ssh: {connect-timeout: 2}}\n"
                % (user, key, self.port, self.closed_port, self.dir, self.tarpit_port, self.tarpit_port))

    @staticmethod
    def _script(bindir: str, name: str, body: str) -> str:
        path = os.path.join(bindir, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, 0o755)
        return path

    def _wait_for_sshd(self) -> None:
        for _ in range(100):
            if self.sshd.poll() is not None:
                raise RuntimeError("sshd exited: %s" % open(os.path.join(self.dir, "sshd.log")).read())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not listen on 127.0.0.1:%d" % self.port)

    def settings(self, **extra):
        """Plugin/gateway settings of a project diagnosed through this lab's Bolt."""
        values = {"runner": "bolt", "bolt_binary": self.bolt, "bolt_project": self.project,
                  "bolt_state_dir": self.state_dir}
        values.update(extra)
        return values

    def close(self) -> None:
        if self.sshd.poll() is None:
            self.sshd.send_signal(signal.SIGTERM)
            self.sshd.wait(10)
        self.tarpit.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def lab() -> BoltLab:
    """The session's one lab (sshd starts once); closed at exit."""
    global _lab
    with _lock:
        if _lab is None:
            _lab = BoltLab()
            import atexit

            atexit.register(_lab.close)
        return _lab
