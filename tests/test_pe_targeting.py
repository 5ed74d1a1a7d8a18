"""The admin's PQL constraint may hold fact subqueries (brackets that nest), and still can
never widen the scope beyond the diagnosed node: the scopes are run by the real PuppetDB
(scripts/puppetdb.sh) on nodes submitted as `replace facts` commands. The bracket check
itself (the first tests) needs no PuppetDB."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry_autodiag import targeting
from localorch import puppetdb

# Pieces include what PQL reads differently from a plain bracket count: quoted and bare field
# names after a dot (which may hold brackets), match(...) fields, numbers with a fraction.
PIECES = list("{}()[]\"'\\ ;\n.!") + [" or ", " and ", "certname", " = ", " ~ ", "\"web01.example.com\"",
                                      "nodes", "inventory", "facts.os.family", "\"RedHat\"", "\"\"", "}", "{",
                                      "facts.", "facts.\"", "match(", "1.5", "x)", "'x'", "\\\"", " in ", "[certname]"]
CONSTRAINTS = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)
NODES = {n: puppetdb.default_facts(n) for n in ("web01.example.com", "web02.example.com", "deb01.example.com",
                                                 "evil.example.com")}
# Neighbours whose names share prefixes, suffixes and characters PQL regexes treat specially.
POOL = ["web01", "web01.example.com", "web010.example.com", "web01.example.com.evil", "a-b.example.com",
        "a.b.example.com", "axb.example.com", "x", "x1", "1x", "db-01.internal", "db-01.internal.example.com"]


@pytest.mark.parametrize("constraint", [
    '} or nodes { certname ~ ""', 'x ) or ( certname ~ ""', '( { ) }', "certname = '\"' } or nodes { certname ~ '\"'",
    'inventory { facts.os.family = "RedHat"', 'a ]', 'certname = "x";',
    'inventory { facts."a\\".b = 1 }) or (certname ~ ""',  # PQL ends the quoted name at the first `".`
    'inventory { facts.x( = 1 }) or (certname ~ "" or inventory { facts.y = 1 }',  # PQL: `x(` is a name
])
def test_constraints_that_could_break_out_are_refused(constraint):
    with pytest.raises(ValueError):
        targeting.check_pql_constraint(constraint)


@pytest.fixture(scope="module")
def pdb():
    puppetdb.ensure_running()
    db = puppetdb.PuppetDB()
    puppetdb.submit_nodes(db, NODES)
    puppetdb.submit_nodes(db, {n: puppetdb.default_facts(n) for n in POOL})
    return db


def matching(db, query, among=NODES):
    """The certnames of `among` PuppetDB selects, as the local orchestrator keeps them."""
    return sorted(n for n in puppetdb.certnames(db.query(query)) if n in among)


@pytest.mark.parametrize("constraint", [
    'inventory { facts.os.family = "RedHat" }',
    'certname ~ "^web" and inventory { facts.os.family = "RedHat" and facts.processors.count >= 2 }',
    'facts { name = "kernel" and value = "Linux" }',
    'certname = "a}b"',
])
def test_fact_subqueries_are_allowed_and_work(pdb, constraint):
    checked = targeting.check_pql_constraint(constraint)
    scope = targeting.scope_for("web01.example.com", checked)
    assert matching(pdb, scope["query"]) == ([] if "a}b" in constraint else ["web01.example.com"])


def test_a_fact_constraint_selects_by_facts(pdb):
    scope = targeting.scope_for("deb01.example.com", 'inventory { facts.os.family = "RedHat" }')
    assert matching(pdb, scope["query"]) == []
    scope = targeting.scope_for("web01.example.com", 'inventory { facts.os.family = "RedHat" }')
    assert matching(pdb, scope["query"]) == ["web01.example.com"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONSTRAINTS)
def test_an_accepted_constraint_never_selects_another_node(pdb, constraint):
    try:
        checked = targeting.check_pql_constraint(constraint)
    except ValueError:
        return
    if not checked:
        return
    scope = targeting.scope_for("web01.example.com", checked)
    try:
        selected = matching(pdb, scope["query"])
    except puppetdb.QueryError:
        return  # PuppetDB refuses it (PE answers query-error): nothing runs
    assert selected in ([], ["web01.example.com"])


# Mostly valid PQL (so that PuppetDB runs most of them), with fragments that try to break out.
ATOMS = ['certname = "web01.example.com"', 'certname ~ ""', "certname ~ '.'", 'inventory { facts.os.family = "RedHat" }',
         'inventory { facts.x( = 1 }', 'inventory { facts."a\\".b = 1 }', 'inventory { facts.x) = 1 }',
         'certname in ["evil.example.com"]', 'inventory { facts.processors.count > 1.5 }', 'nodes { certname ~ "" }',
         'inventory { facts.match(x).y = 1 }', 'certname in inventory[certname] { facts.kernel = "Linux" }']
FRAGMENTS = [") or (", "} or nodes {", ")", "(", "}", "{", '"', "'", "facts.", 'facts."', "x(", "x)", '\\"', ".", "]"]
EXPRESSIONS = st.recursive(st.sampled_from(ATOMS), lambda inner: st.one_of(
    st.tuples(inner, st.sampled_from([" and ", " or "]), inner).map("".join),
    inner.map(lambda e: "!(%s)" % e), inner.map(lambda e: "(%s)" % e)), max_leaves=6)
STRUCTURED = st.lists(st.one_of(EXPRESSIONS, EXPRESSIONS, st.sampled_from(FRAGMENTS)), min_size=1,
                      max_size=6).map(" ".join)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STRUCTURED)
def test_what_widens_the_scope_in_puppetdb_is_refused_offline(pdb, constraint):
    try:
        selected = matching(pdb, targeting.scope_for("web01.example.com", constraint)["query"])
    except puppetdb.PuppetDBError:
        return  # PuppetDB refuses it as a scope: nothing runs
    if selected not in ([], ["web01.example.com"]):
        with pytest.raises(ValueError):
            targeting.check_pql_constraint(constraint)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(POOL), st.sampled_from(['certname ~ ".*"', 'certname ~ ""', '!certname = "zz"',
                                               'inventory { facts.kernel = "Linux" }']))
def test_a_scope_selects_only_its_node(pdb, name, constraint):
    assert matching(pdb, targeting.scope_for(name, constraint)["query"], among=POOL) == [name]
    assert targeting.scope_for(name) == {"nodes": [name]}
