"""The findings block of the note: icon, code, message, when, and where the evidence is."""
import re

import mistune

from sentry_autodiag import report

CTX = report.NoteContext(node="web01", task="diagnostics::collect", environment="production", state="finished")


def note_for(findings):
    return report.render_report(CTX, report={"findings": findings, "sections": [
        {"id": "oom", "title": "OOM-killer events", "command": "dmesg", "body": "x", "truncated": False}]})


def test_a_finding_shows_icon_code_message_time_and_section():
    note = note_for([{"severity": "critical", "code": "oom-kill", "section": "oom", "at": "2026-11-21T03:12:31Z",
                      "message": "the OOM killer killed 1 process(es) 14 s before the event: 2210 (java)"}])
    line = next(l for l in note.splitlines() if "oom-kill" in l)
    assert line.startswith("- 🔴 `oom-kill` the OOM killer killed 1 process")
    assert "2210 \\(java\\)" in line
    assert line.endswith("(see `oom`)")
    assert "_at 2026\\-11\\-21T03:12:31Z_" in line.replace("\\:", ":")


def test_findings_keep_the_order_the_node_ranked_them_in():
    note = note_for([{"severity": "critical", "code": "listen-overflow", "message": "ListenOverflows +4112 in 1.0 s", "section": "network"},
                     {"severity": "warning", "code": "package-change", "message": "2 package change(s)", "section": "changes"},
                     {"severity": "info", "code": "app-errors", "message": "12 error lines", "section": "app_errors"}])
    codes = re.findall(r"^- \S+ `([a-z-]+)`", note, re.M)
    assert codes == ["listen-overflow", "package-change", "app-errors"]
    assert "🟠 `package-change`" in note and "🔵 `app-errors`" in note


def test_findings_without_section_or_time_still_render():
    note = note_for([{"severity": "warning", "code": "disk-full", "message": "/ is 91 % full (space)"}])
    line = next(l for l in note.splitlines() if "disk-full" in l)
    assert "see" not in line and "_at" not in line


def test_hostile_section_time_and_code_stay_inert():
    note = note_for([{"severity": "critical", "code": "x` [a](http://evil)", "section": "`](javascript:alert(1))<script>",
                      "at": "<img src=x onerror=alert(1)>", "message": "[click](http://evil) password=hunter2"}])
    html = mistune.create_markdown(escape=False)(note)
    assert "<script" not in html and "<img" not in html and not re.search(r"<a\s", html)
    assert "hunter2" not in note
