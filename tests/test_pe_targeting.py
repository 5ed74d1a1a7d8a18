"""The admin's PQL constraint may hold fact subqueries (brackets that nest), and still can
never widen the scope beyond the diagnosed node: checked against the PQL the local
orchestrator runs."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry_autodiag import targeting
from sentry_autodiag.localorch import pql

PIECES = list("{}()[]\"'\\ ;\n") + [" or ", " and ", " not ", "certname", " = ", " ~ ", "\"web01.example.com\"",
                                    "nodes", "inventory", "facts.os.family", "\"RedHat\"", "\"\"", "}", "{"]
CONSTRAINTS = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)
NODES = {n: pql.default_facts(n) for n in ("web01.example.com", "web02.example.com", "deb01.example.com",
                                            "evil.example.com")}


@pytest.mark.parametrize("constraint", [
    'inventory { facts.os.family = "RedHat" }',
    'certname ~ "^web" and inventory { facts.os.family = "RedHat" and facts.processors.count >= 2 }',
    'facts { name = "kernel" and value = "Linux" }',
    'certname = "a}b"',
])
def test_fact_subqueries_are_allowed_and_work(constraint):
    checked = targeting.check_pql_constraint(constraint)
    scope = targeting.scope_for("web01.example.com", checked)
    assert pql.matching(scope["query"], NODES) in ([], ["web01.example.com"])


def test_a_fact_constraint_selects_by_facts():
    scope = targeting.scope_for("deb01.example.com", 'inventory { facts.os.family = "RedHat" }')
    assert pql.matching(scope["query"], NODES) == []
    scope = targeting.scope_for("web01.example.com", 'inventory { facts.os.family = "RedHat" }')
    assert pql.matching(scope["query"], NODES) == ["web01.example.com"]


@pytest.mark.parametrize("constraint", [
    '} or nodes { certname ~ ""', 'x ) or ( certname ~ ""', '( { ) }', "certname = '\"' } or nodes { certname ~ '\"'",
    'inventory { facts.os.family = "RedHat"', 'a ]', 'certname = "x";', 'certname = "x\ny"',
])
def test_constraints_that_could_break_out_are_refused(constraint):
    with pytest.raises(ValueError):
        targeting.check_pql_constraint(constraint)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONSTRAINTS)
def test_an_accepted_constraint_never_selects_another_node(constraint):
    try:
        checked = targeting.check_pql_constraint(constraint)
    except ValueError:
        return
    if not checked:
        return
    scope = targeting.scope_for("web01.example.com", checked)
    try:
        selected = pql.matching(scope["query"], NODES)
    except pql.PQLError:
        return  # PuppetDB would refuse it (query-error): nothing runs
    assert selected in ([], ["web01.example.com"])
