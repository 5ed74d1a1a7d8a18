"""Masks secrets in task output again on the plugin side.

The task already masks on the node; this second pass covers other tasks, older module
versions and anything the node-side patterns missed. Same families of secrets. Every
repetition is bounded: the text is hostile and must not cost quadratic time.
"""
import re
from typing import Tuple

MASK = "[REDACTED]"

_KEYS = r"(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?)"
_PATTERNS = [
    # private key blocks (also unterminated ones, to the end of the text)
    (re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S | re.I),
     lambda m: "[REDACTED PRIVATE KEY]"),
    (re.compile(r"(authorization[\"']?[ \t]{0,8}[:=][ \t]{0,8})[^\r\n]+", re.I), lambda m: m.group(1) + MASK),
    (re.compile(r"(\bbearer[ \t]{1,8})[A-Za-z0-9._~+/=-]+", re.I), lambda m: m.group(1) + MASK),
    # scheme://[user]:password@ (the user may be empty: redis://:secret@host is how Redis
    # and Celery passwords are usually written)
    (re.compile(r"(\b[a-z][a-z0-9+.-]{0,31}://[^/@\s:\"']{0,256}:)[^/@\s\"]{1,256}@", re.I),
     lambda m: m.group(1) + MASK + "@"),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), lambda m: MASK),
    (re.compile(r"(" + _KEYS + r"[a-z0-9_.-]{0,64}[\"']?[ \t]{0,8}[:=][ \t]{0,8})"
                r"(\"[^\"\r\n]{1,4096}\"|'[^'\r\n]{1,4096}'|[^\s\"',;&<>]{1,4096})", re.I),
     lambda m: m.group(1) + (m.group(2)[0] + MASK + m.group(2)[0] if m.group(2)[0] in "\"'" else MASK)),
]


def redact(text: str) -> Tuple[str, int]:
    """Returns the text with secrets masked and the number of masks that changed something
    (values the node already masked are not counted twice)."""
    total = 0

    def masked(match, replace):
        nonlocal total
        new = replace(match)
        if new != match.group(0):
            total += 1
        return new

    for pattern, replace in _PATTERNS:
        text = pattern.sub(lambda m: masked(m, replace), text)
    return text, total
