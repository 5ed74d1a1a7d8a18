"""What changed on a node since its last diagnosis on the same issue (plain Python).

A second note on an issue should say at once whether the engineer's fix worked. For that
the flow keeps, per issue and node, a small digest of the last report — the findings
(code, severity, the message with its numbers masked, the numbers) and a few key figures
(filesystem use, the last Puppet run, the last package change) — never the report itself.
The digest is bounded (MAX_FINDINGS findings, MAX_MOUNTS mounts, short strings), JSON in
Redis, and expires after HISTORY_TTL. The report is hostile task output: the digest only
keeps bounded text, and the changes section escapes all of it (report.md_text/md_code).
"""
import json
import re
from typing import Any, Dict, List, Optional

from .report import SEVERITY_ICON, md_code, md_text

HISTORY_TTL = 7 * 24 * 3600
MAX_FINDINGS = 25
MAX_MOUNTS = 30
MAX_FIGURES = 4
MAX_TEXT = 160
MAX_LINES = 30          # lines of the changes section (then "… n more")
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# what changes with every run and is no figure of the node: times and "N s before the event"
_CLOCK = re.compile(r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d)?(?:[.,]\d+)?Z?)?|\b\d\d:\d\d(?::\d\d)?(?:[.,]\d+)?"
                    r"|\b\d+(?:\.\d+)?\s*(?:ms|s|min|h|d)\s+(?:before|after)\b")
# df -P: Filesystem 1024-blocks Used Available Capacity Mounted-on (the mount may hold spaces)
_DF_ROW = re.compile(r"^\S+\s+\d+\s+\d+\s+\d+\s+(\d{1,3})%\s+(/.*)$")
_PUPPET = re.compile(r"^puppet:\s+last run (\S+) \([^)]*\), status (\S+), (\d+) of \S+ resources changed, (\d+) failed")
_PACKAGES = re.compile(r"^packages: (\d+) change\(s\) in the logs read, last (\S+) \([^)]*\): (.*)$")


def _short(value: Any, limit: int = MAX_TEXT) -> str:
    text = value if isinstance(value, str) else ""
    return " ".join(text.split())[:limit]


def digest(report: Any, at: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The bounded summary of a task report kept for the next comparison (None: no report)."""
    if not isinstance(report, dict):
        return None
    findings = []
    for finding in (report.get("findings") or [])[:MAX_FINDINGS] if isinstance(report.get("findings"), list) else []:
        if not isinstance(finding, dict):
            continue
        message = _short(finding.get("message"))
        steady = _CLOCK.sub("T", message)
        findings.append({"code": _short(finding.get("code"), 40), "severity": _short(finding.get("severity"), 10),
                         "key": _NUMBER.sub("#", steady)[:MAX_TEXT],
                         "figures": _NUMBER.findall(steady)[:MAX_FIGURES], "message": message})
    mounts: Dict[str, int] = {}
    puppet = packages = None
    for section in report.get("sections") if isinstance(report.get("sections"), list) else []:
        if not isinstance(section, dict) or not isinstance(section.get("body"), str):
            continue
        body = section["body"][:65536]
        if section.get("id") == "disk":
            for line in body.splitlines():
                row = _DF_ROW.match(line.strip())
                if row and len(mounts) < MAX_MOUNTS:
                    mounts.setdefault(row.group(2)[:120], int(row.group(1)))
        elif section.get("id") == "changes":
            for line in body.splitlines():
                found = _PUPPET.match(line)
                if found and puppet is None:
                    puppet = {"at": found.group(1)[:40], "status": found.group(2)[:20],
                              "changed": int(found.group(3)), "failed": int(found.group(4))}
                found = _PACKAGES.match(line)
                if found and packages is None:
                    packages = {"count": int(found.group(1)), "at": found.group(2)[:40],
                                "last": _short(found.group(3), 120)}
    return {"at": at or _short(report.get("collected_at"), 40), "findings": findings, "mounts": mounts,
            "puppet": puppet, "packages": packages}


def _identity(finding: Dict[str, Any]) -> str:
    return "%s|%s" % (finding.get("code"), finding.get("key"))


def changes(before: Dict[str, Any], now: Dict[str, Any]) -> List[str]:
    """The differences, one Markdown list item each (escaped): findings that appeared, went
    away or changed severity or figures; filesystems whose use changed; Puppet runs and
    package changes since the previous report."""
    lines: List[str] = []
    old = {_identity(f): f for f in before.get("findings") or [] if isinstance(f, dict)}
    new = {_identity(f): f for f in now.get("findings") or [] if isinstance(f, dict)}
    old_codes = {}
    for f in old.values():
        old_codes.setdefault(f.get("code"), []).append(f)
    matched_old = set()
    for ident, finding in new.items():
        previous = old.get(ident)
        if previous is None:  # same code, other figures (e.g. "/srv is # % full")? paired by code
            candidates = [f for f in old_codes.get(finding.get("code"), []) if _identity(f) not in matched_old
                          and _identity(f) not in new]
            previous = candidates[0] if len(candidates) == 1 else None
        if previous is None:
            lines.append("- ➕ new: %s %s %s" % (_icon(finding), md_code(finding.get("code"), 40),
                                                  md_text(finding.get("message"), 200)))
            continue
        matched_old.add(_identity(previous))
        moved = _severity_move(previous, finding)
        figures = _figure_move(previous, finding)
        if moved or figures:
            lines.append("- %s %s %s %s" % ("🔺" if _rank(finding) > _rank(previous) else "🔻" if moved else "↔️",
                                             md_code(finding.get("code"), 40), md_text(finding.get("message"), 200),
                                             md_text("(%s)" % "; ".join(x for x in (moved, figures) if x), 200)))
    for ident, finding in old.items():
        if ident not in new and ident not in matched_old:
            lines.append("- ✅ gone: %s %s %s" % (_icon(finding), md_code(finding.get("code"), 40),
                                                   md_text(finding.get("message"), 200)))
    for mount, pct in sorted((now.get("mounts") or {}).items()):
        was = (before.get("mounts") or {}).get(mount)
        if isinstance(was, int) and isinstance(pct, int) and was != pct:
            lines.append("- 💾 %s %s" % (md_code(mount, 120), md_text("%d %% → %d %% used" % (was, pct))))
    puppet, was = now.get("puppet"), before.get("puppet")
    if isinstance(puppet, dict) and (not isinstance(was, dict) or puppet.get("at") != was.get("at")):
        lines.append("- 🛠️ %s" % md_text("Puppet ran since the last diagnosis: %s, status %s, %s resource(s) changed, "
                                         "%s failed" % (puppet.get("at"), puppet.get("status"), puppet.get("changed"),
                                                        puppet.get("failed")), 300))
    packages, was = now.get("packages"), before.get("packages")
    if isinstance(packages, dict) and (not isinstance(was, dict) or packages.get("at") != was.get("at")):
        lines.append("- 📦 %s" % md_text("packages changed since the last diagnosis: last %s at %s" % (
            packages.get("last"), packages.get("at")), 300))
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES] + ["- … %d more change(s)" % (len(lines) - MAX_LINES)]
    return lines


def render(before: Dict[str, Any], now: Dict[str, Any]) -> str:
    """The section that opens a second note on the issue for the same node."""
    lines = changes(before, now)
    title = "**Changes since the last diagnosis** (%s)" % md_text(before.get("at") or "earlier", 40)
    if not lines:
        return "%s: none — the same findings and figures.\n\n" % title
    return "%s\n%s\n\n" % (title, "\n".join(lines))


def _icon(finding: Dict[str, Any]) -> str:
    return SEVERITY_ICON.get(str(finding.get("severity")), "⚪")


def _rank(finding: Dict[str, Any]) -> int:
    return SEVERITY_RANK.get(str(finding.get("severity")), -1)


def _severity_move(before: Dict[str, Any], now: Dict[str, Any]) -> str:
    if before.get("severity") == now.get("severity"):
        return ""
    return "%s → %s" % (before.get("severity"), now.get("severity"))


def _figure_move(before: Dict[str, Any], now: Dict[str, Any]) -> str:
    old, new = before.get("figures") or [], now.get("figures") or []
    if old == new or before.get("key") != now.get("key") and len(old) != len(new):
        return ""
    return ", ".join("%s → %s" % (a, b) for a, b in zip(old, new) if a != b)


class History:
    """The digests in Redis, one per issue and node, and the issue's last diagnosis (node,
    routing rule, alert-rule settings) that a bare `/autodiag` repeats. Methods raise the
    client's errors; callers degrade (no changes section) when Redis is unavailable."""

    def __init__(self, client, prefix: str, ttl: int = HISTORY_TTL):
        self.client = client
        self.prefix = prefix
        self.ttl = ttl

    def _key(self, *parts) -> str:
        return ":".join([self.prefix] + [str(p) for p in parts])

    def swap(self, issue: Any, node: str, now: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """Stores this report's digest; returns the previous one of this issue and node."""
        raw = self.client.getset(self._key("digest", issue, node), json.dumps(now))
        self.client.expire(self._key("digest", issue, node), self.ttl)
        try:
            previous = json.loads(raw) if raw else None
        except ValueError:
            return None
        return previous if isinstance(previous, dict) else None

    def remember_last(self, issue: Any, record: Dict[str, Any]) -> None:
        self.client.set(self._key("last", issue), json.dumps(record), ex=self.ttl)

    def last(self, issue: Any) -> Optional[Dict[str, Any]]:
        raw = self.client.get(self._key("last", issue))
        try:
            record = json.loads(raw) if raw else None
        except ValueError:
            return None
        return record if isinstance(record, dict) else None
