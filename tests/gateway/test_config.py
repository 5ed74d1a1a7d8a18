"""The gateway's YAML file: one definition of fields with the plugin, errors that name the key,
secrets only from files or the environment, and never printed."""
import pytest

from sentry_autodiag.gateway import config as config_mod
from conftest import SECRET, write_config


def test_a_complete_file_loads_with_star_defaults_and_project_overrides(config_file):
    config = config_mod.load(config_file)
    assert config.sentry.client_secrets == [SECRET]
    assert config.sentry.url == "https://sentry.example.com" and config.sentry.organization == "acme"
    checkout = config.settings_for("checkout")
    assert checkout.log_path == "/var/log/checkout/app.log" and checkout.log_lines == 50
    assert checkout.url == "https://puppet.example.com:8143" and checkout.token.startswith("pe-token-")
    other = config.settings_for("billing")  # falls back to *
    assert other.log_path == "" and other.log_lines == 200 and other.sentry_environments == ["*"]
    assert other.task == "diagnostics::collect" and other.coalesce_window == 10  # the plugin form's defaults


def test_secrets_never_appear_in_repr(config_file):
    config = config_mod.load(config_file)
    text = repr(config)
    assert SECRET not in text and "pe-token-" not in text and "sntrys_token_" not in text


@pytest.mark.parametrize("projects, key, words", [
    ('"*":\n  url: https://p:8143\n  token: inline-secret\n  ca_cert_file: ca.pem\n', "projects.*.token",
     "secrets are not written in the file"),
    ('checkout:\n  url: https://p:8143\n  token_file: pe-token\n  ca_cert_file: ca.pem\n  log_lines: 0\n',
     "projects.checkout.log_lines", "from 1 to 5000"),
    ('checkout:\n  url: http://p:8143\n  token_file: pe-token\n  ca_cert_file: ca.pem\n',
     "projects.checkout.url", "https"),
    ('checkout:\n  url: https://p:8143\n  token_file: pe-token\n  ca_cert_file: ca.pem\n  log_pth: /x\n',
     "projects.checkout.log_pth", "unknown key"),
    ('checkout:\n  url: https://p:8143\n  token_file: missing-file\n  ca_cert_file: ca.pem\n',
     "projects.checkout.token_file", "cannot read"),
    ('checkout:\n  url: https://p:8143\n  token_env: NOT_SET_ANYWHERE_42\n  ca_cert_file: ca.pem\n',
     "projects.checkout.token_env", "is not set"),
    ('checkout:\n  token_file: pe-token\n  ca_cert_file: ca.pem\n', "projects.checkout.orchestrator_url",
     "required"),
    ('checkout:\n  url: https://p:8143\n  token_file: pe-token\n  ca_cert: not a pem\n',
     "projects.checkout.ca_cert", "BEGIN CERTIFICATE"),
    ('"bad slug!":\n  url: https://p:8143\n', "projects.bad slug!", "not a Sentry project slug"),
])
def test_errors_name_the_key(config_dir, redis_url, projects, key, words):
    path = write_config(config_dir, redis_url, projects=projects)
    with pytest.raises(config_mod.ConfigError) as raised:
        config_mod.load(path)
    message = str(raised.value)
    assert any(line.strip().startswith(key + ":") and words in line for line in message.splitlines()), message


def test_every_problem_is_listed_at_once(config_dir, redis_url):
    path = write_config(config_dir, redis_url, extra="max_body_bytes: 12\nbody_timeout: 0\n",
                        projects='checkout:\n  url: ftp://x\n  token_file: pe-token\n  ca_cert_file: ca.pem\n'
                                 '  min_level: loud\n')
    with pytest.raises(config_mod.ConfigError) as raised:
        config_mod.load(path)
    for key in ("gateway.max_body_bytes", "gateway.body_timeout", "projects.checkout.url",
                "projects.checkout.min_level"):
        assert key + ":" in str(raised.value)


def test_secrets_from_the_environment_and_rotation(config_dir, redis_url):
    (config_dir / "old-secret").write_text("old-secret-value")
    path = config_dir / "g.yaml"
    path.write_text(
        "sentry:\n  url: https://sentry.io\n  organization: acme\n  token_env: AD_SENTRY_TOKEN\n"
        "  client_secret_env: AD_SECRET\n  client_secret_files: [old-secret]\n"
        "gateway:\n  redis_url: %s\n"
        "projects:\n  '*':\n    url: https://p:8143\n    token_env: AD_PE_TOKEN\n    ca_cert_file: ca.pem\n" % redis_url)
    env = {"AD_SENTRY_TOKEN": "tok", "AD_SECRET": "new-secret-value", "AD_PE_TOKEN": " pe \n"}
    config = config_mod.load(str(path), environ=env)
    assert config.sentry.client_secrets == ["new-secret-value", "old-secret-value"]
    assert config.settings_for("anything").token == "pe"


@pytest.mark.parametrize("text", ["", "- a list\n", "sentry: [\n", "\xff\xfe garbage"])
def test_unusable_files_say_why(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(config_mod.ConfigError) as raised:
        config_mod.load(str(path))
    assert str(path) in str(raised.value)


def test_a_project_not_configured_and_no_star_has_no_settings(config_dir, redis_url):
    path = write_config(config_dir, redis_url, projects='checkout:\n  url: https://p:8143\n  token_file: pe-token\n'
                                                       '  ca_cert_file: ca.pem\n')
    config = config_mod.load(path)
    assert config.settings_for("checkout").configured and config.settings_for("billing") is None


def test_the_shipped_example_config_is_valid(tmp_path):
    """deploy/gateway.example.yaml, with its secret and CA paths pointed at real files."""
    import os

    from conftest import ROOT

    text = open(os.path.join(ROOT, "deploy", "gateway.example.yaml")).read()
    for name in ("sentry-token", "client-secret", "pe-token"):
        (tmp_path / name).write_text("secret-" + name)
    (tmp_path / "ca.pem").write_text(open(os.path.join(os.path.dirname(__file__), "ca.pem")).read())
    text = text.replace("/etc/sentry-autodiag/", str(tmp_path) + "/")
    text = text.replace("/etc/puppetlabs/puppet/ssl/certs/ca.pem", str(tmp_path / "ca.pem"))
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    config = config_mod.load(str(path))
    assert config.settings_for("payments").node_tag == "puppet_node"
    assert config.settings_for("checkout").certname_suffix == ".example.com"
    assert config.settings_for("other").log_path == ""


def _error_lines(path):
    with pytest.raises(config_mod.ConfigError) as raised:
        config_mod.load(path)
    return [line.strip() for line in str(raised.value).splitlines()[1:]]


def _line_of(path, text):
    """1-based line of the first line of the file containing `text`."""
    return next(i for i, line in enumerate(open(path).read().splitlines(), 1) if text in line)


def test_a_misspelt_key_gets_the_closest_known_key_and_its_line(config_dir, redis_url):
    path = write_config(config_dir, redis_url, projects='checkout:\n  url: https://p:8143\n  token_file: pe-token\n'
                                                       '  ca_cert_file: ca.pem\n  log_pth: /x\n  metric_url: http://m\n')
    lines = _error_lines(path)
    assert lines == [
        "projects.checkout.log_pth: unknown key; did you mean `log_path`? (gateway.yaml:%d)"
        % _line_of(path, "log_pth"),
        "projects.checkout.metric_url: unknown key; did you mean `metrics_url`? (gateway.yaml:%d)"
        % _line_of(path, "metric_url"),
    ]


def test_a_key_in_the_wrong_section_names_its_section(config_dir, redis_url):
    path = write_config(config_dir, redis_url, extra="organization: elsewhere\n",
                        projects='checkout:\n  url: https://p:8143\n  token_file: pe-token\n  ca_cert_file: ca.pem\n'
                                 '  redis_url: redis://x\n')
    lines = _error_lines(path)
    assert "gateway.organization: unknown key here; `organization` belongs under sentry: (gateway.yaml:%d)" \
        % _line_of(path, "organization: elsewhere") in lines
    assert "projects.checkout.redis_url: unknown key here; `redis_url` belongs under gateway: (gateway.yaml:%d)" \
        % _line_of(path, "redis_url: redis://x") in lines
    assert len(lines) == 2


def test_orchestrator_url_is_the_clearer_name_and_url_still_works(config_dir, redis_url):
    path = write_config(config_dir, redis_url, projects='"*":\n  url: https://old.example.com:8143\n'
                                                       '  token_file: pe-token\n  ca_cert_file: ca.pem\n'
                                                       'checkout:\n  orchestrator_url: https://new.example.com\n')
    config = config_mod.load(path)
    assert config.settings_for("checkout").url == "https://new.example.com"   # the project's own wins over *
    assert config.settings_for("billing").url == "https://old.example.com:8143"


def test_orchestrator_url_errors_use_the_name_written(config_dir, redis_url):
    path = write_config(config_dir, redis_url, projects='checkout:\n  orchestrator_url: http://p:8143\n'
                                                       '  token_file: pe-token\n  ca_cert_file: ca.pem\n')
    lines = _error_lines(path)
    assert len(lines) == 1 and lines[0].startswith("projects.checkout.orchestrator_url: ")
    assert "https" in lines[0] and lines[0].endswith("(gateway.yaml:%d)" % _line_of(path, "orchestrator_url"))


def test_both_names_of_the_orchestrator_url_is_an_error(config_dir, redis_url):
    path = write_config(config_dir, redis_url, projects='checkout:\n  url: https://a:8143\n'
                                                       '  orchestrator_url: https://b:8143\n'
                                                       '  token_file: pe-token\n  ca_cert_file: ca.pem\n')
    lines = _error_lines(path)
    assert lines == ["projects.checkout.orchestrator_url: the orchestrator's URL is given twice: as "
                     "`orchestrator_url` and as `url` (its old name); keep `orchestrator_url` only (gateway.yaml:%d)"
                     % _line_of(path, "orchestrator_url")]


def test_errors_point_at_the_line_even_when_inherited_or_missing(config_dir, redis_url):
    path = write_config(config_dir, redis_url, projects='"*":\n  token_file: pe-token\n  ca_cert_file: ca.pem\n'
                                                       '  log_lines: 0\n'
                                                       'checkout:\n  url: https://p:8143\n'
                                                       'billing:\n  log_path: /var/log/b.log\n')
    lines = _error_lines(path)
    star = _line_of(path, "log_lines: 0")
    assert "projects.*.log_lines: %s (gateway.yaml:%d)" % (lines[0].split(": ", 1)[1].rsplit(" (", 1)[0], star) \
        in lines
    assert any(line.startswith("projects.checkout.log_lines: ") and line.endswith(
        "(gateway.yaml:%d in projects.*)" % star) for line in lines), lines
    # a required key that is missing: the line of its project
    assert any(line.startswith("projects.billing.orchestrator_url: required") and line.endswith(
        "(gateway.yaml:%d)" % _line_of(path, "billing:")) for line in lines), lines


def test_a_key_given_twice_is_an_error(config_dir, redis_url):
    path = write_config(config_dir, redis_url, projects='checkout:\n  url: https://p:8143\n  token_file: pe-token\n'
                                                       '  ca_cert_file: ca.pem\n  log_lines: 10\n  log_lines: 20\n')
    first, second = _line_of(path, "log_lines: 10"), _line_of(path, "log_lines: 20")
    assert _error_lines(path) == ["projects.checkout.log_lines: given twice (lines %d and %d): YAML keeps only the "
                                  "last; remove one (gateway.yaml:%d)" % (first, second, second)]
