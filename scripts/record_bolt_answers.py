#!/usr/bin/env python3
"""Records what a real Bolt prints for each case the product and the tests use, into
tests/fixtures/bolt_answers/<case>.json (argv, exit code, stdout, stderr), run in the Bolt
lab (tests/bolt_lab.py: loopback OpenSSH, the lab's Bolt project).

    python3 scripts/record_bolt_answers.py /path/to/real/bolt
    python3 scripts/record_bolt_answers.py --standin /tmp/dir   # the stand-in's answers, to compare

Lab paths, ports, the user, temporary directory names and times are replaced by
placeholders (see tests/fixtures/bolt_answers/README.md) so recordings compare across runs.
Bolt itself is not part of this repository: this script only runs an installed one."""
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
OUT = os.path.join(ROOT, "tests", "fixtures", "bolt_answers")

RUN = ["--format", "json", "--project", "{project}", "--no-save-rerun"]
COLLECT = json.dumps({"log_lines": 5, "max_bytes": 16384})
CASES = {
    "version": ["--version"],
    "task_show_found": ["task", "show", "diagnostics::collect", "--project", "{project}", "--format", "json"],
    "task_show_missing": ["task", "show", "diagnostics::nope", "--project", "{project}", "--format", "json"],
    "collect_ok": ["task", "run", "diagnostics::collect", "--targets", "web01", "--params", COLLECT] + RUN,
    "echo_ok": ["task", "run", "labtasks::echo", "--targets", "web01.example.com", "--params",
                json.dumps({"message": "it's \"quoted\" $HOME\nline 2", "count": 3, "tags": ["a", "b c"]})] + RUN,
    "env_only_ok": ["task", "run", "labtasks::env_only", "--targets", "web01", "--params",
                    json.dumps({"message": "from the environment"})] + RUN,
    "files_ok": ["task", "run", "labtasks::files", "--targets", "web01", "--params", "{}"] + RUN,
    "task_failed": ["task", "run", "labtasks::fail", "--targets", "web01", "--params", "{}"] + RUN,
    "task_failed_quietly": ["task", "run", "labtasks::quiet_fail", "--targets", "web01", "--params", "{}"] + RUN,
    "garbled_task_output": ["task", "run", "labtasks::garbled", "--targets", "web01", "--params", "{}"] + RUN,
    "closed_port": ["task", "run", "diagnostics::collect", "--targets", "down01", "--params", COLLECT] + RUN,
    "refused_key": ["task", "run", "diagnostics::collect", "--targets", "badkey01", "--params", COLLECT] + RUN,
    "unknown_host_key": ["task", "run", "diagnostics::collect", "--targets", "newhost01", "--params", COLLECT] + RUN,
    "connect_timeout": ["task", "run", "diagnostics::collect", "--targets", "silent01", "--params", COLLECT] + RUN,
    "unresolvable_host": ["task", "run", "diagnostics::collect", "--targets", "nosuchhost.invalid",
                          "--params", COLLECT] + RUN,
    "missing_task": ["task", "run", "diagnostics::nope", "--targets", "web01", "--params", COLLECT] + RUN,
    "params_out_of_range": ["task", "run", "diagnostics::collect", "--targets", "web01", "--params",
                            json.dumps({"log_lines": 0})] + RUN,
    "params_wrong_type": ["task", "run", "labtasks::echo", "--targets", "web01", "--params",
                          json.dumps({"message": "x", "count": "three"})] + RUN,
    "params_unknown": ["task", "run", "labtasks::echo", "--targets", "web01", "--params",
                       json.dumps({"message": "x", "colour": "red"})] + RUN,
    "params_pattern": ["task", "run", "diagnostics::collect", "--targets", "web01", "--params",
                       json.dumps({"log_path": "relative/app.log"})] + RUN,
    "params_two_wrong": ["task", "run", "diagnostics::collect", "--targets", "web01", "--params",
                         json.dumps({"allowed_log_dirs": ["rel"], "max_bytes": "big", "since": None})] + RUN,
    "params_missing": ["task", "run", "labtasks::echo", "--targets", "web01", "--params", "{}"] + RUN,
    "params_not_json": ["task", "run", "labtasks::echo", "--targets", "web01", "--params", "{not json"] + RUN,
    "command_ok": ["command", "run", "true", "--targets", "web01"] + RUN,
    "command_failed": ["command", "run", "false", "--targets", "web01"] + RUN,
    "command_closed_port": ["command", "run", "true", "--targets", "down01"] + RUN,
    "command_refused_key": ["command", "run", "true", "--targets", "badkey01"] + RUN,
    "inventory_show_deploy": ["inventory", "show", "--project", "{deploy}", "--inventoryfile",
                              "{deploy}/inventory.example.yaml", "--format", "json"],
}


def normaliser(the_lab, deploy):
    import getpass
    pairs = [(the_lab.dir, "<LAB>"), (deploy, "<DEPLOY>"), (ROOT, "<ROOT>")]
    ports = [(the_lab.closed_port, "<CLOSED_PORT>"), (the_lab.tarpit_port, "<TARPIT_PORT>"), (the_lab.port, "<PORT>")]
    user = getpass.getuser()

    def norm(text):
        for old, new in pairs:
            text = text.replace(old, new)
        for port, new in ports:
            text = re.sub(r"(?<![0-9])%d(?![0-9])" % port, new, text)
        text = re.sub(r"/tmp/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "/tmp/<UUID>", text)
        text = re.sub(r'"elapsed_time": ?[0-9.]+', '"elapsed_time": 0', text)
        text = re.sub(r"SHA256:[A-Za-z0-9+/]{43}", "SHA256:<FINGERPRINT>", text)  # the lab's fresh host key
        text = re.sub(r"(?<=[\s\"'@])%s(?=[\s\"'@])" % re.escape(user), "<USER>", text)
        return text
    return norm


def answers(the_lab, deploy, out=None, cases=CASES):
    """Runs the lab's Bolt CLI for each case; {case: answer}, also written to out/<case>.json."""
    norm = normaliser(the_lab, deploy)

    def record(item):
        name, args = item
        argv = [a.replace("{project}", the_lab.project).replace("{deploy}", deploy) for a in args]
        done = subprocess.run([the_lab.bolt] + argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60)
        answer = {"case": name, "argv": ["bolt"] + [norm(a) for a in argv], "exit_code": done.returncode,
                  "stdout": norm(done.stdout.decode()), "stderr": norm(done.stderr.decode())}
        if out:
            with open(os.path.join(out, name + ".json"), "w") as f:
                json.dump(answer, f, indent=1, ensure_ascii=False)
                f.write("\n")
        return name, answer

    with ThreadPoolExecutor(4) as pool:
        return dict(pool.map(record, sorted(cases.items())))


def deploy_copy():
    """A copy of deploy/bolt (the README's example project) in a temporary directory."""
    import shutil
    import tempfile
    deploy = os.path.join(tempfile.mkdtemp(prefix="autodiag-bolt-deploy-"), "p")
    shutil.copytree(os.path.join(ROOT, "deploy", "bolt"), deploy)
    return deploy


def main(real_bolt, out=OUT):
    import shutil
    from bolt_lab import BoltLab

    the_lab = BoltLab(real_bolt=real_bolt)  # None: the stand-in (to compare it by hand)
    deploy = deploy_copy()
    try:
        for name, answer in sorted(answers(the_lab, deploy, out).items()):
            print("%-24s exit %d" % (name, answer["exit_code"]))
    finally:
        the_lab.close()
        shutil.rmtree(os.path.dirname(deploy), ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(None if sys.argv[1] == "--standin" else os.path.abspath(sys.argv[1]),
         *(sys.argv[2:] and [os.path.abspath(sys.argv[2])]))
