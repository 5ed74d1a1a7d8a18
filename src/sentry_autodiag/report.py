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
from .verdict import verdict

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
    rule: Optional[str] = None                 # the routing rule that chose the task, e.g. "rule 2 (api)"
    metrics: Optional[Dict[str, Any]] = None   # a promsnapshot.take() result, or None: metrics are off


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
    if ctx.job and str(ctx.job).startswith("bolt-"):  # the Bolt runner (bolt.py): no PE, no environment
        facts[1:] = ["Bolt run %s" % md_code(ctx.job)]
    elif ctx.job:
        facts.append("PE job %s" % md_code(ctx.job))
    if ctx.duration is not None:
        facts.append("ran %.1f s" % ctx.duration)
    lines = ["**Puppet diagnostics** for %s — %s" % (md_code(ctx.node), status), " · ".join(facts)]
    if ctx.rule:
        lines.append("Routed by %s" % md_text(ctx.rule, 120))
    # Markdown joins adjacent lines into one paragraph: two trailing spaces keep them apart.
    return [line + "  " for line in lines[:-1]] + [lines[-1], ""]


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
    said = verdict(report) if isinstance(report, dict) and isinstance(report.get("sections"), list) else None
    if said:
        # first, before the findings: the sentence the on-call engineer reads and acts on
        # (its text repeats a finding's, whose masks are counted there)
        said, _ = redact(said)
        lines += ["**%s**" % md_text(said, 700), ""]
    if error:
        lines += ["**Task error**: %s %s" % (md_code(error.get("kind", "unknown"), 100),
                                               md_text(error.get("msg", ""), 500)), ""]
    report = report if isinstance(report, dict) else None
    blocks: List[str] = []
    metric_lines, metric_block = render_metrics(ctx.metrics)
    if metric_block:
        blocks.append(metric_block)
    jumps = metric_findings(ctx.metrics)
    if report is not None and isinstance(report.get("sections"), list):
        findings = [f for f in report.get("findings") or [] if isinstance(f, dict)]
        if findings or jumps:
            lines.append("**Findings**")
            shown = findings[:MAX_FINDINGS]
            # the node's findings come ranked by severity: a metric jump (a warning) goes
            # after its critical and warning ones, before the informational ones
            urgent = sum(1 for f in shown if f.get("severity") in ("critical", "warning"))
            for i, finding in enumerate(shown):
                if i == urgent:
                    lines += jumps
                line, n = _finding_line(finding)
                masked += n
                lines.append(line)
            if urgent == len(shown):
                lines += jumps
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
    else:
        if jumps:
            lines += ["**Findings**"] + jumps + [""]
        if report is not None:
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
    lines += metric_lines
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
    metric_lines, metric_block = render_metrics(ctx.metrics)
    jumps = metric_findings(ctx.metrics)
    if jumps:
        lines += ["", "**Findings**"] + jumps
    if metric_lines or metric_block:
        lines += [""] + metric_lines + ([metric_block] if metric_block else [])
    return "\n".join(lines).rstrip()[:MAX_NOTE_CHARS]


# --- the Prometheus snapshot (promsnapshot.take) ------------------------------------------------

METRIC_JUMP_CODE = "metric-jump"
MAX_METRIC_ROWS = 40


def _number(value: Any, unit: str) -> str:
    """A value in its unit, short: 93.1%, 1.2 GiB, 0.25/s, 4.02."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value or value in (
            float("inf"), float("-inf")):
        return "—"
    if unit == "percent":
        return "%.1f%%" % value
    if unit == "bytes":
        size, prefix = abs(value), ""
        for prefix in ("", "Ki", "Mi", "Gi", "Ti", "Pi"):
            if size < 1024 or prefix == "Pi":
                break
            size /= 1024.0
        return "%s%.1f %sB" % ("-" if value < 0 else "", size, prefix) if prefix else "%d B" % value
    text = "%.3g" % value
    return text + "/s" if unit == "per_second" else text


def _rows(metrics: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
    rows = metrics.get("rows") if isinstance(metrics, dict) else None
    return [r for r in rows[:MAX_METRIC_ROWS] if isinstance(r, dict)] if isinstance(rows, list) else []


def metric_findings(metrics: Optional[Dict[str, Any]]) -> List[str]:
    """One finding line per series that jumped away from its baseline just before the event."""
    lines = []
    for row in _rows(metrics):
        jumped = row.get("jump")
        if not isinstance(jumped, dict):
            continue
        unit = str(row.get("unit") or "")
        name = str(row.get("name", "?")) + ("{%s}" % row["labels"] if row.get("labels") else "")
        direction = "rose" if _as_float(jumped.get("to")) > _as_float(jumped.get("from")) else "fell"
        lines.append("- %s %s %s" % (SEVERITY_ICON["warning"], md_code(METRIC_JUMP_CODE, 40), md_text(
            "%s %s from about %s to %s in the 2 minutes before the event (Prometheus)" % (
                name, direction, _number(jumped.get("from"), unit), _number(jumped.get("to"), unit)), 300)))
    return lines


def _as_float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def render_metrics(metrics: Optional[Dict[str, Any]]) -> Tuple[List[str], Optional[str]]:
    """(prose lines, fenced table block or None) for a snapshot: one line when it failed."""
    if not isinstance(metrics, dict):
        return [], None
    rows = _rows(metrics)
    if metrics.get("status") != "ok" or not rows:
        return ["**Metrics**: none from Prometheus: %s." % md_text(metrics.get("reason") or "no data", 300),
                ""], None
    header = ("metric", "series", "15 min before %s event → now" % _EVENT_MARK, "min", "max", "at event")
    table = [header]
    for row in rows:
        unit = str(row.get("unit") or "")
        table.append((str(row.get("name", "?"))[:32], str(row.get("labels") or "")[:60],
                      str(row.get("spark") or "")[:40], _number(row.get("min"), unit), _number(row.get("max"), unit),
                      _number(row.get("at_event"), unit) + (" ⚠" if isinstance(row.get("jump"), dict) else "")))
    if not any(r[1] for r in table[1:]):
        table = [r[:1] + r[2:] for r in table]
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    numeric = len(table[0]) - 3  # min, max, at event: right-aligned
    text = "\n".join("  ".join(cell.rjust(w) if i >= numeric else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(r, widths))).rstrip() for r in table)
    body, _, _ = _untrusted_block(text)
    notes = []
    failed = metrics.get("failed") if isinstance(metrics.get("failed"), list) else []
    if failed:
        notes.append("not shown: " + "; ".join("%s (%s)" % (f[0], f[1]) for f in failed[:8]
                                               if isinstance(f, list) and len(f) == 2))
    if isinstance(metrics.get("omitted"), int) and metrics["omitted"] > 0:
        notes.append("%d more series not shown" % metrics["omitted"])
    title = "**Metrics** (Prometheus; %s marks the event)" % md_code(_EVENT_MARK)
    if notes:
        title += " " + md_text("— " + ", ".join(notes), 600)
    return [], "%s\n%s" % (title, fenced(body))


_EVENT_MARK = "┃"


# --- remediation (remediation.py, the flow's `remediate` step) ---------------------------------

REMEDIATION_STATUS = {
    "dry-run": "🧪 dry run (PE noop): nothing was changed",
    "done": "✅ done",
    "refused": "⛔ refused by the task on the node",
    "failed": "❌ failed",
    "not-run": "❌ could not run",
    "pending": "⏳ still running",
    "not-started": "⚠️ not started",
}


def render_remediation(node: str, rule_label: str, task: str, mode: str, status: str,
                       finding: Dict[str, Any], params: Dict[str, Any], result: str,
                       rows: List[Tuple[str, str, str]], switch_off: str, job: Optional[str] = None,
                       hint: Optional[str] = None) -> str:
    """The audit note of one remediation decision that ran (or would have run): what, why,
    the result with the node's state before and after, and how to switch it off.
    Task output and finding text are hostile: escaped, code-spanned and bounded."""
    facts = [md_text(rule_label, 120), "task %s" % md_code(task), "mode %s" % md_code(mode)]
    if job:
        facts.append("PE job %s" % md_code(job))
    lines = ["**Puppet remediation** for %s — %s  " % (md_code(node), REMEDIATION_STATUS.get(status, md_text(status))),
             " · ".join(facts), ""]
    icon = SEVERITY_ICON.get(str(finding.get("severity")), "⚪")
    message, _ = redact(str(finding.get("message", "")))
    lines.append("**Why**: finding %s %s %s  " % (md_code(finding.get("code", "?"), 64), icon, md_text(message, 400)))
    shown = " · ".join("%s = %s" % (md_code(k, 64), md_code(v if isinstance(v, str) else json.dumps(v), 300))
                       for k, v in sorted(params.items())) or "none"
    lines.append("**Parameters** (fixed by the rule, never by the event): %s  " % shown)
    text, _ = redact(result)
    lines.append("**Result**: %s" % md_text(text, 800))
    if hint:
        lines[-1] += "  "  # Markdown hard break: each item on its own line
        lines.append("**What to do**: %s" % md_text(hint, 600))
    blocks = []
    if rows:
        table = [("property", "before", "after")] + [(k[:32], b[:60], a[:60]) for k, b, a in rows]
        widths = [max(len(r[i]) for r in table) for i in range(3)]
        body, _, _ = _untrusted_block("\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                                                for r in table))
        blocks.append("**State of the unit**\n" + fenced(body))
    footer = ["**Switch it off**: " + md_text(switch_off, 600)]
    return _assemble(lines, blocks, footer, MAX_NOTE_CHARS)


def render_remediation_guard(node: str, subject: str, reason: str) -> str:
    """One line: a remediation the rules asked for, and the guard that stopped it."""
    return "**Puppet remediation** not run for %s — %s, but %s." % (md_code(node), md_text(subject, 300),
                                                                    md_text(reason, 300))
