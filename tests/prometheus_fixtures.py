"""A real Prometheus scraping a real node_exporter, on loopback, for the metrics tests.

Both come from Debian's packages (`prometheus`, `prometheus-node-exporter`, installed by
scripts/bootstrap.sh). Prometheus serves https with a throw-away CA and basic auth (its
own web config), so the tests go through the same TLS pinning and credentials as
production; it scrapes node_exporter every second and relabels the target's instance to
NODE_INSTANCE, the value a node's label has in a typical `{certname}:9100` setup.
"""
import crypt
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from typing import NamedTuple

import pytest
import requests

from net_helpers import unused_port
from localorch import pki

NODE = "web01.example.com"
NODE_INSTANCE = NODE + ":9100"
USER = "autodiag"
PASSWORD = "pr0m-s3cret with space"
MIN_SAMPLES = 8                     # wait until this many scrapes of the node are stored


class RealPrometheus(NamedTuple):
    url: str                        # https://localhost:<port> (the name on its certificate)
    ca_pem: str
    user: str
    password: str
    node: str                       # the certname whose series exist
    node_value: str                 # metrics_node_value template that maps it to the instance label
    started: float                  # when the first sample was scraped (unix time)


def _binary(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail("%s is not installed: run scripts/bootstrap.sh (it installs Debian's %s package)"
                    % (name, name))
    return path


def _bcrypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # crypt: the only bcrypt in the stdlib
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="session")
def real_prometheus():
    """node_exporter + Prometheus (TLS, basic auth, 1 s scrapes), up until real series exist."""
    exporter_bin, prometheus_bin = _binary("prometheus-node-exporter"), _binary("prometheus")
    workdir = tempfile.mkdtemp(prefix="autodiag-prometheus-")
    exporter_port, prometheus_port = unused_port(), unused_port()
    tls = pki.generate(("127.0.0.1", "localhost"), ca_name="Prometheus test CA (sentry-autodiag)")
    for name, text in (("cert.pem", tls.cert_pem), ("key.pem", tls.key_pem)):
        with open(os.path.join(workdir, name), "w") as fh:
            fh.write(text)
    with open(os.path.join(workdir, "web.yml"), "w") as fh:
        json.dump({"tls_server_config": {"cert_file": os.path.join(workdir, "cert.pem"),
                                         "key_file": os.path.join(workdir, "key.pem")},
                   "basic_auth_users": {USER: _bcrypt(PASSWORD)}}, fh)
    with open(os.path.join(workdir, "prometheus.yml"), "w") as fh:
        json.dump({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{
                "job_name": "node",
                "static_configs": [{"targets": ["127.0.0.1:%d" % exporter_port]}],
                "relabel_configs": [{"target_label": "instance", "replacement": NODE_INSTANCE}],
            }],
        }, fh)
    logs = open(os.path.join(workdir, "processes.log"), "w")
    exporter = subprocess.Popen([
        exporter_bin, "--web.listen-address=127.0.0.1:%d" % exporter_port,
        # slow or noisy here, and not used by the default queries
        "--no-collector.arp", "--no-collector.bcache", "--no-collector.btrfs", "--no-collector.hwmon",
        "--no-collector.infiniband", "--no-collector.ipvs", "--no-collector.mdadm", "--no-collector.nfs",
        "--no-collector.nfsd", "--no-collector.powersupplyclass", "--no-collector.rapl", "--no-collector.zfs",
        "--no-collector.thermal_zone", "--no-collector.xfs", "--no-collector.tapestats", "--no-collector.fibrechannel",
        "--no-collector.nvme", "--no-collector.schedstat", "--no-collector.softnet", "--no-collector.udp_queues",
        # a container's root file system is an overlay: keep it (node_exporter leaves it out by default)
        "--collector.filesystem.fs-types-exclude=^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|"
        "devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|"
        "squashfs|sysfs|tracefs)$",
    ], stdout=logs, stderr=subprocess.STDOUT)
    prometheus = subprocess.Popen([
        prometheus_bin, "--config.file=%s" % os.path.join(workdir, "prometheus.yml"),
        "--web.config.file=%s" % os.path.join(workdir, "web.yml"),
        "--web.listen-address=127.0.0.1:%d" % prometheus_port,
        "--storage.tsdb.path=%s" % os.path.join(workdir, "data"), "--storage.tsdb.retention.time=1h",
        "--log.level=warn",
    ], stdout=logs, stderr=subprocess.STDOUT)
    url = "https://localhost:%d" % prometheus_port
    ca_file = os.path.join(workdir, "ca.pem")
    with open(ca_file, "w") as fh:
        fh.write(tls.ca_pem)
    try:
        started = _wait_for_series(url, ca_file, (exporter, prometheus), workdir)
        yield RealPrometheus(url, tls.ca_pem, USER, PASSWORD, NODE, "{certname}:9100", started)
    finally:
        _stop(prometheus)
        _stop(exporter)
        logs.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for_series(url: str, ca_file: str, processes, workdir: str, timeout: float = 60.0) -> float:
    """Until Prometheus holds MIN_SAMPLES scrapes of node_load1 for the node; returns the first's time."""
    query = 'node_load1{instance="%s"}[5m]' % NODE_INSTANCE
    deadline = time.time() + timeout
    last = "no answer"
    while time.time() < deadline:
        for process in processes:
            if process.poll() is not None:
                with open(os.path.join(workdir, "processes.log")) as fh:
                    pytest.fail("%s exited: %s" % (process.args[0], fh.read()[-2000:]))
        try:
            answer = requests.get(url + "/api/v1/query", params={"query": query}, auth=(USER, PASSWORD),
                                  verify=ca_file, timeout=2).json()
            result = answer["data"]["result"]
            if result and len(result[0]["values"]) >= MIN_SAMPLES:
                return float(result[0]["values"][0][0])
            last = "%d samples" % (len(result[0]["values"]) if result else 0)
        except (requests.RequestException, ValueError, KeyError) as exc:
            last = repr(exc)
        time.sleep(0.5)
    pytest.fail("Prometheus had no series of node_exporter within %d s (%s)" % (timeout, last))
