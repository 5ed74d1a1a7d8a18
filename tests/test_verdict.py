"""The verdict line: first in the note, never more certain than the findings behind it."""
from sentry_autodiag import report
from sentry_autodiag.verdict import verdict

CTX = report.NoteContext(node="web01", task="diagnostics::collect", environment="production", state="finished")
EV = "2026-11-21T03:12:45Z"


def rep(findings, **extra):
    r = {"findings": findings, "sections": [{"id": "log", "title": "Application log", "command": "tail",
                                             "body": "x", "truncated": False}], "event_time": EV,
         "collected_at": "2026-11-21T03:14:02Z"}
    r.update(extra)
    return r


DISK = {"severity": "critical", "code": "disk-full", "section": "disk", "message": "/srv is 100 % full (space)"}
APP_ENOSPC = {"severity": "critical", "code": "app-disk-full", "section": "app_errors", "at": "2026-11-21T03:12:04Z",
              "message": "\"No space left on device\" 14 time(s): OSError: [Errno 28] No space left on device: '/srv/x'"}


def test_a_confirmed_node_cause_is_the_likely_cause_tied_to_the_apps_error():
    said = verdict(rep([DISK, APP_ENOSPC]))
    assert said.startswith("Likely cause: /srv is 100 % full (space) (disk-full)")
    assert "the application's error at 03:12:04: \"No space left on device\" 14 time(s)" in said
    assert "Errno 28" not in said  # the claim, not the quoted log line


def test_a_warning_is_only_a_possible_cause():
    said = verdict(rep([{"severity": "warning", "code": "app-out-of-memory", "section": "app_errors",
                         "message": "the application reports running out of memory 2 time(s); the node shows no "
                                    "OOM kill or memory pressure"}]))
    assert said.startswith("Possible cause, not confirmed by the node: the application reports")
    assert "Likely" not in said


def test_a_healthy_node_points_at_the_dependency_the_log_named():
    said = verdict(rep([{"severity": "info", "code": "app-connection-refused", "section": "app_errors",
                         "message": "connection refused 2 time(s) to db01:5432; 0 established connection(s) to "
                                    "port 5432 now: psycopg2.OperationalError ..."},
                        {"severity": "info", "code": "app-errors", "section": "app_errors", "message": "3 lines"}]))
    assert said == ("The node looked healthy at 03:12 (event time): no node-level cause in its findings; look at "
                    "the application or its dependency db01:5432, which refused connections.")


def test_a_critical_dependency_finding_alone_says_the_node_showed_nothing():
    said = verdict(rep([{"severity": "critical", "code": "app-connection-refused", "section": "app_errors",
                         "message": "connection refused 9 time(s) to db01:5432; 0 established connection(s) to "
                                    "port 5432 now: x"}]))
    assert said.startswith("Likely cause: connection refused 9 time(s) to db01:5432")
    assert "the node itself showed nothing wrong at 03:12: look at its dependency db01:5432" in said


def test_no_findings_at_all():
    assert verdict(rep([])).startswith("The node looked healthy at 03:12 (event time): no node-level cause")
    assert verdict({"sections": []}) is None


def test_the_note_starts_with_the_verdict_before_the_findings():
    note = report.render_report(CTX, report=rep([DISK, APP_ENOSPC]))
    lines = note.splitlines()
    first = next(i for i, l in enumerate(lines) if l.startswith("**Likely cause"))
    assert first < lines.index("**Findings**")
    assert lines[first].startswith("**Likely cause\\: /srv is 100 % full")


def test_the_verdict_is_hostile_text_escaped_and_secrets_masked():
    evil = {"severity": "critical", "code": "disk-full", "section": "disk",
            "message": "[x](http://evil) **bold** password=hunter2 " + "A" * 2000}
    note = report.render_report(CTX, report=rep([evil]))
    line = next(l for l in note.splitlines() if "Likely cause" in l)
    assert "hunter2" not in line and "](http" not in line and "\\*\\*bold" in line
    assert len(line) < 800


def test_error_counts_are_symptoms_and_the_log_sample_is_not_the_claim():
    said = verdict(rep([{"severity": "warning", "code": "app-error-spike", "section": "app_errors",
                         "message": "52 error lines in the 4 min around the event vs 0.0/min before"},
                        {"severity": "warning", "code": "worker-timeout", "section": "app_errors",
                         "message": "a task runner's time limit ended 3 job(s): they waited too long on db01:5432; "
                                    "e.g.: [2026-11-21 03:12:10 +0000] [812] [CRITICAL] WORKER TIMEOUT (pid:2214)"}]))
    assert said == ("Possible cause (a warning): a task runner's time limit ended 3 job(s): they waited too long on "
                    "db01:5432 (worker-timeout).")
    healthy = verdict(rep([{"severity": "warning", "code": "app-error-spike", "section": "app_errors",
                            "message": "52 error lines in the 4 min around the event vs 0.0/min before"}]))
    assert healthy.startswith("The node looked healthy at 03:12") and "its errors rose: 52 error lines" in healthy
