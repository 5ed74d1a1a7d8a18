"""`sentry-autodiag check`: what "Test Plugin" and the form's save-time checks do, for every
project of the file, against a local PE orchestrator (the test double) over HTTPS."""
import subprocess
import sys

from localorch.server import LocalOrchestrator
from conftest import write_config


def run_check(path):
    return subprocess.run([sys.executable, "-m", "sentry_autodiag.cli", "check", "--config", path],
                          capture_output=True, text=True, timeout=120)


def test_check_tests_each_project_and_its_routing_rules(config_dir, redis_url):
    with LocalOrchestrator(nodes=["web01.example.com"], token="tok-check") as orch:
        (config_dir / "pe-token").write_text(orch.token)
        (config_dir / "orch-ca.pem").write_text(orch.ca_pem)
        projects = ('"*":\n  url: %s\n  token_file: pe-token\n  ca_cert_file: orch-ca.pem\n'
                    'checkout:\n  log_path: /var/log/checkout/app.log\n'
                    'billing:\n  routing_rules: |\n    - name: jobs\n      match: {service: jobs}\n'
                    '      task: billing::missing\n'
                    'fleet:\n  puppetdb_url: %s\n  pql_scope: \'not certname = "x"\'\n' % (orch.url, orch.url))
        result = run_check(write_config(config_dir, redis_url, projects=projects))
    out = result.stdout
    assert "redis redis://127.0.0.1" in out and "reachable" in out
    assert "project checkout: Test passed" in out and "project *: Test passed" in out
    assert "project billing: Routing rules:" in out and "billing::missing" in out
    # the PQL constraint as the real PuppetDB judges it, in its words (PQL's negation is `!`)
    assert "project fleet: PQL scope constraint: PuppetDB refuses it: PQL parse error at line 1" in out
    assert result.returncode == 1 and "check FAILED" in out  # the rule's task and Sentry (not running here)
    assert "tok-check" not in out + result.stderr


def test_an_invalid_file_is_exit_2_with_the_keys(config_dir, redis_url):
    result = run_check(write_config(config_dir, redis_url, projects='checkout:\n  url: http://x\n'))
    assert result.returncode == 2 and "projects.checkout.url" in result.stderr


def test_a_misspelt_key_is_one_line_with_the_fix(config_dir, redis_url):
    path = write_config(config_dir, redis_url, projects='checkout:\n  orchestrator_url: https://p:8143\n'
                                                       '  token_file: pe-token\n  ca_cert_file: ca.pem\n'
                                                       '  node_tg: host\n')
    result = run_check(path)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "configuration error: %s:" % path
    assert lines[1:] == ["  projects.checkout.node_tg: unknown key; did you mean `node_tag`? (gateway.yaml:%d)"
                         % (open(path).read().splitlines().index("    node_tg: host") + 1)]


def test_a_visibility_timeout_shorter_than_a_step_is_refused(config_dir, redis_url):
    result = run_check(write_config(config_dir, redis_url, extra="visibility_timeout: 30\n"))
    assert result.returncode == 2 and "gateway.visibility_timeout" in result.stderr
    assert "shorter than a step can take" in result.stderr
