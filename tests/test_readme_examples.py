"""The README's configuration examples are accepted by the same validators the settings
form and the gateway use (a README that drifts from the code fails here)."""
import os
import re

from sentry_autodiag import routing, settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def yaml_blocks():
    return re.findall(r"```yaml\n(.*?)```", open(os.path.join(ROOT, "README.md")).read(), re.S)


def test_routing_and_metrics_examples_validate():
    rules_text, queries_text = yaml_blocks()[:2]
    rules = routing.parse_rules(settings.clean_field("routing_rules", rules_text))
    assert [r.name for r in rules] == ["api", "workers", "scheduler", "noise"]
    assert settings.clean_field("metrics_queries", queries_text)


def test_remediation_example_validates():
    from sentry_autodiag import remediation

    text = yaml_blocks()[2]
    rules = remediation.parse_rules(settings.clean_field("remediation_rules", text))
    assert [r.name for r in rules] == ["restart-myapp", "worker-live"]
