"""diagnostics::collect, run for real the way the task runner does (stdin JSON and PT_*)."""
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

import pytest

from localorch import taskrunner
from sentry_autodiag import puppet_types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = os.path.join(ROOT, "puppet")
SCRIPT = os.path.join(MODULES, "diagnostics", "tasks", "collect.sh")
LIB = os.path.join(MODULES, "diagnostics", "files", "lib")
SECTION_IDS = ["host", "cpu", "memory", "cgroup", "io", "processes_rss", "processes_cpu", "disk", "inodes", "mounts",
               "kernel", "oom", "kernel_events", "fds", "network", "sockets", "clock", "systemd", "journal", "changes",
               "app_errors", "log"]


@pytest.fixture(scope="module")
def spec():
    return taskrunner.load_task(MODULES, "diagnostics::collect")


@pytest.fixture
def logdir(tmp_path):
    d = tmp_path / "log"
    d.mkdir()
    return d


@pytest.fixture
def private_tmp(tmp_path):
    d = tmp_path / "tmp"
    d.mkdir()
    return d


def run(spec, params, private_tmp, path=None, env=None, input_method=None):
    """Runs the task; asserts the universal promises: one JSON object within max_bytes."""
    if input_method:
        spec = spec._replace(input_method=input_method)
    extra = {"TMPDIR": str(private_tmp)}
    if path is not None:
        extra["PATH"] = path
    extra.update(env or {})
    outcome = taskrunner.run_task(spec, params, extra_env=extra, timeout=120)
    max_bytes = params.get("max_bytes")
    valid_cap = isinstance(max_bytes, int) and max_bytes >= 16384
    assert outcome.stdout_bytes <= (max_bytes if valid_cap else 262144)
    assert isinstance(outcome.result, dict)
    assert "_output" not in outcome.result, outcome.result.get("_output", "")[:500]
    assert os.listdir(private_tmp) == [], "the task left files in its temp dir"
    return outcome


def report(spec, params, private_tmp, **kw):
    outcome = run(spec, params, private_tmp, **kw)
    assert outcome.state == "finished", outcome.result
    return outcome.result


def section(result, section_id):
    return next(s for s in result["sections"] if s["id"] == section_id)


def codes(result):
    return [f["code"] for f in result["findings"]]


def fake_bin(tmp_path, name, script):
    d = tmp_path / "fakebin"
    d.mkdir(exist_ok=True)
    f = d / name
    f.write_text("#!/bin/sh\n" + script)
    f.chmod(0o755)
    return d


def path_without(tmp_path, *missing):
    """A PATH holding every tool of this machine except `missing`."""
    d = tmp_path / "limited-bin"
    d.mkdir()
    for src in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        if not os.path.isdir(src):
            continue
        for name in os.listdir(src):
            target = d / name
            if name in missing or target.exists() or target.is_symlink():
                continue
            target.symlink_to(os.path.join(src, name))
    return str(d)


# --- the report's shape --------------------------------------------------------------


def test_report_has_every_section_and_the_envelope(spec, logdir, private_tmp):
    log = logdir / "app.log"
    log.write_text("".join("line %d\n" % i for i in range(1000)))
    result = report(spec, {"log_path": str(log), "log_lines": 5, "allowed_log_dirs": [str(logdir)]},
                    private_tmp)
    assert [s["id"] for s in result["sections"]] == SECTION_IDS
    for s in result["sections"]:
        assert set(s) == {"id", "title", "command", "body", "truncated"}
        assert s["truncated"] is False
    assert result["version"] == json.load(open(os.path.join(MODULES, "diagnostics", "metadata.json")))["version"]
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", result["collected_at"])
    assert result["host"] and result["truncated"] is False
    assert isinstance(result["findings"], list)
    assert section(result, "log")["body"] == "\n".join("line %d" % i for i in range(995, 1000))
    assert "MiB" in section(result, "memory")["body"] or "Mem:" in section(result, "memory")["body"]
    assert "PID" in section(result, "processes_rss")["body"]
    assert "CPUs" in section(result, "host")["body"]


@pytest.mark.parametrize("input_method", ["stdin", "environment", "both"])
def test_parameters_arrive_by_every_input_method(spec, logdir, private_tmp, input_method):
    log = logdir / "app.log"
    log.write_text("".join("entry %d\n" % i for i in range(50)))
    result = report(spec, {"log_path": str(log), "log_lines": 3, "allowed_log_dirs": [str(logdir)]},
                    private_tmp, input_method=input_method)
    assert section(result, "log")["body"] == "entry 47\nentry 48\nentry 49"


def test_defaults_apply_when_no_parameters_are_given(spec, private_tmp):
    result = report(spec, {}, private_tmp)
    assert section(result, "log")["body"] == "no log_path was given to the task"
    assert result["max_bytes"] == 262144


@pytest.mark.parametrize("params, parameter", [
    ({"log_lines": 0}, "log_lines"),
    ({"log_lines": "12; rm -rf /"}, "log_lines"),
    ({"max_bytes": 100}, "max_bytes"),
    ({"since": "$(reboot)"}, "since"),
    ({"allowed_log_dirs": ["relative/dir"]}, "allowed_log_dirs"),
])
def test_bad_parameters_fail_with_a_clear_error(spec, private_tmp, params, parameter):
    # The orchestrator validates types first; the script must still refuse on its own.
    outcome = run(spec, params, private_tmp, input_method="stdin")
    assert outcome.state == "failed" and outcome.exit_code == 1
    assert outcome.result["_error"]["kind"] == "diagnostics/invalid-parameter"
    assert outcome.result["_error"]["details"]["parameter"] == parameter


def test_garbage_on_stdin_is_an_error_not_a_crash(private_tmp):
    proc = subprocess.run([SCRIPT], input=b"\xff\x00not json{", capture_output=True,
                          env={"PATH": os.environ["PATH"], "TMPDIR": str(private_tmp)}, timeout=60)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["_error"]["kind"] == "diagnostics/bad-input"


# --- findings --------------------------------------------------------------------------


def test_oom_kill_in_dmesg_is_a_critical_finding(spec, tmp_path, private_tmp):
    bindir = fake_bin(tmp_path, "dmesg", """cat <<'EOF'
[Sat Nov 21 03:12:40 2026] java invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0
[Sat Nov 21 03:12:40 2026] Out of memory: Killed process 4242 (java) total-vm:8388608kB, anon-rss:6291456kB
EOF
""")
    result = report(spec, {"since": "2026-11-21T03:12:45Z"}, private_tmp, path="%s:%s" % (bindir, os.environ["PATH"]),
                    env={"TZ": "UTC"})
    oom = [f for f in result["findings"] if f["code"] == "oom-kill"]
    assert len(oom) == 1 and oom[0]["severity"] == "critical"
    assert "killed 1 process" in oom[0]["message"] and "4242 (java)" in oom[0]["message"]
    assert oom[0]["section"] == "oom" and oom[0]["at"] == "2026-11-21T03:12:40Z"
    assert "Killed process 4242" in section(result, "oom")["body"]


def test_no_oom_finding_without_oom_lines(spec, tmp_path, private_tmp):
    bindir = fake_bin(tmp_path, "dmesg", "echo '[0.0] Linux version 6.1'\n")
    result = report(spec, {}, private_tmp, path="%s:%s" % (bindir, os.environ["PATH"]))
    assert "oom-kill" not in codes(result)
    assert section(result, "oom")["body"] == "no OOM-killer events in the kernel messages"


def test_full_disk_and_inodes_are_findings(spec, tmp_path, private_tmp):
    bindir = fake_bin(tmp_path, "df", """if case " $* " in *" -i "*) true ;; *) false ;; esac; then
echo 'Filesystem Inodes IUsed IFree IUse% Mounted on'
echo '/dev/sdb1 1000 950 50 95% /var/lib/my app'
else
echo 'Filesystem 1024-blocks Used Available Capacity Mounted on'
echo '/dev/sda1 1000 910 90 91% /'
echo '/dev/sdc1 1000 900 100 90% /data'
fi
""")
    result = report(spec, {}, private_tmp, path="%s:%s" % (bindir, os.environ["PATH"]))
    disk = [f["message"] for f in result["findings"] if f["code"] == "disk-full"]
    inodes = [f["message"] for f in result["findings"] if f["code"] == "inodes-full"]
    assert disk == ["/ is 91 % full (space)"]  # 90 % is not > 90 %
    assert inodes == ["/var/lib/my app is 95 % full (inodes)"]


def test_df_reads_local_filesystems_only_so_a_hung_nfs_mount_cannot_stall_it(spec, tmp_path, private_tmp):
    # the task asks df for local filesystems only (-l), for space and inodes, tmpfs included ...
    calls = tmp_path / "df-calls"
    bindir = fake_bin(tmp_path, "df", 'echo "$*" >> %s\nexec /usr/bin/df "$@"\n' % calls)
    report(spec, {}, private_tmp, path="%s:%s" % (bindir, os.environ["PATH"]))
    argv = calls.read_text().splitlines()
    assert len(argv) >= 2 and all(" -l" in " " + a for a in argv), argv
    assert any(" -i" in " " + a for a in argv)
    # ... and the real df then leaves a remote mount out without asking it (device host:/export)
    mnt = tmp_path / "nas"
    mnt.mkdir()
    script = "mount -t tmpfs -o size=1m nas:/export %s && df -P -t tmpfs; echo ==; df -P -l -t tmpfs" % mnt
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=30)
    everything, local = done.stdout.split("==")
    assert "nas:/export" in everything and "nas:/export" not in local, done


def test_low_memory_and_high_load_are_findings(spec, tmp_path, private_tmp):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "meminfo").write_text("MemTotal:       16000000 kB\nMemFree:          100000 kB\nMemAvailable:     800000 kB\n")
    (proc / "loadavg").write_text("99.50 40.00 20.00 3/900 12345\n")
    (proc / "uptime").write_text("90061.5 1000.0\n")
    result = report(spec, {}, private_tmp, env={"DIAGNOSTICS_PROC_ROOT": str(proc)})
    assert "low-memory" in codes(result) and "high-load" in codes(result)
    assert "uptime:  1d 1h 1m" in section(result, "host")["body"]
    assert "only 5 % of memory is available" in result["findings"][codes(result).index("low-memory")]["message"]


def test_healthy_numbers_give_no_memory_or_load_finding(spec, tmp_path, private_tmp):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "meminfo").write_text("MemTotal: 16000000 kB\nMemAvailable: 8000000 kB\n")
    (proc / "loadavg").write_text("0.10 0.10 0.10 1/100 1\n")
    (proc / "uptime").write_text("10.0 1.0\n")
    result = report(spec, {}, private_tmp, env={"DIAGNOSTICS_PROC_ROOT": str(proc)})
    assert "low-memory" not in codes(result) and "high-load" not in codes(result)


# --- missing tools -------------------------------------------------------------------


def test_missing_tools_never_fail_the_task(spec, tmp_path, private_tmp):
    path = path_without(tmp_path, "ss", "netstat", "dmesg", "journalctl", "free")
    result = report(spec, {}, private_tmp, path=path)
    assert "ss and netstat: not available on this node" in section(result, "sockets")["body"]
    assert section(result, "kernel")["body"] == "dmesg and journalctl: not available on this node"
    assert section(result, "oom")["body"] == "dmesg and journalctl: not available on this node"


def test_kernel_messages_fall_back_to_the_journal_then_say_not_permitted(spec, tmp_path, private_tmp):
    bindir = fake_bin(tmp_path, "dmesg", "echo 'dmesg: read kernel buffer failed: Operation not permitted' >&2; exit 1\n")
    (bindir / "journalctl").write_text("#!/bin/sh\necho 'Nov 21 03:12:40 web01 kernel: Out of memory: Killed process 77 (ruby)'\n")
    (bindir / "journalctl").chmod(0o755)
    result = report(spec, {}, private_tmp, path="%s:%s" % (bindir, os.environ["PATH"]))
    assert section(result, "kernel")["command"].startswith("journalctl -k")
    assert "oom-kill" in codes(result)

    (bindir / "journalctl").write_text("#!/bin/sh\nexit 1\n")
    result = report(spec, {}, private_tmp, path="%s:%s" % (bindir, os.environ["PATH"]))
    assert "not permitted" in section(result, "kernel")["body"]


# --- the log path --------------------------------------------------------------------


def log_finding(result):
    found = [f for f in result["findings"] if f["code"].startswith("log-")]
    assert len(found) == 1, result["findings"]
    return found[0]


def test_nonexistent_log_path(spec, logdir, private_tmp):
    result = report(spec, {"log_path": str(logdir / "nope.log"), "allowed_log_dirs": [str(logdir)]}, private_tmp)
    assert log_finding(result)["code"] == "log-missing"
    assert "does not exist" in section(result, "log")["body"]


def test_directory_log_path(spec, logdir, private_tmp):
    (logdir / "sub").mkdir()
    result = report(spec, {"log_path": str(logdir / "sub"), "allowed_log_dirs": [str(logdir)]}, private_tmp)
    assert log_finding(result)["code"] == "log-rejected"
    assert "is a directory" in section(result, "log")["body"]


def test_log_path_outside_allowed_dirs(spec, tmp_path, logdir, private_tmp):
    outside = tmp_path / "secret.txt"
    outside.write_text("root:x:0:0\n")
    result = report(spec, {"log_path": str(outside), "allowed_log_dirs": [str(logdir)]}, private_tmp)
    assert log_finding(result)["code"] == "log-rejected"
    assert "outside the allowed directories" in section(result, "log")["body"]
    assert "root:x" not in json.dumps(result)


def test_symlink_escaping_the_allowed_dir_is_rejected(spec, tmp_path, logdir, private_tmp):
    outside = tmp_path / "shadow"
    outside.write_text("root:$6$hash\n")
    (logdir / "app.log").symlink_to(outside)
    result = report(spec, {"log_path": str(logdir / "app.log"), "allowed_log_dirs": [str(logdir)]}, private_tmp)
    assert log_finding(result)["code"] == "log-rejected"
    assert "$6$hash" not in json.dumps(result)


def test_dotdot_and_prefix_tricks_are_rejected(spec, tmp_path, logdir, private_tmp):
    sibling = tmp_path / (logdir.name + "-evil")
    sibling.mkdir()
    (sibling / "x.log").write_text("evil\n")
    for path in (str(logdir / ".." / (logdir.name + "-evil") / "x.log"), str(sibling / "x.log")):
        result = report(spec, {"log_path": path, "allowed_log_dirs": [str(logdir)]}, private_tmp)
        assert log_finding(result)["code"] == "log-rejected"


def test_symlink_inside_the_allowed_dir_is_followed(spec, logdir, private_tmp):
    real = logdir / "app-2026.log"
    real.write_text("hello\n")
    (logdir / "current.log").symlink_to(real)
    result = report(spec, {"log_path": str(logdir / "current.log"), "allowed_log_dirs": [str(logdir)]}, private_tmp)
    assert section(result, "log")["body"] == "hello"
    assert not [f for f in result["findings"] if f["code"].startswith("log-")]


def test_device_and_fifo_are_rejected(spec, logdir, private_tmp):
    os.mkfifo(str(logdir / "pipe.log"))
    result = report(spec, {"log_path": str(logdir / "pipe.log"), "allowed_log_dirs": [str(logdir)]}, private_tmp)
    assert "not a regular file" in section(result, "log")["body"]
    result = report(spec, {"log_path": "/dev/zero", "allowed_log_dirs": ["/dev"]}, private_tmp)
    assert "not a regular file" in section(result, "log")["body"]


def test_unreadable_log_is_reported(spec, tmp_path):
    # root reads everything, so as root the task runs as `nobody`; dirs must be reachable.
    base = tempfile.mkdtemp(prefix="diag-unreadable-")
    try:
        os.chmod(base, 0o755)
        logdir, private_tmp = os.path.join(base, "log"), os.path.join(base, "tmp")
        os.mkdir(logdir, 0o755)
        os.mkdir(private_tmp)
        os.chmod(private_tmp, 0o777)
        log = os.path.join(logdir, "app.log")
        with open(log, "w") as fh:
            fh.write("secret\n")
        os.chmod(log, 0o000)
        if os.geteuid() == 0:
            wrapper = os.path.join(base, "as-nobody.sh")
            with open(wrapper, "w") as fh:
                fh.write('#!/bin/sh\nexec /usr/sbin/runuser -u nobody -- env TMPDIR="$TMPDIR" %s "$@"\n' % SCRIPT)
            os.chmod(wrapper, 0o755)
            spec = spec._replace(executable=wrapper)
        result = report(spec, {"log_path": log, "allowed_log_dirs": [logdir]}, private_tmp)
        assert log_finding(result)["code"] == "log-unreadable"
        assert "secret" not in section(result, "log")["body"]
    finally:
        shutil.rmtree(base)


def test_since_shows_the_lines_around_the_event(spec, logdir, private_tmp):
    log = logdir / "app.log"
    lines = ["2026-11-21 03:%02d:00,000 INFO request %d" % (m, m) for m in range(60)]
    log.write_text("\n".join(lines) + "\n" + "".join("2026-11-21 04:00:%02d INFO later\n" % s for s in range(50)))
    result = report(spec, {"log_path": str(log), "log_lines": 6, "since": "2026-11-21T03:30:00",
                           "allowed_log_dirs": [str(logdir)]}, private_tmp, env={"TZ": "UTC"})
    log_section = section(result, "log")
    assert log_section["body"].splitlines() == lines[27:33]
    assert "around 2026-11-21T03:30:00" in log_section["command"]


def test_since_falls_back_to_the_tail_without_timestamps(spec, logdir, private_tmp):
    log = logdir / "app.log"
    log.write_text("".join("no stamp %d\n" % i for i in range(20)))
    result = report(spec, {"log_path": str(log), "log_lines": 2, "since": "2026-11-21T03:30:00Z",
                           "allowed_log_dirs": [str(logdir)]}, private_tmp)
    assert section(result, "log")["body"] == "no stamp 18\nno stamp 19"
    assert "the lines carry no ISO timestamps, so the tail is shown" in section(result, "log")["command"]


# --- hostile content and bounds ------------------------------------------------------


def test_adversarial_log_content_stays_valid_json(spec, logdir, private_tmp):
    log = logdir / "app.log"
    nasty = (b'quote " backslash \\ tab\t cr\r bell\x07 esc \x1b[31mred\x1b[0m nul\x00end\n'
             b"invalid utf8 \xff\xfe \xc3\x28 overlong \xc0\xaf surrogate \xed\xa0\x80 ok \xc3\xa9 \xf0\x9f\x92\xa5\n"
             b"```\n</pre><script>alert(1)</script>\n")
    log.write_bytes(nasty)
    result = report(spec, {"log_path": str(log), "allowed_log_dirs": [str(logdir)]}, private_tmp)
    body = section(result, "log")["body"]
    assert 'quote " backslash \\ tab\t cr\r bell\x07 esc \x1b[31mred' in body
    assert "nulend" in body and "\x00" not in body
    assert "invalid utf8 \ufffd\ufffd \ufffd( overlong \ufffd\ufffd surrogate \ufffd\ufffd\ufffd ok \u00e9 \U0001f4a5" in body
    assert "<script>alert(1)</script>" in body  # kept verbatim: rendering is the plugin's job


def test_one_megabyte_line_is_cut_within_max_bytes(spec, logdir, private_tmp):
    log = logdir / "app.log"
    log.write_bytes(b"first\n" + b"\"\\" * 300000 + b"x" * 400000 + b"\nlast\n")
    result = report(spec, {"log_path": str(log), "max_bytes": 16384, "allowed_log_dirs": [str(logdir)]},
                    private_tmp)
    assert result["truncated"] is True
    assert len(json.dumps(result, ensure_ascii=False).encode()) <= 16384


@pytest.mark.parametrize("max_bytes", [16384, 40000, 262144])
def test_output_never_exceeds_max_bytes(spec, logdir, private_tmp, max_bytes):
    log = logdir / "app.log"
    log.write_bytes(b"".join(b"\x01\x02 %s \"%d\xff\n" % (b"y" * 60, i) for i in range(20000)))
    outcome = run(spec, {"log_path": str(log), "log_lines": 5000, "max_bytes": max_bytes,
                         "allowed_log_dirs": [str(logdir)]}, private_tmp)
    assert outcome.state == "finished"
    assert outcome.stdout_bytes <= max_bytes
    assert outcome.result["truncated"] is True
    # The newest lines are the ones kept.
    assert section(outcome.result, "log")["body"].endswith('"19999\ufffd')


SECRETS = [
    ("password=hunter2", "hunter2"),
    ("DB_PASSWORD: 'correct horse battery'", "correct horse battery"),
    ('{"api_key": "sk_live_51Habc"}', "sk_live_51Habc"),
    ("client_secret=s3cr3tvalue&next=1", "s3cr3tvalue"),
    ("X-Api-Token: tok_998877", "tok_998877"),
    ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
    ("curl -H 'authorization: Bearer abc.def.ghi'", "abc.def.ghi"),
    ("sent Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig to upstream", "eyJhbGciOiJIUzI1NiJ9"),
    ("aws key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
    ("connect postgres://app:pa55w0rd@db.internal:5432/app", "pa55w0rd"),
    ("private_key = abcdefprivate", "abcdefprivate"),
]


def test_secrets_are_masked_and_counted(spec, logdir, private_tmp):
    log = logdir / "app.log"
    key_block = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAsecretkeymaterial\n"
                 "-----END RSA PRIVATE KEY-----\n")
    log.write_text("\n".join(line for line, _ in SECRETS) + "\n" + key_block + "an ordinary line\n")
    result = report(spec, {"log_path": str(log), "allowed_log_dirs": [str(logdir)]}, private_tmp)
    text = json.dumps(result)
    for line, secret in SECRETS:
        assert secret not in text, line
    assert "secretkeymaterial" not in text
    body = section(result, "log")["body"]
    assert "[REDACTED PRIVATE KEY]" in body
    assert "postgres://app:[REDACTED]@db.internal" in body
    assert "an ordinary line" in body
    assert result["redactions"] >= len(SECRETS) + 1


def test_ordinary_words_are_not_masked(spec, logdir, private_tmp):
    log = logdir / "app.log"
    log.write_text("user logged in with password reset flow\ntoken bucket refilled\n")
    result = report(spec, {"log_path": str(log), "allowed_log_dirs": [str(logdir)]}, private_tmp)
    assert section(result, "log")["body"] == "user logged in with password reset flow\ntoken bucket refilled"
    assert result["redactions"] == 0


# --- read-only -----------------------------------------------------------------------

WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND")


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is installed by scripts/bootstrap.sh")
def test_the_script_writes_nothing_outside_its_temp_dir(spec, tmp_path, logdir, private_tmp):
    log = logdir / "app.log"
    log.write_text("hello\n")
    trace = tmp_path / "trace.txt"
    wrapper = tmp_path / "traced.sh"
    wrapper.write_text("#!/bin/sh\nexec strace -f -qq -o %s -e trace=open,openat,creat,mkdir,mkdirat,rename,"
                       "renameat,renameat2,unlink,unlinkat,rmdir,link,linkat,symlink,symlinkat,truncate,chmod,"
                       "fchmodat,chown,fchownat %s\n" % (trace, SCRIPT))
    wrapper.chmod(0o755)
    result = report(spec._replace(executable=str(wrapper)),
                    {"log_path": str(log), "allowed_log_dirs": [str(logdir)]}, private_tmp)
    assert section(result, "log")["body"] == "hello"
    allowed = (str(private_tmp) + "/", "/dev/null", "/dev/tty")
    offending = []
    for line in trace.read_text().splitlines():
        if "= -1" in line or "resumed>" in line and "=" not in line:
            continue
        m = re.search(r'(open|openat|creat)\((?:[A-Z_]+, )?"([^"]*)", ([^)]*)\)', line)
        if m:
            if m.group(1) == "creat" or WRITE_FLAGS.search(m.group(3)):
                if not m.group(2).startswith(allowed):
                    offending.append(line)
            continue
        m = re.search(r'(mkdir|mkdirat|rename|renameat2?|unlink|unlinkat|rmdir|link|linkat|symlink|symlinkat|'
                      r'truncate|chmod|fchmodat|chown|fchownat)\((?:[A-Z_]+, )?"([^"]*)"', line)
        if m and not m.group(2).startswith(allowed) and not m.group(2).startswith("diagnostics."):
            offending.append(line)
    assert offending == []
    assert "openat" in trace.read_text() or "open(" in trace.read_text()


# --- static checks -------------------------------------------------------------------


def test_shellcheck_passes():
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is installed by scripts/bootstrap.sh"
    libs = sorted(os.path.join(LIB, f) for f in os.listdir(LIB) if f.endswith(".sh"))
    proc = subprocess.run([shellcheck, "--severity=style", "-x", SCRIPT] + libs, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_script_follows_the_house_rules():
    text = open(SCRIPT).read()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -u\n" in text
    assert not re.search(r"\beval\b", text)
    assert not re.search(r"\b(curl|wget|nc|ssh|scp)\b", text)
    assert os.access(SCRIPT, os.X_OK)


def test_task_metadata_follows_the_task_spec(spec):
    meta = spec.metadata
    taskrunner.check_metadata(meta)  # raises on unknown keys or unparseable types
    assert set(meta) >= {"description", "input_method", "supports_noop", "parameters", "implementations"}
    assert meta["supports_noop"] is False and meta["input_method"] in ("stdin", "environment", "both")
    assert set(meta["parameters"]) == {"log_path", "log_lines", "since", "max_bytes", "allowed_log_dirs",
                                       "change_window_minutes"}
    for name, pdef in meta["parameters"].items():
        assert re.match(r"^[a-z][a-z0-9_]*$", name)
        assert pdef.get("description"), name
        puppet_types.parse_type(pdef["type"])
    for impl in meta["implementations"]:
        assert os.path.isfile(os.path.join(MODULES, "diagnostics", "tasks", impl["name"]))
    assert re.match(r"^[a-z][a-z0-9_]*$", os.path.basename(SCRIPT).split(".")[0])


@pytest.mark.parametrize("name, value, ok", [
    ("log_path", "/var/log/app.log", True), ("log_path", "var/log/app.log", False),
    ("log_path", "/var/log/a\nb", False), ("log_path", "/" + "a" * 2000, False),
    ("log_lines", 200, True), ("log_lines", 5001, False), ("log_lines", "200", False),
    ("since", "2026-11-21T03:12:45Z", True), ("since", "2026-11-21T03:12:45.123+01:00", True),
    ("since", "2026-11-21T03:12:45Z\n; x", False),
    ("max_bytes", 262144, True), ("max_bytes", 1, False),
    ("allowed_log_dirs", ["/var/log", "/srv/app/log"], True), ("allowed_log_dirs", [], False),
    ("allowed_log_dirs", "/var/log", False),
])
def test_parameter_types_accept_and_refuse_as_declared(spec, name, value, ok):
    assert (taskrunner.validate_params(spec, {name: value}) == []) is ok


def test_module_metadata_has_the_forge_required_fields():
    meta = json.load(open(os.path.join(MODULES, "diagnostics", "metadata.json")))
    for key in ("name", "version", "author", "license", "summary", "source", "dependencies"):
        assert meta.get(key) is not None, key
    assert re.match(r"^[a-zA-Z0-9]+[-/][a-z][a-z0-9_]*$", meta["name"]) and meta["name"].endswith("-diagnostics")
    assert re.match(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$", meta["version"])
    assert len(meta["summary"]) <= 144
    assert isinstance(meta["dependencies"], list)
    families = {os_["operatingsystem"] for os_ in meta["operatingsystem_support"]}
    assert {"RedHat", "Debian", "Ubuntu"} <= families
    assert all(isinstance(os_["operatingsystemrelease"], list) for os_ in meta["operatingsystem_support"])


def test_module_ships_in_the_sdist(tmp_path):
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path)], cwd=ROOT, check=True,
                   capture_output=True)
    (sdist,) = tmp_path.glob("sentry-autodiag-*.tar.gz")
    with tarfile.open(str(sdist)) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for path in ("puppet/diagnostics/metadata.json", "puppet/diagnostics/tasks/collect.json",
                 "puppet/diagnostics/tasks/collect.sh", "puppet/diagnostics/README.md", "LICENSE", "README.md") + \
            tuple("puppet/diagnostics/files/lib/" + f for f in os.listdir(LIB)):
        assert path in names, path
