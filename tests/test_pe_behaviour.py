"""The local orchestrator answers as PE does where the notes depend on it, and the client
tells an unknown certname from a stopped agent with what PE offers (PuppetDB: the real one,
scripts/puppetdb.sh, fed with `replace facts` commands)."""
import os
import time

import pytest

from net_helpers import unused_port
from sentry_autodiag import orchestrator as oc
from localorch import pki
from localorch.server import LocalOrchestrator

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE_MODULES = os.path.join(HERE, "modules")
NODES = ["web01.example.com", "web02.example.com", "deb01.example.com"]


@pytest.fixture
def orch():
    with LocalOrchestrator(nodes=NODES, modules_dir=SAMPLE_MODULES, token="s3cret-token") as server:
        yield server


@pytest.fixture
def client(orch):
    with oc.OrchestratorClient(orch.url, orch.token, orch.ca_pem, read_timeout=10, puppetdb_url=orch.url) as c:
        yield c


def wait_done(client, name, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.job(name)
        if job.done:
            return job
        time.sleep(0.05)
    raise AssertionError("job %s not done" % name)


def run_one(client, task, params, node="web01.example.com", **kw):
    name = client.run_task(task, params, nodes=[node], **kw)
    wait_done(client, name)
    return name, client.job_node(name, node)


# --- unknown certname vs agent down -------------------------------------------------------


def test_unknown_certname_in_a_nodes_scope_runs_and_errors_like_a_stopped_agent(client, orch):
    orch.set_connected("web02.example.com", False)
    _, unknown = run_one(client, "sample::echo", {"message": "x"}, node="web01")  # short name: unknown to PE
    _, down = run_one(client, "sample::echo", {"message": "x"}, node="web02.example.com")
    for node in (unknown, down):
        assert node.state == "errored"
        assert node.error == {"kind": "puppetlabs.orchestrator/execution-failure",
                              "msg": "%s is not connected to the PCP broker" % node.name, "details": {"node": node.name}}
    assert orch.task_runs == 0
    # the facts PE gives tell them apart
    assert client.node_known("web01") is False
    assert client.node_known("web02.example.com") is True
    # and POST /inventory cannot: both are simply "not connected"
    assert client.inventory(["web01", "web02.example.com"]) == {"web01": False, "web02.example.com": False}


def test_unknown_certname_in_a_query_scope_is_empty_target(client, orch):
    with pytest.raises(oc.EmptyTarget):
        client.run_task("sample::echo", {"message": "x"}, query='nodes[certname] { certname = "web01" }')
    assert orch.jobs == {}


def test_node_known_is_none_when_the_token_may_not_query_puppetdb(orch, client):
    orch.may_query_puppetdb = False
    assert client.node_known("web01.example.com") is None
    with pytest.raises(oc.QueryError) as exc:  # and a query scope answers query-error
        client.run_task("sample::echo", {"message": "x"}, query='nodes[certname] { certname = "web01.example.com" }')
    assert exc.value.reason == "query"


def test_node_known_is_none_when_puppetdb_is_unreachable_or_odd(orch):
    with oc.OrchestratorClient(orch.url, orch.token, orch.ca_pem,
                               puppetdb_url="https://localhost:%d" % unused_port()) as c:
        assert c.node_known("web01.example.com") is None
    with oc.OrchestratorClient(orch.url, "wrong-token", orch.ca_pem, puppetdb_url=orch.url) as c:
        assert c.node_known("web01.example.com") is None  # 401
    with oc.OrchestratorClient(orch.url, orch.token, orch.ca_pem, puppetdb_url=orch.url) as c:
        assert c.node_known('web01" or certname ~ "') is None  # never builds a query from such a name
        assert c.node_known("") is None


def test_puppetdb_url_defaults_to_the_primary_port_8081():
    pem = pki.generate(["pe.example.com"]).ca_pem
    with oc.OrchestratorClient("https://pe.example.com", "t", pem) as c:
        assert c.puppetdb_url == "https://pe.example.com:8081"
    with oc.OrchestratorClient("https://pe.example.com", "t", pem, puppetdb_url="https://pdb.example.com/pdb") as c:
        assert c.puppetdb_url == "https://pdb.example.com:8081"
    with pytest.raises(oc.ConfigurationError):
        oc.OrchestratorClient("https://pe.example.com", "t", pem, puppetdb_url="http://pdb.example.com")


@pytest.mark.parametrize("how, state, known", [
    (None, "active", True),
    ("deactivate", "deactivated", False),   # puppet node deactivate
    ("expire", "expired", False),           # no check-in for longer than PuppetDB's node-ttl
    ("forget", None, False),                # never seen (or purged)
])
def test_the_node_lookup_reads_puppetdb(orch, client, how, state, known):
    node = "deb01.example.com"
    if how:
        getattr(orch, how)(node)
    assert orch.puppetdb.node_state(node) == state  # what PuppetDB itself holds
    assert client.node_known(node) is known
    query = 'nodes[certname] { certname = "deb01.example.com" }'
    if known:
        assert names(client, client.run_task("sample::echo", {"message": "q"}, query=query)) == [node]
    else:  # and PE's orchestrator finds only active nodes for a query scope
        with pytest.raises(oc.EmptyTarget):
            client.run_task("sample::echo", {"message": "q"}, query=query)


def test_a_node_checking_in_again_is_known_again(orch, client):
    orch.deactivate("web02.example.com")
    assert client.node_known("web02.example.com") is False
    orch.puppetdb.replace_facts("web02.example.com", orch.facts["web02.example.com"])
    assert client.node_known("web02.example.com") is True


# --- PQL on facts ------------------------------------------------------------------------


def names(client, name):
    wait_done(client, name)
    return sorted(n.name for n in client.job_nodes(name))


def test_query_scopes_on_facts(client, orch):
    redhat = client.run_task("sample::echo", {"message": "q"}, query='inventory[certname] { facts.os.family = "RedHat" }')
    assert names(client, redhat) == ["web01.example.com", "web02.example.com"]
    one = client.run_task("sample::echo", {"message": "q"}, query='nodes[certname] { certname = "deb01.example.com" and '
                                                                  'inventory { facts.os.family = "Debian" } }')
    assert names(client, one) == ["deb01.example.com"]
    with pytest.raises(oc.EmptyTarget):
        client.run_task("sample::echo", {"message": "q"}, query='nodes[certname] { certname = "web01.example.com" and '
                                                                'inventory { facts.os.family = "Debian" } }')
    kernel = client.run_task("sample::echo", {"message": "q"},
                             query='nodes { facts { name = "kernel" and value = "Linux" } }')
    assert names(client, kernel) == sorted(NODES)


def test_facts_come_from_the_constructor(tmp_path):
    facts = {"web01.example.com": {"os": {"family": "Suse"}, "role": "web"}}
    with LocalOrchestrator(nodes=NODES, modules_dir=SAMPLE_MODULES, facts=facts) as orch, \
            oc.OrchestratorClient(orch.url, orch.token, orch.ca_pem) as client:
        name = client.run_task("sample::echo", {"message": "q"}, query='inventory { facts.role = "web" }')
        assert names(client, name) == ["web01.example.com"]
        assert orch.facts["web02.example.com"]["os"]["family"] == "RedHat"  # defaults for the others


@pytest.mark.parametrize("query, puppetdb_says", [
    ('nodes { facts.os.family = "RedHat" }', "'facts.os.family' is not a queryable object for nodes"),
    ('inventory { facts.os.family = }', "PQL parse error at line 1, column 31"),
    ('nodes[certname] { not certname = "x" }', "PQL parse error"),  # PQL's negation is `!`
    ('nodes[certname, facts] { certname = "x" }', "Can't extract unknown 'nodes' field 'facts'"),
    ('nodes[certname] { certname ~ "[" }', "invalid regular expression"),
])
def test_queries_puppetdb_refuses_are_query_errors_with_its_words(client, orch, query, puppetdb_says):
    with pytest.raises(oc.QueryError) as exc:
        client.run_task("sample::echo", {"message": "q"}, query=query)
    assert exc.value.kind == "puppetlabs.orchestrator/query-error" and exc.value.reason == "query"
    assert puppetdb_says in exc.value.message
    assert orch.jobs == {}


def test_a_query_puppetdb_accepts_but_selecting_no_node_is_empty_target(client):
    with pytest.raises(oc.EmptyTarget):
        client.run_task("sample::echo", {"message": "q"}, query='resources { title = "x" }')


def test_an_unreachable_puppetdb_is_puppetdb_error(tmp_path):
    with LocalOrchestrator(nodes=NODES, modules_dir=SAMPLE_MODULES) as orch, \
            oc.OrchestratorClient(orch.url, orch.token, orch.ca_pem) as client:
        orch.puppetdb.url = "http://127.0.0.1:%d" % unused_port()
        with pytest.raises(oc.PuppetDBError) as exc:
            client.run_task("sample::echo", {"message": "q"}, query='nodes[certname] { certname = "x" }')
        assert exc.value.kind == "puppetlabs.orchestrator/puppetdb-error"
        assert client.node_known("web01.example.com") is None


# --- the rest PE does ----------------------------------------------------------------------


def test_an_older_pe_refusing_timeout_still_runs_the_task(orch, client):
    orch.accepts_timeout = False
    try:
        name = client.run_task("sample::echo", {"message": "t"}, nodes=["web01.example.com"], timeout=60)
        assert wait_done(client, name).state == "finished" and client.refuses_timeout
        assert orch.calls["POST /orchestrator/v1/command/task"] == 2
        client.run_task("sample::echo", {"message": "t"}, nodes=["web01.example.com"], timeout=60)
        assert orch.calls["POST /orchestrator/v1/command/task"] == 3  # remembered: no second refusal
    finally:
        oc._REFUSES_TIMEOUT.discard(client.base_url)


def test_modern_metadata_runs_and_is_described(client, orch):
    _, node = run_one(client, "sample::modern", {"mode": "thorough", "target": {"path": "/var/log/x"}})
    assert node.state == "finished" and node.report["impl"] == "modern.sh" and node.report["mode"] == "thorough"
    assert client.task_info("sample::modern")["metadata"]["identifiers"] == {"id": "sample-modern"}
    with pytest.raises(oc.RequestInvalid):
        client.run_task("sample::modern", {"mode": "slow"}, nodes=["web01.example.com"])


def test_noop_reaches_the_task(client):
    name = client.run_task("sample::modern", {"mode": "fast"}, nodes=["web01.example.com"])
    body = {"environment": "production", "task": "sample::modern", "params": {"mode": "fast"},
            "scope": {"nodes": ["web01.example.com"]}, "noop": True}
    answer = client._request("POST", "/command/task", body, expect=(202,))
    wait_done(client, name)
    wait_done(client, answer["job"]["name"])
    assert client.job_node(name, "web01.example.com").report["noop"] == ""
    assert client.job_node(answer["job"]["name"], "web01.example.com").report["noop"] == "true"


def test_no_matching_implementation_errors_the_node(client):
    _, node = run_one(client, "sample::windows", {})
    assert node.state == "errored" and "no implementations match supported features" in node.error["msg"]


def test_stderr_is_kept_but_not_in_the_api(client, orch):
    name, node = run_one(client, "sample::stderr", {})
    assert node.state == "finished" and node.report == {"ok": True}
    raw = client._request("GET", "/jobs/%s/nodes" % name)
    assert "dmesg is restricted" not in str(raw)
    assert orch.stderr[name]["web01.example.com"] == "warning: dmesg is restricted\n"


def test_invalid_utf8_fails_the_node(client):
    _, node = run_one(client, "sample::badutf8", {})
    assert node.state == "failed" and node.error["kind"] == "puppetlabs.pxp-agent/execution-error"
    assert "returned invalid UTF-8 on stdout - stderr:\nwrote latin-1 by mistake" in node.error["msg"]
    assert node.output is None and node.report is None


def test_a_non_object_task_error_reaches_the_client(client):
    _, node = run_one(client, "sample::strerror", {})
    assert node.state == "failed"
    assert node.error == {"kind": "unknown", "msg": "disk full on /var: cannot write the report", "details": {}}


def test_task_description_lists_the_files_the_agent_would_fetch(client):
    files = client.task_info("sample::helper")["files"]
    assert [f["filename"] for f in files] == ["helper.sh", "sample/files/lib/greet.sh",
                                              "sample/files/lib/more/data.txt", "sample/lib/sample/util.rb"]
    assert all(len(f["sha256"]) == 64 and f["size_bytes"] > 0 for f in files)


def test_files_tasks_run_through_the_orchestrator(client):
    _, node = run_one(client, "sample::helper", {})
    assert node.state == "finished" and node.report["greeting"] == "hello from a staged file"
    assert not os.path.exists(node.report["installdir"])


# --- the flow's last step, as the lead wires it (Sentry-free) ------------------------------


@pytest.mark.parametrize("node, connected, headline", [
    ("web01", None, "node unknown to PE"),                    # a short host name: not a certname PE knows
    ("web02.example.com", False, "node not connected"),       # known to PuppetDB, agent stopped
])
def test_the_note_tells_unknown_from_stopped(client, orch, node, connected, headline):
    from sentry_autodiag import diagnosis
    from sentry_autodiag.report import NoteContext

    if connected is not None:
        orch.set_connected(node, connected)
    name, result = run_one(client, "sample::echo", {"message": "x"}, node=node)
    known = client.node_known(node) if diagnosis.is_not_connected(result) else None
    note = diagnosis.note_for_node(NoteContext(node, "sample::echo", "production", name), result, known=known)
    assert headline in note
    assert ("Certname suffix" in note) is (headline == "node unknown to PE")
