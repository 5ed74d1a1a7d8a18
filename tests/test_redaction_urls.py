"""Passwords in URLs are masked on the node (the task's awk, run for real with the
system's awk, mawk on Debian) and in the product (redaction.py), for every
`scheme://[user]:password@host` form, the empty user name included (redis://:pw@host)."""
import os
import subprocess

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sentry_autodiag import redaction

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ESCAPE_AWK = os.path.join(ROOT, "puppet", "diagnostics", "files", "lib", "escape.awk")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
SUB_DELIMS = "!$&()*+,;="          # RFC 3986 sub-delims; "'" only in the password (below)
pct = st.integers(0, 255).map(lambda b: "%%%02X" % b)
user_char = st.one_of(st.sampled_from(UNRESERVED + SUB_DELIMS), pct)
password_char = st.one_of(st.sampled_from(UNRESERVED + SUB_DELIMS + ":'"), pct)
schemes = st.from_regex(r"\A[a-z][a-z0-9+.-]{0,12}\Z")
users = st.lists(user_char, max_size=12).map("".join)           # may be empty
passwords = st.lists(password_char, min_size=1, max_size=24).map("".join)
hosts = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]{2,6}){0,2}\Z")
tails = st.sampled_from(["", ":6379/0", ":5432/app?sslmode=require", "/", "/vhost", ":8080"])
prefixes = st.sampled_from(["", "url=", "broker_url = ", "connecting to ", "DATABASE_URL=\"", "[", "x "])
suffixes = st.sampled_from(["", "\"", " failed", "]", " (retry 3)"])


def node_redact(line: str):
    """The task's own redaction: escape.awk as report.sh runs it (redact=1)."""
    count = os.path.join(os.environ.get("TMPDIR", "/tmp"), "redact-count-%d" % os.getpid())
    done = subprocess.run(["awk", "-v", "limit=100000", "-v", "redact=1", "-v", "per_line=1", "-v",
                           "countfile=" + count, "-f", ESCAPE_AWK], input=line.encode() + b"\n",
                          capture_output=True, timeout=10, check=True)
    with open(count) as f:
        masked = int(f.read().split()[0])
    os.unlink(count)
    return done.stdout.decode().rstrip("\n"), masked


def url_line(prefix, scheme, user, password, host, tail, suffix):
    return "%s%s://%s:%s@%s%s%s" % (prefix, scheme, user, password, host, tail, suffix)


URLS = dict(prefix=prefixes, scheme=schemes, user=users, password=passwords, host=hosts, tail=tails, suffix=suffixes)


@SETTINGS
@given(**URLS)
@example(prefix="", scheme="redis", user="", password="secret", host="host", tail=":6379/0", suffix="")
@example(prefix="CELERY_BROKER_URL=", scheme="redis", user="", password="s3:cr3t", host="cache", tail=":6379/1",
         suffix="")
@example(prefix="", scheme="postgresql", user="app", password="p'w", host="db", tail="/app", suffix="")
def test_the_product_masks_every_url_password(prefix, scheme, user, password, host, tail, suffix):
    text, count = redaction.redact(url_line(prefix, scheme, user, password, host, tail, suffix))
    assert ":%s@" % password not in text, text
    assert count >= 1


@SETTINGS
@given(**URLS)
@example(prefix="", scheme="redis", user="", password="secret", host="host", tail=":6379/0", suffix="")
@example(prefix="", scheme="amqp", user="guest", password="gu:est", host="rabbit", tail="/", suffix="")
def test_the_node_masks_every_url_password(prefix, scheme, user, password, host, tail, suffix):
    text, count = node_redact(url_line(prefix, scheme, user, password, host, tail, suffix))
    escaped = password.replace("\\", "\\\\").replace("\"", "\\\"")   # the awk writes JSON string content
    assert ":%s@" % escaped not in text, text
    assert count >= 1, text


def test_the_empty_user_name_of_a_redis_url_is_masked_on_both_sides():
    line = "broker redis://:hunter2secret@cache.example.com:6379/0 down"
    for text, count in (redaction.redact(line), node_redact(line)):
        assert "hunter2secret" not in text and count == 1
        assert "redis://:[REDACTED]@cache.example.com:6379/0" in text


def test_a_url_without_a_password_is_left_alone():
    for line in ("see https://example.com:8443/path", "ssh://git@github.com/x.git", "http://user@host/"):
        assert redaction.redact(line) == (line, 0)
        assert node_redact(line) == (line, 0)
