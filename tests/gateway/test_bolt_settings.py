"""The Bolt runner's settings in the gateway's YAML (the same fields as the plugin form): no
orchestrator URL, token or CA needed; paths must be absolute; the PE runner still needs them."""
import pytest

from sentry_autodiag import settings as settings_mod
from sentry_autodiag.gateway import config as config_mod
from conftest import write_config


def test_a_bolt_project_needs_no_orchestrator(config_dir, redis_url):
    path = write_config(config_dir, redis_url, projects=(
        'inventory:\n  runner: bolt\n  bolt_project: /etc/sentry-autodiag/bolt\n  bolt_test_node: web01\n'))
    settings = config_mod.load(path).settings_for("inventory")
    assert settings.runner == "bolt" and settings.configured and settings.url == ""
    assert settings.bolt_binary == "/opt/puppetlabs/bin/bolt" and settings.bolt_test_node == "web01"


@pytest.mark.parametrize("projects, key, words", [
    ('checkout:\n  runner: pe\n', "projects.checkout.orchestrator_url", "required"),
    ('checkout:\n  runner: ansible\n  bolt_project: /b\n', "projects.checkout.runner", "Choose pe"),
    ('checkout:\n  runner: bolt\n  bolt_project: relative/dir\n', "projects.checkout.bolt_project", "absolute"),
    ('checkout:\n  runner: bolt\n  bolt_project: /b\n  bolt_test_node: "a,b"\n',
     "projects.checkout.bolt_test_node", "one plain target"),
])
def test_bad_bolt_settings_name_the_key(config_dir, redis_url, projects, key, words):
    path = write_config(config_dir, redis_url, projects=projects)
    with pytest.raises(config_mod.ConfigError) as raised:
        config_mod.load(path)
    assert any(line.strip().startswith(key + ":") and words in line for line in str(raised.value).splitlines()), \
        str(raised.value)


@pytest.mark.parametrize("values, words", [
    ({"runner": "bolt"}, "Bolt project directory"),
    ({"runner": "bolt", "bolt_project": "/b", "pql_scope": "certname ~ 'web'"}, "only the PE runner"),
    ({"runner": "bolt", "bolt_project": "/b", "remediation_rules": "- name: x"}, "PE orchestrator only"),
])
def test_pe_only_features_are_refused_with_bolt(values, words):
    with pytest.raises(ValueError, match=words):
        settings_mod.check_together(values)
