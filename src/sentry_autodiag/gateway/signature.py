"""Sentry-Hook-Signature: lowercase hex HMAC-SHA256 of the raw request body, keyed with
the integration's Client Secret. Checked against the bytes received (never re-serialized
JSON), in constant time, against every configured secret (rotation)."""
import hashlib
import hmac
from typing import Iterable, Optional

HEX_DIGEST_LENGTH = 64


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, header: Optional[str], secrets: Iterable[str]) -> bool:
    """True when the header is the signature of `body` under one of `secrets`."""
    if not header:
        return False
    given = header.strip().lower().encode("ascii", "replace")
    if len(given) != HEX_DIGEST_LENGTH:
        return False
    matched = False
    for secret in secrets:  # every secret is compared, so timing says nothing about which matched
        matched |= hmac.compare_digest(sign(body, secret).encode("ascii"), given)
    return matched
