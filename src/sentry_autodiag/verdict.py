"""The verdict line: the note's first sentence, derived from the node's ranked findings.

Why here and not in the task: one rule set for both front ends and for reports of older
module versions, tested in plain Python, at no cost on the node. It never claims more than
the findings do: a critical finding (the node confirmed it) is the "likely cause"; a
warning only a "possible cause", said so; with neither, the node "looked healthy" and the
line points at the application or the dependency its log named. Returns plain text: the
renderer escapes and bounds it (every piece comes from the node and is untrusted).
"""
import re
from typing import Any, Dict, List, Optional

URGENT = ("critical", "warning")
SYMPTOMS = ("app-errors", "app-error-spike")

# Application-log findings about a dependency (another host or service), not this node.
DEPENDENCY_CODES = {
    "app-connection-refused": "which refused connections",
    "app-connection-reset": "which reset connections",
    "app-timeout": "which did not answer in time",
    "app-dns-failure": "whose name did not resolve",
    "app-tls-error": "whose TLS handshake failed",
    "app-network-unreachable": "which was unreachable",
    "app-db-connections-exhausted": "whose connection limit was reached",
    "app-datastore-full": "which refused writes at its own limit",
}

# Which application error a node finding explains, by words in the node finding's code.
_TIES = [
    (("disk", "inode", "fs-", "read-only", "tmpfs"), ("app-disk-full", "app-read-only-fs")),
    (("oom", "memory", "swap", "commit"), ("app-out-of-memory", "app-process-limit", "app-crash")),
    (("fd", "file"), ("app-too-many-open-files",)),
    (("pid", "process", "thread", "fork", "task"), ("app-process-limit",)),
    (("port", "conntrack", "syn", "tcp", "net", "socket"),
     ("app-ephemeral-ports", "app-connection-refused", "app-connection-reset", "app-timeout",
      "app-network-unreachable")),
    (("dns", "resolv"), ("app-dns-failure",)),
    (("clock", "ntp", "time"), ("app-tls-error", "app-timeout")),
    (("unit", "restart", "service", "listener"), ("app-connection-refused", "app-crash")),
    (("cpu", "throttl", "steal", "io-", "load", "hung", "limit"),
     ("app-timeout", "app-worker-limit", "worker-timeout")),
]

_PEER = re.compile(r"\b(?:to|by|with|for) ([A-Za-z0-9][A-Za-z0-9._\-\[\]:]*:[0-9]+|[A-Za-z0-9][A-Za-z0-9.\-]*\.[A-Za-z]{2,})")


def _hhmm(iso: Any) -> Optional[str]:
    m = re.match(r"\d{4}-\d\d-\d\d[T ](\d\d:\d\d)(:\d\d)?", str(iso or ""))
    return m.group(1) if m else None


def _hhmmss(iso: Any) -> Optional[str]:
    m = re.match(r"\d{4}-\d\d-\d\d[T ](\d\d:\d\d:\d\d)", str(iso or ""))
    return m.group(1) if m else None


def _claim(finding: Dict[str, Any], limit: int = 320) -> str:
    """The finding's claim without the sample log line the application findings append
    ("…; e.g.: <the line>"; older modules: "… N time(s): <the line>"), cut at a word."""
    text = str(finding.get("message", ""))
    if "; e.g.: " in text:
        text = text.split("; e.g.: ", 1)[0]
    elif str(finding.get("code", "")).startswith("app-") and ": " in text:
        head, _, _rest = text.partition(": ")
        if re.search(r"time\(s\)|times?$", head):
            text = head
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " …"
    return text


def _tie(top: Dict[str, Any], findings: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The application's own error that the node finding explains, when there is one."""
    code = str(top.get("code", ""))
    if code.startswith("app-"):
        return None
    wanted = set()
    for words, app_codes in _TIES:
        if any(w in code for w in words):
            wanted.update(app_codes)
    for f in findings:
        if f is not top and f.get("code") in wanted:
            return f
    return None


def _dependency(findings: List[Dict[str, Any]]) -> Optional[str]:
    for f in findings:
        why = DEPENDENCY_CODES.get(str(f.get("code")))
        if not why:
            continue
        m = _PEER.search(str(f.get("message", "")).split(": ", 1)[0])
        if m:
            return "its dependency %s, %s" % (m.group(1), why)
        return "a dependency %s (%s)" % (why, _claim(f))
    return None


def verdict(report: Dict[str, Any]) -> Optional[str]:
    """One sentence for the top of the note, or None when the report holds no findings list."""
    raw = report.get("findings")
    if not isinstance(raw, list):
        return None
    findings = [f for f in raw if isinstance(f, dict) and f.get("code") != "more-findings"]
    # the application's error counts are symptoms, never a cause
    urgent = [f for f in findings if f.get("severity") in URGENT and f.get("code") not in SYMPTOMS]
    when = _hhmm(report.get("event_time")) or _hhmm(report.get("collected_at"))
    if not urgent:
        text = "The node looked healthy%s: no node-level cause in its findings" % (
            " at %s (event time)" % when if when else "")
        dep = _dependency(findings)
        text += "; look at the application or %s" % dep if dep else "; look at the application and its dependencies"
        spike = next((f for f in findings if f.get("code") == "app-error-spike"), None)
        if spike is not None:
            text += " (its errors rose: %s)" % _claim(spike, 160)
        return text + "."
    top = urgent[0]
    at = _hhmmss(top.get("at"))
    code = str(top.get("code", ""))
    claim = _claim(top)
    if top.get("severity") == "critical":
        text = "Likely cause: %s (%s%s)" % (claim, code, ", at %s" % at if at else "")
    elif code.startswith("app-"):
        text = "Possible cause, not confirmed by the node: %s (%s%s)" % (claim, code, ", at %s" % at if at else "")
    else:
        text = "Possible cause (a warning): %s (%s)" % (claim, code)
    if code in DEPENDENCY_CODES and not any(not str(f.get("code", "")).startswith("app-") for f in urgent):
        dep = _dependency([top])
        text += "; the node itself showed nothing wrong%s: look at %s" % (
            " at %s" % when if when else "", dep or "that dependency")
    else:
        tie = _tie(top, findings)
        if tie is not None:
            tie_at = _hhmmss(tie.get("at"))
            text += " — the application's error%s: %s" % (" at %s" % tie_at if tie_at else "", _claim(tie))
    others = len({f.get("code") for f in urgent if f.get("severity") == "critical"} - {code})
    if top.get("severity") == "critical" and others:
        text += "; %d other critical finding(s) below" % others
    return text + "."
