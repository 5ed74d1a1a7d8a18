"""Renders the issue note (Markdown) from a task result or from the reason there is none.

Sentry renders notes as sanitized Markdown. Task output is hostile text, so: every
section sits in a fenced block whose fence is longer than any backtick run inside it
(nothing can close it early); text outside fences is Markdown-escaped (no links, no
HTML, no headings smuggled in); control characters are made visible; secrets are masked
again; and the whole note is bounded, with an explicit truncation marker.
"""
import json
import re
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from .redaction import redact

MAX_NOTE_CHARS = 60000
MAX_SECTION_CHARS = 20000
MAX_FINDINGS = 20
TRUNCATED_MARK = "… [truncated]"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~&:])")
SEVERITY_ICON = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
STATE_LABEL = {
    "finished": "✅ finished", "failed": "❌ failed", "errored": "❌ could not run",
    "skipped": "⏭️ skipped", "stopped": "⏹️ stopped",
}


class NoteContext(NamedTuple):
    """What the header names: where the task ran and as which PE job."""
    node: str
    task: str
    environment: str
    job: Optional[str] = None
    state: Optional[str] = None
    duration: Optional[float] = None


def visible(text: str) -> str:
    """Control and bidi characters become visible escapes; tabs and newlines stay."""
    return _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group(0)) if ord(m.group(0)) < 0x100
                        else "\\u%04x" % ord(m.group(0)), text)


def md_text(value: Any, limit: int = 500) -> str:
    """Untrusted text for Markdown prose: one line, escaped, bounded."""
    text = " ".join(visible(str(value)).split())
    if len(text) > limit:
        text = text[:limit] + "…"
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_code(value: Any, limit: int = 200) -> str:
    """Untrusted text as an inline code span that nothing inside can close."""
    text = " ".join(visible(str(value)).split())
    if len(text) > limit:
        text = text[:limit] + "…"
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return "%s%s%s%s%s" % (ticks, pad, text or " ", pad, ticks)


def fenced(body: str, info: str = "text") -> str:
    """A fenced block whose fence is longer than any backtick run in the body."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return "%s%s\n%s\n%s" % (fence, info, body, fence)


def _bounded(value: Any) -> str:
    """Untrusted text cut before any processing (a margin so a secret at the cut is still
    recognised whole and then cut away with the rest)."""
    text = value if isinstance(value, str) else str(value)
    return text[:MAX_SECTION_CHARS + 4096]


def _untrusted_block(value: Any) -> Tuple[str, int, bool]:
    """Task text made safe for a fenced block: bounded, control characters visible,
    secrets masked, cut to the section size. Returns (text, masks applied, was cut)."""
    text, masked = redact(visible(_bounded(value)))
    text, cut = _cut(text, MAX_SECTION_CHARS)
    return text, masked, cut


def _cut(text: str, limit: int) -> (str, bool):
    if len(text) <= limit:
        return text, False
    return text[:max(0, limit - len(TRUNCATED_MARK))] + TRUNCATED_MARK, True


def _header(ctx: NoteContext, status: str) -> List[str]:
    facts = ["task %s" % md_code(ctx.task), "Puppet environment %s" % md_code(ctx.environment)]
    if ctx.job:
        facts.append("PE job %s" % md_code(ctx.job))
    if ctx.duration is not None:
        facts.append("ran %.1f s" % ctx.duration)
    return ["**Puppet diagnostics** for %s — %s" % (md_code(ctx.node), status), " · ".join(facts), ""]


def _finding_line(finding: Dict[str, Any]) -> Tuple[str, int]:
    """One finding as a list item: severity icon, code, the message with its proving figure,
    when the evidence was seen, and the section that holds it. Every part is task text,
    so each is escaped or code-spanned and bounded. Returns (line, secrets masked)."""
    icon = SEVERITY_ICON.get(str(finding.get("severity")), "⚪")
    message, masked = redact(str(finding.get("message", "")))
    line = "- %s %s %s" % (icon, md_code(finding.get("code", "?"), 40), md_text(message, 400))
    if finding.get("at"):
        line += " _at %s_" % md_text(finding["at"], 40)
    if finding.get("section"):
        line += " (see %s)" % md_code(finding["section"], 40)
    return line, masked


def render_report(ctx: NoteContext, report: Optional[Dict[str, Any]] = None, output: Optional[str] = None,
                  error: Optional[Dict[str, Any]] = None, max_chars: int = MAX_NOTE_CHARS) -> str:
    """The note for a node that ran the task: findings first, then one fenced block per section."""
    status = STATE_LABEL.get(ctx.state or "", md_text(ctx.state or "unknown"))
    lines = _header(ctx, status)
    masked = 0
    if error:
        lines += ["**Task error**: %s %s" % (md_code(error.get("kind", "unknown"), 100),
                                               md_text(error.get("msg", ""), 500)), ""]
    report = report if isinstance(report, dict) else None
    blocks: List[str] = []
    if report is not None and isinstance(report.get("sections"), list):
        findings = [f for f in report.get("findings") or [] if isinstance(f, dict)]
        if findings:
            lines.append("**Findings**")
            for finding in findings[:MAX_FINDINGS]:
                line, n = _finding_line(finding)
                masked += n
                lines.append(line)
            if len(findings) > MAX_FINDINGS:
                lines.append("- … %d more findings" % (len(findings) - MAX_FINDINGS))
            lines.append("")
        else:
            lines += ["No findings: nothing stood out on the node.", ""]
        facts = []
        if report.get("host"):
            facts.append("host %s" % md_code(report["host"], 120))
        if report.get("collected_at"):
            facts.append("collected %s" % md_code(report["collected_at"], 40))
        if report.get("version"):
            facts.append("module %s" % md_code(report["version"], 20))
        if facts:
            lines += [" · ".join(facts), ""]
        for section in report["sections"]:
            if not isinstance(section, dict):
                continue
            body, n, cut = _untrusted_block(section.get("body", ""))
            masked += n
            title = "**%s** %s" % (md_text(section.get("title") or section.get("id") or "section", 80),
                                   md_code(section.get("command", ""), 160) if section.get("command") else "")
            if section.get("truncated") is True or cut:
                title += " _(truncated)_"
            blocks.append("%s\n%s" % (title.rstrip(), fenced(body)))
    elif report is not None:
        body, n, _ = _untrusted_block(json.dumps(report, indent=2, ensure_ascii=False, sort_keys=True))
        masked += n
        blocks.append("**Task result**\n" + fenced(body, "json"))
    if output is not None:
        body, n, _ = _untrusted_block(output)
        masked += n
        blocks.append("**Task output**\n" + fenced(body))
    footer = []
    node_masked = report.get("redactions") if report else None
    if isinstance(node_masked, int) and node_masked > 0 or masked:
        footer.append("Secrets masked: %d on the node, %d by the plugin." % (
            node_masked if isinstance(node_masked, int) else 0, masked))
    if report and report.get("truncated") is True:
        footer.append("The node cut its report to fit its max_bytes.")
    return _assemble(lines, blocks, footer, max_chars)


def _assemble(lines: List[str], blocks: List[str], footer: List[str], max_chars: int) -> str:
    """Header + as many whole blocks as fit + footer, never more than max_chars."""
    head = "\n".join(lines).rstrip() + "\n"
    tail = ("\n\n" + "\n".join(footer)) if footer else ""
    room = max_chars - len(head) - len(tail) - 200
    out, omitted = [], 0
    for block in blocks:
        if len(block) + 2 <= room:
            out.append(block)
            room -= len(block) + 2
        else:
            omitted += 1
    text = head + ("\n" + "\n\n".join(out) if out else "")
    if omitted:
        text += "\n\n**Note truncated**: %d more section(s) did not fit in %d characters." % (omitted, max_chars)
    return (text + tail)[:max_chars]


def render_failure(ctx: NoteContext, headline: str, message: str, hint: Optional[str] = None,
                   details: Optional[List[str]] = None) -> str:
    """The note for an issue that passed the filters but got no report, and why."""
    lines = _header(ctx, "⚠️ " + md_text(headline, 100))
    lines.append(md_text(message, 1500))
    for detail in details or []:
        lines.append("- " + md_text(detail, 300))
    if hint:
        lines += ["", "**What to do**: " + md_text(hint, 600)]
    return "\n".join(lines).rstrip()[:MAX_NOTE_CHARS]
