"""The release artifacts of `make dist`, installed the way an admin installs them.

Each Puppet module archive goes through Debian's `puppet module install` (offline, into a
temporary modulepath) and must arrive byte for byte with its executable bits; the wheel
goes into a clean Python 3.11+ venv, where `sentry-autodiag --help` runs and the local
orchestrator (a development double) is absent. Runs in `.venv-gateway` (no Sentry, no
database): `make test` does, and so may a developer without the lock.
"""
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(p.parent for p in (ROOT / "puppet").glob("*/metadata.json"))
PUPPET = shutil.which("puppet")


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run([str(ROOT / "scripts" / "dist.sh"), str(out)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out


def _version():
    text = (ROOT / "src" / "sentry_autodiag" / "__init__.py").read_text()
    return text.split('__version__ = "', 1)[1].split('"', 1)[0]


def _shipped_files(module: Path):
    """What a module archive must carry: metadata, README, tasks/, files/."""
    names = ["metadata.json", "README.md"]
    for sub in ("tasks", "files"):
        names += sorted(str(p.relative_to(module)) for p in (module / sub).rglob("*") if p.is_file())
    return names


def test_sha256sums_cover_every_artifact(dist):
    listed = {}
    for line in (dist / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    version = _version()
    expected = {"sentry_autodiag-%s-py3-none-any.whl" % version}
    for module in MODULES:
        meta = json.loads((module / "metadata.json").read_text())
        expected.add("%s-%s.tar.gz" % (meta["name"], meta["version"]))
    sdists = [n for n in listed if n in ("sentry-autodiag-%s.tar.gz" % version, "sentry_autodiag-%s.tar.gz" % version)]
    assert len(sdists) == 1, listed
    assert expected | set(sdists) == set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256((dist / name).read_bytes()).hexdigest() == digest, name
    assert subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=dist).returncode == 0
    # the README's install steps name exactly these files (a version bump must update them)
    readme = (ROOT / "README.md").read_text()
    for name in listed:
        assert name in readme, name


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_module_archive_has_the_forge_layout(dist, module):
    meta = json.loads((module / "metadata.json").read_text())
    top = "%s-%s" % (meta["name"], meta["version"])
    with tarfile.open(dist / (top + ".tar.gz")) as tar:
        members = tar.getmembers()
    assert {m.name.split("/", 1)[0] for m in members} == {top}
    names = {m.name.split("/", 1)[1] for m in members if "/" in m.name and m.isfile()}
    assert set(_shipped_files(module)) <= names
    assert {"LICENSE", "checksums.json"} <= names
    assert all(m.uid == 0 and m.gid == 0 for m in members)


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_module_archive_installs_offline_with_puppet(dist, module, tmp_path):
    if PUPPET is None:
        pytest.fail("Debian's puppet is not installed: run scripts/bootstrap.sh (it installs the package)")
    meta = json.loads((module / "metadata.json").read_text())
    archive = dist / ("%s-%s.tar.gz" % (meta["name"], meta["version"]))
    modulepath = tmp_path / "modules"
    modulepath.mkdir()
    # No network: the archive is a local file and dependencies are not resolved.
    env = dict(os.environ, http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")
    proc = subprocess.run([PUPPET, "module", "install", "--ignore-dependencies", "--modulepath", str(modulepath),
                           str(archive)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = modulepath / module.name
    for name in _shipped_files(module):
        source, copy = module / name, installed / name
        assert copy.read_bytes() == source.read_bytes(), name
        assert stat.S_IMODE(copy.stat().st_mode) & 0o111 == stat.S_IMODE(source.stat().st_mode) & 0o111, name
    assert json.loads((installed / "metadata.json").read_text()) == meta
    for task in (module / "tasks").glob("*.sh"):
        assert os.access(installed / "tasks" / task.name, os.X_OK), task.name
    # checksums.json is right: puppet finds nothing modified, then finds the one change made.
    proc = subprocess.run([PUPPET, "module", "changes", str(installed)], capture_output=True, text=True, timeout=120)
    assert "No modified files" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    with open(installed / "README.md", "a") as fh:
        fh.write("local edit\n")
    proc = subprocess.run([PUPPET, "module", "changes", str(installed)], capture_output=True, text=True, timeout=120)
    assert "README.md" in proc.stdout, proc.stdout + proc.stderr


def test_wheel_and_sdist_leave_out_the_local_orchestrator(dist):
    wheel = dist / ("sentry_autodiag-%s-py3-none-any.whl" % _version())
    names = zipfile.ZipFile(wheel).namelist()
    assert "sentry_autodiag/cli.py" in names and "sentry_autodiag/puppet_types.py" in names
    assert not [n for n in names if "localorch" in n]
    sdist = next(p for p in dist.glob("sentry[-_]autodiag-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        snames = tar.getnames()
    assert not [n for n in snames if "localorch" in n]
    assert any(n.endswith("puppet/diagnostics/tasks/collect.sh") for n in snames)


def test_wheel_installs_into_a_clean_venv(dist, tmp_path):
    wheel = dist / ("sentry_autodiag-%s-py3-none-any.whl" % _version())
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # The dependencies come from the package index (or pip's cache): the wheel's own
    # requirements are what is tested, not this suite's venv.
    proc = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "%s[gateway]" % wheel],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([str(venv / "bin" / "sentry-autodiag"), "--help"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for command in ("gateway", "worker", "check"):
        assert command in proc.stdout
    python = str(venv / "bin" / "python")
    proc = subprocess.run([python, "-c", "import localorch"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode != 0 and "No module named 'localorch'" in proc.stderr
    # The product's own use of the Puppet type checker works without the local orchestrator,
    # and so does the gateway's config reader.
    code = ("from sentry_autodiag import settings; from sentry_autodiag.gateway import config; "
            "print(settings._type_matches('Integer[1, 5]', 3), settings._type_matches('Integer[1, 5]', 9))")
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "False"]
