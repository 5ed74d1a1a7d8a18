"""The PQL scope constraint is judged by the real PuppetDB (7.12, scripts/puppetdb.sh): what
the settings accept, PuppetDB accepts, and the other way round, over a corpus of PQL from
PuppetDB's documentation (the PQL reference, tutorial and examples) and from real-world
use: facts, resources, classes, inventory, subqueries, regular expressions, and/or/!, in.

Each entry says whether PuppetDB 7.12 runs it as a constraint (as the scope PE sends,
`nodes[certname] { certname = "<node>" and (<constraint>) }`, and as a condition alone),
so the corpus also pins PuppetDB's behaviour: a PuppetDB that changes its mind fails here.
The settings' save-time check runs through the local orchestrator's PuppetDB endpoint
(HTTPS, token), as a form saved in Sentry or `sentry-autodiag check` reaches PE's PuppetDB.
"""
import pytest

from net_helpers import unused_port
from sentry_autodiag import settings, targeting
from localorch import puppetdb
from localorch.server import LocalOrchestrator

VALID = [
    # facts and inventory
    'inventory { facts.os.family = "RedHat" }',
    'inventory { facts.os.family = "RedHat" and facts.processors.count >= 2 }',
    'inventory { facts.memory.system.total_bytes > 1073741824 }',
    'inventory { facts.processors.count >= 1.5 }',
    'inventory { facts.is_virtual = true }',
    'inventory { facts.disks.sda.size_bytes > 0 }',
    'inventory { facts."os".family = "RedHat" }',
    'inventory { trusted.extensions.pp_role = "web" }',
    'facts { name = "kernel" and value = "Linux" }',
    'facts { name = "osfamily" and value in ["RedHat", "Debian"] }',
    'certname in facts[certname] { name = "role" and value = "web" }',
    'certname in facts[certname] { name = "uptime_days" and value > 30 }',
    'certname in fact_contents[certname] { path ~> ["os", "family"] and value = "RedHat" }',
    'certname in inventory[certname] { facts.os.family = "RedHat" }',
    '[certname] in inventory[certname] { facts.os.family = "RedHat" }',
    # resources and classes
    'resources { type = "Class" and title = "Nginx" }',
    'certname in resources[certname] { type = "Class" and title = "Profile::Web" }',
    'resources { type = "Service" and title = "nginx" and parameters.ensure = "running" }',
    'certname in resources[title] { type = "Class" }',
    # the node's own fields, reports, catalogs, events
    'catalog_environment = "production"',
    'facts_environment = "production" and latest_report_status = "unchanged"',
    'report_timestamp > "2024-01-01T00:00:00Z"',
    'catalog_timestamp > 5',
    'latest_report_noop = false',
    'deactivated is null',
    'reports { latest_report? = true and status = "failed" }',
    'events { status = "failure" }',
    'catalogs { environment = "production" }',
    'nodes { certname = "x" }',
    # certnames, regular expressions, and/or/!, in, quoting
    'certname = "web01.example.com"',
    'certname in ["web01.example.com", "web02.example.com"]',
    r'certname ~ "^web\\d+\\.example\\.com$"',
    r'inventory { facts.networking.interfaces.eth0.ip ~ "^10\\." }',
    'certname ~ "(web|app)[0-9]+"',
    'certname !~ "^test"',
    'certname != "web03.example.com"',
    '!certname = "db01.example.com"',
    '!(certname ~ "^db" or certname ~ "^cache")',
    'certname ~ "^web" and (inventory { facts.os.family = "RedHat" } or inventory { facts.os.family = "Debian" })',
    "certname ~ 'web'",
    'certname = "a}b"',
    'certname ~ "^web"\n  and inventory { facts.os.family = "RedHat" }',
]

INVALID = [
    'not certname = "x"',                  # PQL's negation is `!`
    'facts.os.family = "RedHat"',          # a field of inventory, not of nodes
    'foo = "bar"',
    'facts.x{ = 1',
    'certname == "x"',
    'certname = x',
    'certname ~ 5',
    'certname ~ "["',                      # PostgreSQL's regular expression error
    r'certname ~ "^web\d+\.example\.com$"',  # \d is no escape PQL strings know (HTTP 500)
    r'fact_contents { path ~> ["networking", ".*", "ip"] and value ~ "^10\." }',
    'inventory { facts.os.release.major in ["8", "9"] }',  # PuppetDB 7.12 fails on it (HTTP 500)
    'certname in inventory[facts] { facts.os.family = "RedHat" }',
    'inventory { facts.mountpoints.match("/var.*").available_bytes > 1000 }',
    'resources { type = "Class" and title = "Nginx" } or nodes { }',
    'inventory { facts.os.family = }',
    'inventory { facts.os.family = "RedHat" and }',
    'certname in ["a", ]',
    'certname = "x" AND certname = "y"',
    'certname = "x" and',
    'certname ~ "^web" or',
    'certname is null and',
    'true',
    'certname ~ "^web" limit 1',           # paging belongs to the query, not to a condition
    'certname = "x" order by certname',
    'certname = "x" group by certname',
    # refused before PuppetDB is asked: they would break out of the scope's brackets
    'resources { title = "x" ',
    '} or nodes { certname ~ ""',
    'certname = "x") or (certname ~ ""',   # PuppetDB runs the scope: every node
    'inventory { facts.os.family = "RedHat" ) }',
    'certname = "x";',
    "certname = 'x",
    'inventory { facts."os.family = "RedHat" }',
]
CORPUS = [(c, True) for c in VALID] + [(c, False) for c in INVALID]


@pytest.fixture(scope="module")
def orch():
    with LocalOrchestrator(nodes=["web01.example.com", "db01.example.com"], token="corpus-token") as server:
        yield server


def form(orch, constraint, **extra):
    values = {"url": orch.url, "token": orch.token, "ca_cert": orch.ca_pem, "puppetdb_url": orch.url,
              "pql_scope": constraint}
    values.update(extra)
    return values


def save(values):
    """What saving the form does: the field's own check, then the checks across fields. None = saved."""
    try:
        values = dict(values, pql_scope=settings.clean_field("pql_scope", values["pql_scope"]))
        settings.check_together(values)
    except ValueError as exc:
        return str(exc)
    return None


def puppetdb_refusal(constraint):
    """PuppetDB's own answer, asked directly: its refusal of either query, or None."""
    db = puppetdb.PuppetDB()
    for query in targeting.pql_check_queries(constraint):
        try:
            db.query(query)
        except puppetdb.PuppetDBError as exc:
            return " ".join(str(exc).split())
    return None


@pytest.mark.parametrize("constraint, valid", CORPUS)
def test_the_settings_accept_exactly_what_puppetdb_accepts(orch, constraint, valid):
    refusal = puppetdb_refusal(constraint)
    assert (refusal is None) is valid, refusal  # the corpus's label is PuppetDB 7.12's verdict
    error = save(form(orch, constraint))
    assert (error is None) is valid, error
    if not valid and error.startswith("PQL scope constraint: PuppetDB refuses it"):
        # PuppetDB's own words (the direct answer names HTTP 500 its own way)
        assert refusal.replace("PuppetDB answered ", "")[:60] in error


def test_the_offline_check_never_refuses_what_puppetdb_accepts():
    for constraint in VALID:
        assert targeting.check_pql_constraint(constraint)


def test_the_form_error_is_puppetdbs_parse_error(orch):
    error = save(form(orch, 'not certname = "x"'))
    assert error.startswith("PQL scope constraint: PuppetDB refuses it: PQL parse error at line 1, column 68:")
    assert 'and (not certname = "x") } ^ Expected one of:' in error


def test_the_help_texts_example_is_valid_pql():
    help_text = settings.FIELDS_BY_NAME["pql_scope"].help
    example = help_text.split("e.g. ", 1)[1].split(" (a backslash", 1)[0]
    assert example == r'certname ~ "^web\\d+\\.example\\.com$"' and puppetdb_refusal(example) is None


def test_without_pe_settings_only_the_offline_check_runs():
    assert save({"pql_scope": 'not certname = "x"'}) is None
    assert "unbalanced" in save({"pql_scope": 'x ) or ( y'})


def test_a_puppetdb_that_cannot_be_asked_refuses_the_save(orch):
    error = save(form(orch, 'certname ~ "^web"', puppetdb_url="https://localhost:%d" % unused_port()))
    assert error.startswith("PQL scope constraint cannot be checked with PuppetDB: PuppetDB at https://localhost:")
    assert "unreachable" in error
    orch.may_query_puppetdb = False
    try:
        error = save(form(orch, 'certname ~ "^web"'))
    finally:
        orch.may_query_puppetdb = True
    assert "refused the RBAC token (HTTP 403" in error and "View node data from PuppetDB" in error
