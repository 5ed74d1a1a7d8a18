"""Routing on hostile input: the worst patterns the rules accept, on the worst event values,
against a plain exact match. Prints ratios; the guard (vetted regexes, linear globs,
values cut at MAX_INPUT) should keep them in the tens, not grow with the input.

A catastrophic pattern such as (a+)+$ is refused when the settings are saved; for scale,
its time on 26 characters is printed too (it doubles with each character).
"""
import re
import time
from types import SimpleNamespace

from sentry_autodiag import routing

WORST_ACCEPTED = r"""
- name: glob
  match: {t: {glob: '*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b'}}
- name: regex
  match: {t: {regex: '.*a.*a'}}
- name: classes
  match: {t: {regex: '\\w+\\w+\\w{1,50}x'}}
"""
BASELINE = "- name: exact\n  match: {t: aaa}\n"


def per_choice(rules, value, runs):
    facts = SimpleNamespace(tags={"t": value}, environment=None, level=None, exception_type=None)
    began = time.perf_counter()
    for _ in range(runs):
        routing.choose(rules, facts)
    return (time.perf_counter() - began) / runs


def test_bench_routing_worst_case():
    hostile = "a" * (routing.MAX_INPUT - 1) + "!"  # longer values are cut to MAX_INPUT; this one almost matches
    worst = per_choice(routing.parse_rules(WORST_ACCEPTED), hostile, 20)
    exact = per_choice(routing.parse_rules(BASELINE), hostile, 2000)
    began = time.perf_counter()
    re.match(r"(a+)+$", "a" * 25 + "!")  # what vet_regex refuses
    refused = time.perf_counter() - began
    print("\nrouting: worst accepted rules %.3f ms per event, exact rule %.4f ms: ratio %.0f"
          % (worst * 1e3, exact * 1e3, worst / exact))
    print("routing: a refused pattern (a+)+$ on 26 characters alone takes %.0f ms (×%.0f the worst accepted)"
          % (refused * 1e3, refused / worst))
    assert routing.choose(routing.parse_rules(WORST_ACCEPTED), SimpleNamespace(
        tags={"t": hostile}, environment=None, level=None, exception_type=None)) is None
