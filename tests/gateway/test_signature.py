"""Sentry-Hook-Signature: HMAC-SHA256 hex of the raw body with the Client Secret."""
import hashlib
import hmac

from sentry_autodiag.gateway import signature

BODY = b'{"action":"triggered","data":{"event":{"issue_id":"1"}}}'


def expected(secret, body=BODY):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_the_signature_sentry_computes_is_accepted():
    assert signature.verify(BODY, expected("s3cret"), ["s3cret"])
    assert signature.verify(BODY, expected("s3cret").upper(), ["s3cret"])  # hex is hex


def test_any_configured_secret_is_accepted_while_rotating():
    assert signature.verify(BODY, expected("old"), ["new", "old"])
    assert signature.verify(BODY, expected("new"), ["new", "old"])


def test_wrong_missing_or_malformed_signatures_are_refused():
    good = expected("s3cret")
    for header in (None, "", "0" * 64, good[:-1], good + "0", "sha256=" + good, expected("other")):
        assert not signature.verify(BODY, header, ["s3cret"]), header
    assert not signature.verify(BODY + b" ", good, ["s3cret"])  # the exact bytes, not re-serialized JSON
    assert not signature.verify(BODY, good, [])
    assert not signature.verify(BODY, "é" * 64, ["s3cret"])
