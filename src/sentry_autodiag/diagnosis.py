"""What a diagnosis says in each outcome, and when to poll next (plain Python).

Every issue that passed the filters ends with exactly one note: the report, or the
reason there is none and what the admin can do about it.
"""
from typing import Optional

from . import bolt
from . import orchestrator as oc
from .report import NoteContext, md_text, render_failure, render_report
from .report import render_remediation, render_remediation_guard
from .targeting import NodeRejected

FIRST_POLL = 0.5        # seconds after the job starts: a collect run usually takes < 1 s
STEADY_POLL = 1.0       # then once a second (<= 1 poll/s, note within ~1 s of the end)...
SLOW_AFTER = 10.0       # ...and for jobs running longer than this, back off
MAX_POLL = 5.0
MAX_POLL_FAILURES = 8   # consecutive transient poll failures before giving up
START_RETRIES = 5       # attempts to start a job when the orchestrator is unreachable
START_BACKOFF = 2.0     # seconds, doubled per attempt, with jitter

# What the admin can do, per error reason (OrchestratorError.reason), in PE's own meaning of
# each error kind. Permission names are as the PE console shows them.
HINTS = {
    "auth": "Create a new long-lived token (puppet-access login --lifetime 1y --print) and save it in the "
            "plugin settings.",
    "not-permitted": "Give the token's RBAC role the permissions Tasks → Run tasks → diagnostics::collect"
                     " on the node group that holds this node, and Job "
                     "orchestrator → Start, stop and view jobs.",
    "unknown-environment": "Set the Puppet environment in the plugin settings to one that exists on the primary "
                           "(and has been deployed with puppet code deploy).",
    "unknown-task": "Deploy the diagnostics module to that environment (puppet code deploy) or fix the task name.",
    "empty-target": "PE knows no node by this certname inside the scope. If events carry short host names, set "
                    "the Certname suffix in the plugin settings (e.g. .example.com); check that the Node tag "
                    "names the host's Puppet certname, that the node is not deactivated in PuppetDB, and that "
                    "it matches the PQL scope constraint.",
    "tls": "Paste the Puppet CA certificate into the settings and use the host name on the orchestrator's "
           "certificate in the URL.",
    "configuration": "Fix the plugin settings (Project Settings → Legacy Integrations → Puppet Auto-Diagnostics).",
    "validation": "PE refused the request as invalid: check the task parameters in the plugin settings (log path, "
                  "log lines, timeout) and that the deployed diagnostics module is the version this plugin expects.",
    "query": "PE answers query-error both for a PQL scope constraint PuppetDB cannot run and for a token whose "
             "RBAC role may not run PuppetDB queries: check the constraint in the plugin settings, and give the "
             "role Nodes → View node data from PuppetDB.",
    "puppetdb": "The orchestrator could not get an answer from PuppetDB: check that PuppetDB on the primary is "
                "running and healthy (puppet infrastructure status).",
    "job-not-found": "The orchestrator no longer knows the job (it may have been purged or the orchestrator "
                     "restarted); the next new issue starts a fresh diagnosis.",
    "unreachable": "Check that the orchestrator (port 8143 of the primary) answers from the Sentry workers.",
    "bad-answer": "Something between Sentry and the orchestrator (a proxy or load balancer) answers instead of "
                  "it: point the URL at the orchestrator itself, https://<primary>:8143.",
    "start-unconfirmed": "Look for the job in the PE console (Jobs, described with this issue's title) and read "
                         "its result there; if this repeats, point the URL at the orchestrator itself, "
                         "https://<primary>:8143, rather than a proxy.",
    "client-error": "The orchestrator did not refuse anything: this worker's HTTP/TLS client failed before it "
                    "answered. Check the orchestrator URL (https://<a host name on its certificate>:8143); if the "
                    "URL is right, report this message as a bug of sentry-autodiag.",
    "internal": "This is a bug of sentry-autodiag, not a problem of PE or the node: report it with the worker "
                "log line autodiag.internal-error. The next new issue starts a fresh diagnosis.",
    "orchestrator-error": "Check the orchestrator's log on the primary "
                          "(/var/log/puppetlabs/orchestration-services/orchestration-services.log).",
}

# Token kinds (clj-rbac-client) that need a different action than a fresh token.
TOKEN_HINTS = {
    "user-revoked": "The PE user that owns the token was revoked (or locked): reinstate the user in PE's access "
                    "control, or create a token for another user, and save it in the plugin settings.",
    "user-unauthenticated": "No token reached the orchestrator: save the RBAC token in the plugin settings.",
    "invalid-token": "PE does not recognise the token: it may belong to another PE installation or be cut "
                     "short. Create a new long-lived token (puppet-access login --lifetime 1y --print) and save "
                     "it in the plugin settings.",
}

NOT_CONNECTED_HINT = ("The node's pxp-agent is not connected to the PCP broker: the node may be down, unreachable "
                      "or its agent stopped. That itself may be the incident.")
UNKNOWN_NODE_HINT = ("The event's host name is probably not the node's Puppet certname. If events carry short host "
                     "names, set the Certname suffix in the plugin settings (e.g. .example.com); otherwise check the "
                     "Node tag and the Allowed node pattern, or whether the node was deactivated in PuppetDB.")
UNTOLD_NODE_HINT = ("Either the node's pxp-agent is down (the node may be down, unreachable or its agent stopped; "
                    "that itself may be the incident) or PE does not know this certname (short host names need the "
                    "Certname suffix setting). PE could not tell which: PuppetDB (port 8081 of the primary) did not "
                    "answer, or the token's role lacks Nodes → View node data from PuppetDB.")


def hint_for(exc: oc.OrchestratorError) -> Optional[str]:
    """The action for an orchestrator error: by the exact PE kind where that matters, else by reason."""
    short_kind = (exc.kind or "").rsplit("/", 1)[-1]
    if exc.reason == "auth" and short_kind in TOKEN_HINTS:
        return TOKEN_HINTS[short_kind]
    return HINTS.get(exc.reason)


def is_not_connected(node: oc.NodeResult) -> bool:
    """PE's answer for a node it could not reach, which is also its answer for an unknown certname.

    PE 2016-2018 mark such a node `errored`; the newer docs list no `errored` node state, so a
    `failed` node counts too when the error is the orchestrator's own (execution-failure), never
    when it is the task's (a task may well print "database not connected")."""
    if not node.error or "not connected" not in str(node.error.get("msg", "")):
        return False
    return node.state == "errored" or (
        node.state == "failed" and str(node.error.get("kind", "")).endswith("/execution-failure"))


def diagnosis_id(group_id: int, event_id: str) -> str:
    """One diagnosis per issue and triggering event: the key of its note, storm claim and job."""
    return "%s:%s" % (group_id, event_id)


def next_poll_interval(elapsed: float, previous: Optional[float]) -> float:
    """0.5 s, then 1 s steady; after 10 s of running, ×1.5 per poll up to 5 s."""
    if previous is None:
        return FIRST_POLL
    if elapsed < SLOW_AFTER:
        return STEADY_POLL
    return min(MAX_POLL, max(STEADY_POLL, previous * 1.5))


def note_for_rejection(ctx: NoteContext, rejected: NodeRejected) -> str:
    headline = {"missing": "no node in the event", "not-allowed": "node not allowed",
                "rule-settings": "alert rule settings refused"}.get(rejected.code, "node refused")
    hint = None
    if rejected.code == "rule-settings":
        hint = "Edit the alert rule's action (Send a notification via the integration) and correct the field named."
    elif rejected.code == "missing":
        hint = "Send server_name from the SDK (it is the default), or set the Node tag setting to the tag naming the host."
    elif rejected.code == "not-allowed":
        hint = "Widen the Allowed node pattern in the plugin settings if this node should be diagnosed."
    return render_failure(ctx, headline, rejected.message, hint)


# Errors worth retrying, by reason: the headline and first line of the note once the retries ran out.
RETRYABLE_NOTES = {
    "unreachable": ("orchestrator unreachable", "The orchestrator could not be reached; no report was collected."),
    "bad-answer": ("unexpected answer from the orchestrator",
                   "The orchestrator URL kept answering something that is not the orchestrator API's JSON; no report "
                   "was collected."),
    "job-not-found": ("job lost", "The orchestrator no longer knows the diagnosis job; no report was collected."),
}


def note_for_error(ctx: NoteContext, exc: oc.OrchestratorError, attempts: int = 1) -> str:
    if isinstance(exc, bolt.BoltError):  # the Bolt runner's failures carry their own headline and hint
        return render_failure(ctx, exc.headline, exc.message, exc.hint)
    if exc.retryable:
        headline, message = RETRYABLE_NOTES.get(exc.reason, RETRYABLE_NOTES["unreachable"])
        return render_failure(
            ctx, headline, message, HINTS.get(exc.reason) or HINTS["unreachable"],
            details=["tried %d time(s) with exponential backoff" % attempts, "last error: %s" % exc.message])
    if exc.reason == "auth" and exc.foreign:
        # a 401/403 page that is not PE's JSON: a proxy's own login or access rule, or PE behind it
        return render_failure(ctx, "refused in front of the orchestrator", exc.message,
                              "%s If the URL is the orchestrator itself: %s" % (HINTS["bad-answer"], HINTS["auth"]))
    if exc.reason == "orchestrator-error" and exc.foreign:
        # an HTTP error page of something in front of PE (e.g. a proxy's 400 "header too large")
        return render_failure(ctx, "unexpected answer from the orchestrator", exc.message, HINTS["bad-answer"])
    if exc.reason == "configuration" and exc.status is not None:
        # the URL answered, but not as the orchestrator does (a 404 page, a redirect, a proxy's 407)
        return render_failure(ctx, "wrong orchestrator URL", exc.message, HINTS["bad-answer"])
    headline = {"auth": "token refused", "not-permitted": "not permitted", "empty-target": "node not found",
                "unknown-task": "task not installed", "unknown-environment": "unknown environment",
                "tls": "TLS verification failed", "configuration": "plugin not configured",
                "query": "node query refused", "puppetdb": "PuppetDB unavailable",
                "start-unconfirmed": "job start unconfirmed",
                "client-error": "request failed in the client"}.get(exc.reason, "request refused")
    return render_failure(ctx, headline, exc.message, hint_for(exc))


def note_for_unexpected(ctx: NoteContext, exc: BaseException) -> str:
    """Any other exception on the way to PE: still a note, in words (type and message)."""
    return render_failure(ctx, "internal error", "The diagnosis stopped on an unexpected error (%s: %s); no report "
                                                 "was collected." % (type(exc).__name__, str(exc)[:300]),
                          HINTS["internal"])


def note_for_node(ctx: NoteContext, node: oc.NodeResult, known: Optional[bool] = None) -> str:
    """The report of a node that is done, whatever its state.

    `known` is OrchestratorClient.node_known(node.name), asked only when the node was not
    connected: PE answers an unknown certname and a stopped agent alike, so only this
    tells "unknown to PE" (False) from "agent down" (True); None means PE could not say.
    """
    ctx = ctx._replace(state=node.state, duration=node.duration)
    failure = bolt.connect_failure(node)  # Bolt could not reach the node over SSH (or its transport)
    if failure:
        return render_failure(ctx._replace(state=None), *failure)
    if is_not_connected(node):
        msg = str(node.error["msg"])
        if known is False:
            return render_failure(ctx._replace(state=None), "node unknown to PE",
                                  "%s. PuppetDB holds no active node named %s, so the orchestrator has no agent "
                                  "to reach: the name is not a Puppet certname PE knows." % (msg.rstrip("."), node.name),
                                  UNKNOWN_NODE_HINT)
        return render_failure(ctx._replace(state=None), "node not connected", msg,
                              NOT_CONNECTED_HINT if known else UNTOLD_NODE_HINT)
    if node.state in ("skipped", "stopped") and not node.report and not node.output:
        return render_failure(ctx, "task %s" % node.state, "The orchestrator %s the task on this node before it ran."
                              % node.state)
    return render_report(ctx, report=node.report, output=node.output,
                         error=node.error if node.state != "finished" else None)


def note_for_timeout(ctx: NoteContext, timeout: int, stopped: bool) -> str:
    return render_failure(
        ctx, "timed out",
        "The job did not finish within the job timeout of %d seconds; %s." % (
            timeout, ("its Bolt process was ended" if str(ctx.job or "").startswith(bolt.JOB_PREFIX) else
                      "it was stopped through the orchestrator") if stopped else "stopping it failed too"),
        "Raise the Job timeout in the plugin settings if the task legitimately needs longer, or check the node.")


MISSING_NODE_HINT = ("PE leaves out of a job the nodes the token's RBAC role may not run the task on: check that "
                     "the role's Tasks → Run tasks permission covers this node's group. Check also that the event's "
                     "host name is the node's Puppet certname (Certname suffix setting).")


def note_for_missing_node_result(ctx: NoteContext, job_state: str) -> str:
    return render_failure(ctx, "no result", "The job ended (%s) without a result for this node." % job_state,
                          MISSING_NODE_HINT)


def note_for_storm_limit(ctx: NoteContext, max_running: int, max_waiting: int) -> str:
    return render_failure(
        ctx, "skipped: storm limit",
        "%d diagnosis jobs of this project were running and %d more were waiting, so this issue was not "
        "diagnosed." % (max_running, max_waiting),
        "This happens in large alert storms. Raise Concurrent jobs or the Waiting queue limit in the plugin "
        "settings if the orchestrator can take more.")


def shared_note(leader_text: str, leader_short_id: str, leader_url: str, window_minutes: int,
                age: Optional[str] = None) -> str:
    """A follower's note: the leader's note, introduced as shared (the link is Sentry's own URL),
    with `age` (shared.age_line) saying how old the snapshot is for this issue's event."""
    link = "[%s](%s)" % (md_text(leader_short_id, 40), leader_url.replace(")", "%29").replace(" ", "%20")) \
        if leader_url.startswith(("http://", "https://", "/")) else md_text(leader_short_id, 40)
    header = ("**Shared diagnosis**: this node was diagnosed for %s; new issues naming the same node within "
              "%d minutes share that job and its report.\n\n" % (link, window_minutes))
    if age:
        header = header.rstrip("\n") + "  \n" + md_text(age, 400) + "\n\n"
    return header + leader_text


# --- remediation notes (remediation.py rules, the flow's `remediate` step) ----------------------

REMEDIATION_HINTS = {
    "remediation/not-allowed": "Add the service to the rule's allowed_services only if restarting it is safe; "
                               "the task refuses anything else.",
    "remediation/not-found": "The service is not installed on this node: narrow the rule's match or fix its "
                             "service name.",
    "remediation/not-active": "The service did not stay up after the restart: the cause is not one a restart "
                              "fixes; look at the diagnosis above and the unit's journal.",
    "remediation/restart-failed": "systemctl could not restart the service; see its journal on the node.",
    "remediation/restart-timeout": "The restart took longer than timeout_seconds; raise it in the rule's params "
                                   "or check the service's stop/start time.",
    "not-permitted": "Give the remediation token's RBAC role Tasks → Run tasks → the rule's task on this node's "
                     "group (and Job orchestrator → Start, stop and view jobs); keep it separate from the "
                     "diagnostics role.",
    "auth": "Create a new long-lived token for the remediation user and save it as the Remediation RBAC token.",
    "unknown-task": "Deploy the remediation module to this Puppet environment (puppet code deploy).",
}


def switch_off_text(rule_label: str, live: bool) -> str:
    how = ("delete %s from the Remediation rules setting (remediation_rules in the gateway config), or set "
           "Remediation runs per node per hour to 0" % rule_label)
    if live:
        how += "; mode: dry-run (or removing mode: live) keeps it to a PE noop run"
    return how + "."


def note_for_remediation(node: str, rule, finding, status: str, result: str, rows, job=None,
                         error_kind: Optional[str] = None) -> str:
    """The audit note of a remediation that ran, would have run (dry run), or was refused."""
    return render_remediation(node, rule.label(), rule.task, rule.mode, status, finding, rule.task_params(), result,
                              rows, switch_off_text(rule.label(), rule.live), job=job,
                              hint=REMEDIATION_HINTS.get(error_kind or ""))


def note_for_remediation_guard(node: str, subject: str, reason: str) -> str:
    """The one line of a remediation a guard stopped."""
    return render_remediation_guard(node, subject, reason)
