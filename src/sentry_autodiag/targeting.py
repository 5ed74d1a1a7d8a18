"""From attacker-controlled event data to a Puppet certname the orchestrator may target.

Anyone holding a DSN can send any `server_name`, so a node name is accepted only when it
is a plain lower-case host name (ASCII letters, digits, dots, hyphens: never quotes,
spaces, slashes or look-alike unicode), not an IP literal, and matches the admin's
allowed pattern. Only then is it placed in a scope, and the optional PQL constraint
makes PE itself refuse nodes outside the allowlist (empty-target).
"""
import ipaddress
import re
from typing import Any, Dict, List, Optional

# DNS host names: labels of 1-63 letters/digits/hyphens, not starting or ending with '-'.
DEFAULT_NODE_PATTERN = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
# The floor under any admin pattern: what a Puppet certname can safely be in a PQL string.
CERTNAME_CHARS = re.compile(r"\A[a-z0-9][a-z0-9._-]*\Z")
MAX_CERTNAME = 253
SHOWN_CHARS = 80


class NodeRejected(Exception):
    """The event names no usable node; `message` says why, for the issue's note."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def shown(value: Any) -> str:
    """A short, printable rendering of a hostile value for messages (repr, truncated).

    Only strings and plain scalars are shown by value: a list or object from event JSON
    may be nested hundreds of levels deep or hold megabytes, so it is named by its type."""
    if isinstance(value, str):
        text = repr(value[:SHOWN_CHARS * 2])
    elif value is None or isinstance(value, (bool, float)):
        text = repr(value)
    elif isinstance(value, int):
        text = repr(value) if -10 ** 30 < value < 10 ** 30 else "a %d-bit integer" % value.bit_length()
    elif isinstance(value, (list, tuple)):
        return "a list of %d item(s)" % len(value)
    elif isinstance(value, dict):
        return "an object with %d key(s)" % len(value)
    else:
        return "a value of type %s" % type(value).__name__
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…'"


_NUMBER = re.compile(r"\A(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)\Z")


def _ip_literal(name: str) -> bool:
    """An IP address in any form the C library's inet_aton (so resolvers, ping, curl) reads:
    127.0.0.1, but also 127.1, 010.000.000.001 (octal), 0x7f.1, 2130706433; and IPv6."""
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        pass
    parts = name.rstrip(".").split(".") if name.count(".") < 5 else []
    if not parts or len(parts) > 4 or not all(_NUMBER.match(p) for p in parts):
        return False
    values = [int(p, 16) if p.startswith("0x") else int(p, 8) if p.startswith("0") else int(p) for p in parts]
    return all(v <= 255 for v in values[:-1]) and values[-1] < 256 ** (5 - len(values))


def certname_for(raw: Any, tag: str = "server_name", pattern: str = DEFAULT_NODE_PATTERN,
                 suffix: str = "") -> str:
    """Validates the event's node value and returns the certname; raises NodeRejected."""
    if raw is None or raw == "":
        raise NodeRejected("missing", "The event has no `%s`, so there is no node to diagnose." % tag)
    if not isinstance(raw, str):
        raise NodeRejected("invalid", "The event's `%s` is not a string (%s)." % (tag, shown(raw)))
    if len(raw) > MAX_CERTNAME:
        raise NodeRejected("invalid", "The event's `%s` is %d characters long; a host name has at most %d."
                           % (tag, len(raw), MAX_CERTNAME))
    if not raw.isascii():
        raise NodeRejected("invalid", "The event's `%s` %s holds non-ASCII characters; look-alike host "
                                      "names are refused." % (tag, shown(raw)))
    name = raw.lower()
    if suffix and "." not in name:
        name += suffix
    if _ip_literal(name):
        raise NodeRejected("invalid", "The event's `%s` %s is an IP address, not a Puppet certname."
                           % (tag, shown(raw)))
    if len(name) > MAX_CERTNAME or not CERTNAME_CHARS.match(name) or ".." in name:
        raise NodeRejected("invalid", "The event's `%s` %s is not a valid host name." % (tag, shown(raw)))
    if not re.fullmatch(pattern, name):
        raise NodeRejected("not-allowed", "The node %s does not match the allowed node pattern of this "
                                          "project, so it was not diagnosed." % shown(name))
    return name


# The certname of the scope PuppetDB checks a constraint in: no node has it (.invalid, RFC 2606).
PQL_PROBE_NODE = "autodiag-pql-check.invalid"


def pql_check_queries(constraint: str) -> List[str]:
    """What PuppetDB must accept for a constraint to be saved: the scope PE will run, and the
    condition alone (valid by itself, so it cannot lean on the scope's brackets)."""
    if not constraint:
        return []
    return [scope_for(PQL_PROBE_NODE, constraint)["query"], "nodes[certname] { %s limit 1 }" % constraint]


def pql_string(value: str) -> str:
    """A PQL double-quoted string literal."""
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


def scope_for(certname: str, pql_constraint: Optional[str] = None) -> Dict[str, Any]:
    """The orchestrator scope: the node alone, or the node AND the admin's PQL constraint."""
    if not CERTNAME_CHARS.match(certname):  # defence in depth: never interpolate an unchecked name
        raise NodeRejected("invalid", "Refusing to build a query for %s." % shown(certname))
    if not pql_constraint:
        return {"nodes": [certname]}
    return {"query": "nodes[certname] { certname = %s and (%s) }" % (pql_string(certname), pql_constraint)}


# PQL's words after a dot (pql-grammar.ebnf of PuppetDB 7): a field path segment, bare
# (#'[^\s\.\",\[\]!<=>~]+', which takes brackets and quotes as part of the name; Java's \s
# is ASCII white space), quoted (#'\".*?\"(?=\.|\s)') or match(regex) (#'match\(.*?\)');
# or the digits of a real number.
_PQL_SPACE = " \t\n\x0b\f\r"
_PQL_SEGMENT = re.compile(r'[^ \t\n\x0b\f\r.",\[\]!<=>~]+')
_JAVA_LINE_END = re.compile("[\n\r\u0085\u2028\u2029]")  # what Java's `.` does not match
_PQL_FRACTION = re.compile(r"[0-9]+(?:[eE][+-]?[0-9]+)?")
_PQL_NUMBER_BEFORE_DOT = re.compile(r'(?:\A|[ \t\n\x0b\f\r(){}\[\],=<>!~])-?[0-9]+\Z')


def check_pql_constraint(text: str) -> str:
    """Admin input check, offline: a PQL condition that cannot break out of `( ... )`.

    Brackets must nest properly, so a fact subquery such as
    `inventory { facts.os.family = "RedHat" }` is allowed while `} or nodes {` is not.
    The scan reads strings and field names as PuppetDB's PQL grammar does, so that a
    bracket it counts is a bracket to PuppetDB too: double- and single-quoted strings with
    backslash escapes; after a dot, a field name (where PQL reads brackets and quotes as
    part of the name), a quoted name (`facts."my.fact"`, which PQL ends at the first quote
    followed by a dot or a space, without escapes; a name PQL would end elsewhere is
    refused), `match(regex)` (which PQL ends at the first `)`), or the fraction of a number. Whether PuppetDB accepts
    the condition is for PuppetDB to say: settings.check_together asks it when the form is
    saved.
    """
    text = (text or "").strip()
    if not text:
        return ""
    if len(text) > 2000:
        raise ValueError("The PQL constraint is longer than 2000 characters.")
    closers = {"(": ")", "{": "}", "[": "]"}
    stack: List[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if i > 0 and text[i - 1] == ".":
            end = _field_segment_end(text, i)
            if end > i:
                i = end
                continue
        if c in "\"'":
            i += 1
            while i < len(text) and text[i] != c:
                i += 2 if text[i] == "\\" else 1
            if i >= len(text):
                raise ValueError("The PQL constraint has an unterminated string.")
        elif c in closers:
            stack.append(closers[c])
        elif c in ")}]":
            if not stack or stack.pop() != c:
                raise ValueError("The PQL constraint has an unbalanced '%s'." % c)
        elif c == ";":
            raise ValueError("The PQL constraint is a condition only, e.g. certname ~ \"^web\" or "
                             "inventory { facts.os.family = \"RedHat\" }; semicolons are not PQL.")
        i += 1
    if stack:
        raise ValueError("The PQL constraint has an unbalanced '%s'." % {")": "(", "}": "{", "]": "["}[stack[-1]])
    return text


def _field_segment_end(text: str, i: int) -> int:
    """Where the word starting at `i`, just after a dot, ends as PQL reads it (`i` if it reads none)."""
    if _PQL_NUMBER_BEFORE_DOT.search(text, 0, i - 1):  # 1.5, -2.0e3: a real number
        m = _PQL_FRACTION.match(text, i)
        return m.end() if m else i
    if text[i] == '"':  # no escapes: PQL ends it at the first quote followed by a dot or a space
        end = text.find('"', i + 1)
        if end < 0 or _JAVA_LINE_END.search(text, i, end) or end + 1 >= len(text) or \
                text[end + 1] not in "." + _PQL_SPACE:
            raise ValueError("The PQL constraint has a quoted field name PQL would read differently: write it "
                             "as facts.\"name\".next or facts.\"name\" followed by a space, on one line.")
        return end + 1
    if text.startswith("match(", i):  # PQL ends it at the first ')', whatever it holds
        end = text.find(")", i)
        if end < 0 or _JAVA_LINE_END.search(text, i, end):
            raise ValueError("The PQL constraint has a match(...) field PQL would read differently: its "
                             "regular expression ends at the first ')' and stays on one line.")
        return end + 1
    m = _PQL_SEGMENT.match(text, i)
    return m.end() if m else i
