"""How the note reads once Markdown renders it: header lines stay lines, and findings stay
ranked by severity when Prometheus adds a metric jump."""
import mistune

from sentry_autodiag import report

CTX = report.NoteContext(node="web01", task="diagnostics::collect", environment="production", state="finished",
                         job="7", rule="rule 1 (api)")
SECTIONS = [{"id": "host", "title": "Host", "command": "uname -a", "body": "x"}]
JUMP = {"status": "ok", "rows": [{"name": "cpu_busy", "unit": "percent", "points": [], "jump": {"from": 10, "to": 95}}]}


def test_header_lines_render_as_separate_lines():
    html = mistune.create_markdown()(report.render_report(CTX, report={"sections": SECTIONS}))
    header = html.split("</p>")[0]
    assert header.count("<br") == 2  # title / facts / routed-by: three lines, one paragraph


def test_a_metric_jump_ranks_after_critical_and_warning_findings_before_info():
    findings = [{"severity": "critical", "code": "oom-kill", "message": "a"},
                {"severity": "warning", "code": "swap-storm", "message": "b"},
                {"severity": "info", "code": "app-errors", "message": "c"}]
    note = report.render_report(CTX._replace(metrics=JUMP), report={"findings": findings, "sections": SECTIONS})
    positions = [note.index(code) for code in ("`oom-kill`", "`swap-storm`", "`metric-jump`", "`app-errors`")]
    assert positions == sorted(positions), note
    only_info = report.render_report(CTX._replace(metrics=JUMP), report={"findings": findings[2:],
                                                                          "sections": SECTIONS})
    assert only_info.index("`metric-jump`") < only_info.index("`app-errors`")
    no_info = report.render_report(CTX._replace(metrics=JUMP), report={"findings": findings[:1], "sections": SECTIONS})
    assert no_info.index("`oom-kill`") < no_info.index("`metric-jump`")
