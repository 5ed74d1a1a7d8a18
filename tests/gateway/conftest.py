"""Fixtures of the gateway's unit tests (Python 3.11 venv, no Sentry): a real Redis
database of their own, and a complete config file with secrets in files."""
import os
import textwrap
import uuid

import pytest
import redis as redis_py

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REDIS_URL = os.environ.get("AUTODIAG_TEST_REDIS", "redis://127.0.0.1:6379/7")
SECRET = "c1ient-secret-" + "a" * 50


@pytest.fixture
def redis_url():
    client = redis_py.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


@pytest.fixture
def config_dir(tmp_path):
    (tmp_path / "client-secret").write_text(SECRET + "\n")
    (tmp_path / "sentry-token").write_text("sntrys_token_" + uuid.uuid4().hex + "\n")
    (tmp_path / "pe-token").write_text("pe-token-" + uuid.uuid4().hex)
    (tmp_path / "ca.pem").write_text(open(os.path.join(os.path.dirname(__file__), "ca.pem")).read())
    return tmp_path


def write_config(config_dir, redis_url, extra="", projects=None):
    projects = projects or textwrap.dedent("""\
        "*":
          url: https://puppet.example.com:8143
          token_file: pe-token
          ca_cert_file: ca.pem
          sentry_environments: "*"
        checkout:
          log_path: /var/log/checkout/app.log
          log_lines: 50
        """)
    text = textwrap.dedent("""\
        sentry:
          url: https://sentry.example.com
          organization: acme
          token_file: sentry-token
          client_secret_file: client-secret
        gateway:
          listen: 127.0.0.1:8480
          redis_url: %s
        %s
        projects:
        """) % (redis_url, textwrap.indent(extra, "  ")) + textwrap.indent(projects, "  ")
    path = config_dir / "gateway.yaml"
    path.write_text(text)
    return str(path)


@pytest.fixture
def config_file(config_dir, redis_url):
    return write_config(config_dir, redis_url)
