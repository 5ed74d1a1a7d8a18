"""Remediation rules: a predefined safe fix for a clearly patterned failure (plain Python).

After a diagnosis, a project may run ONE fix on the diagnosed node: "when the report has
finding CODE (and, optionally, the event matched these conditions) → run task T with
these fixed parameters". A Sentry event can be sent by anyone holding a DSN, so the
guards are the feature:

- off by default (no rules); each rule is a dry run (PE noop) unless it says `mode: live`;
- what runs (task, every parameter) is the admin's text only: event data can only make a
  rule's conditions hold or not, and the node is the one already diagnosed;
- never after a failed, timed-out or shared diagnosis unless the rule says
  `after_failed: true` (shared diagnoses never get here at all);
- at most one remediation per issue, and at most N per node and per project per hour
  (Redis, one Lua script, counted in dry runs too so a dry run shows what live would do);
- its own RBAC token (a role that may run only the remediation tasks), never the
  diagnostics token; Redis unavailable means no remediation (fail closed).

This module parses and matches rules and holds the guards; the flow's `remediate` step
(flow.py) runs the job and the notes are in diagnosis.py / report.py.
"""
import functools
import json
import re
import time
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from . import hourly_limits, orchestrator as oc, routing, suggest

MAX_RULES = 20
MAX_FINDINGS = 20           # finding codes named by one rule
MAX_CARRIED_FINDINGS = 40   # findings of a report carried to the remediate step
MODES = ("dry-run", "live")
DEFAULT_TASK = "remediation::restart_service"
RULE_KEYS = ("name", "finding", "match", "task", "params", "mode", "after_failed")
FINDING_CODE = re.compile(r"\A[a-z0-9][a-z0-9-]{0,63}\Z")
SERVICE_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9:_.@-]{0,199}\Z")
ISSUE_CLAIM_TTL = 24 * 3600

# Outcomes (metrics tag `outcome`, log field), one per decision.
GUARD_LINES = {
    "skipped-failed-diagnosis": "the diagnosis did not succeed ({detail}); the rule acts only on a successful "
                                "report unless it says after_failed: true",
    "skipped-no-token": "no remediation RBAC token is set (the diagnostics token is never used for remediation)",
    "skipped-rule-changed": "the rule was changed or removed since the event",
    "skipped-issue-done": "this issue already had its one remediation",
    "skipped-node-limit": "the per-node limit ({detail} per hour) was reached for this node",
    "skipped-project-limit": "the per-project limit ({detail} per hour) was reached",
    "skipped-redis": "its guards could not be checked (Redis unavailable), so nothing was run",
}


class RuleError(ValueError):
    """The remediation rules are unusable; the message names the rule (index and name) and the key."""


class Rule(NamedTuple):
    index: int
    name: str
    findings: Tuple[str, ...]
    conditions: Tuple[routing.Condition, ...] = ()
    task: str = DEFAULT_TASK
    params: Tuple[Tuple[str, Any], ...] = ()
    mode: str = "dry-run"
    after_failed: bool = False

    @property
    def live(self) -> bool:
        return self.mode == "live"

    def ref(self) -> Dict[str, Any]:
        """What a queue message carries (the worker re-reads the rule by it)."""
        return {"index": self.index, "name": self.name}

    def label(self) -> str:
        return "remediation rule %d (%s)" % (self.index, self.name)

    def task_params(self) -> Dict[str, Any]:
        """The task's parameters: the admin's values, nothing else."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.params}


class Match(NamedTuple):
    rule: Rule
    finding: Dict[str, Any]   # the report's finding that made the rule hold


# --- parsing ----------------------------------------------------------------------------------


def parse_rules(value: Any) -> Tuple[Rule, ...]:
    """Rules from the settings text (YAML or JSON, as routing rules) or decoded data; raises RuleError."""
    if value is None:
        return ()
    if isinstance(value, str):
        return _parse_text(value)
    return _parse_data(value)


@functools.lru_cache(maxsize=64)
def _parse_text(text: str) -> Tuple[Rule, ...]:
    try:
        data = routing.load_text(text)
    except routing.RuleError as exc:
        raise RuleError(str(exc).replace("The rules", "The remediation rules"))
    return _parse_data(data)


def _parse_data(data: Any) -> Tuple[Rule, ...]:
    rules: List[Rule] = []
    for position, item in enumerate(routing.rule_entries(data, "remediation rules", MAX_RULES, RuleError), 1):
        rule = _parse_rule(position, item)
        if any(r.name == rule.name for r in rules):
            raise RuleError("Rule %d (%s): name: another rule has this name; names must be unique."
                            % (position, rule.name))
        rules.append(rule)
    return tuple(rules)


def _parse_rule(index: int, item: Any) -> Rule:
    where = "Rule %d" % index
    if not isinstance(item, dict):
        raise RuleError("%s: must be a mapping with keys such as name, finding, params, mode." % where)
    name = item.get("name", "rule %d" % index)
    if not isinstance(name, str) or not name.strip() or len(name) > routing.MAX_NAME or \
            any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise RuleError("%s: name: must be a one-line text of 1 to %d characters." % (where, routing.MAX_NAME))
    name = name.strip()
    where = "Rule %d (%s)" % (index, name)

    def fail(key: str, message: str):
        raise RuleError("%s: %s: %s." % (where, key, message))

    unknown = [str(k) for k in item if k not in RULE_KEYS]
    if unknown:
        fail(unknown[0][:40], "unknown key%s (allowed: %s)" % (suggest.did_you_mean(unknown[0], RULE_KEYS),
                                                               ", ".join(RULE_KEYS)))

    codes = item.get("finding")
    codes = codes if isinstance(codes, list) else [codes]
    if not codes or codes == [None]:
        fail("finding", "required: the finding code (or a list of codes) of the diagnostics report, e.g. "
                        "unit-failed")
    if len(codes) > MAX_FINDINGS:
        fail("finding", "at most %d codes" % MAX_FINDINGS)
    for code in codes:
        if not isinstance(code, str) or not FINDING_CODE.match(code):
            fail("finding", "%r is not a finding code (lower-case letters, digits and -, as the diagnostics "
                            "README lists them)" % (str(code)[:40],))

    match = item.get("match") or {}
    if not isinstance(match, dict):
        fail("match", "must be a mapping of condition keys (a tag name, exception_type, environment, level) "
                      "to values")
    if len(match) > routing.MAX_CONDITIONS:
        fail("match", "at most %d conditions" % routing.MAX_CONDITIONS)
    conditions = []
    for key, spec in match.items():
        if not isinstance(key, str) or not routing.TAG_NAME.match(key):
            fail("match", "%r is not a tag name (letters, digits, _ . : -, at most 32)" % (str(key)[:40],))
        try:
            conditions.append(routing._condition(key, spec))  # the routing rules' bounded matchers
        except ValueError as exc:
            fail("match.%s" % key, str(exc))

    task = item.get("task", DEFAULT_TASK)
    if not isinstance(task, str) or not routing.TASK_NAME.match(task.strip()) or "::" not in task:
        fail("task", "a task is named module::task (lower-case letters, digits, underscores)")
    task = task.strip()
    if task.startswith("diagnostics::"):
        fail("task", "remediation runs a task of a remediation module, never the read-only diagnostics module")

    params = item.get("params") or {}
    if not isinstance(params, dict):
        fail("params", "must be a mapping of parameter names to fixed values")
    if len(params) > routing.MAX_PARAMS:
        fail("params", "at most %d parameters" % routing.MAX_PARAMS)
    cleaned = []
    for key, value in params.items():
        if not isinstance(key, str) or not routing.PARAM_NAME.match(key):
            fail("params", "%r is not a task parameter name" % (str(key)[:40],))
        try:
            cleaned.append((key, routing._param_value(value)))
        except ValueError as exc:
            fail("params.%s" % key, str(exc))
    if task == DEFAULT_TASK:
        _check_restart_params(dict(cleaned), fail)

    mode = item.get("mode", "dry-run")
    if mode not in MODES:
        fail("mode", "dry-run (the default: PE noop, nothing changes) or live")
    after_failed = item.get("after_failed", False)
    if not isinstance(after_failed, bool):
        fail("after_failed", "must be true or false")
    return Rule(index=index, name=name, findings=tuple(codes), conditions=tuple(conditions), task=task,
                params=tuple(cleaned), mode=mode, after_failed=after_failed)


def _check_restart_params(params: Dict[str, Any], fail) -> None:
    """remediation::restart_service needs a service that its own allowlist holds (the task
    checks again on the node; this says it when the settings are saved)."""
    service, allowed = params.get("service"), params.get("allowed_services")
    if not isinstance(service, str) or not SERVICE_NAME.match(service):
        fail("params.service", "required: the systemd service to restart, e.g. myapp or myapp.service")
    if not isinstance(allowed, tuple) or not allowed or not all(
            isinstance(a, str) and SERVICE_NAME.match(a) for a in allowed):
        fail("params.allowed_services", "required: the list of services this rule may restart, e.g. [myapp]")
    if unit(service) not in {unit(a) for a in allowed}:
        fail("params.service", "%s is not in allowed_services, so the task would refuse it" % service)


def unit(name: str) -> str:
    return name if name.endswith(".service") else name + ".service"


# --- matching ---------------------------------------------------------------------------------


def event_candidates(rules: Tuple[Rule, ...], facts: Any) -> List[Dict[str, Any]]:
    """At intake: the references of the rules whose event conditions hold (the event itself
    is not carried further). Empty when remediation is off."""
    return [r.ref() for r in rules or () if all(c.holds(routing.fact_value(facts, c.key)) for c in r.conditions)]


def carried_findings(report: Any) -> List[Dict[str, str]]:
    """The report's findings as the remediate step needs them: code, severity, message, bounded."""
    findings = report.get("findings") if isinstance(report, dict) else None
    out = []
    for f in (findings if isinstance(findings, list) else [])[:MAX_CARRIED_FINDINGS]:
        if isinstance(f, dict) and isinstance(f.get("code"), str):
            out.append({"code": f["code"][:64], "severity": str(f.get("severity", ""))[:16],
                        "message": str(f.get("message", ""))[:400]})
    return out


def resolve(rules: Tuple[Rule, ...], refs: Any) -> Tuple[List[Rule], bool]:
    """The carried references as current rules, in rule order; True when one no longer exists
    (same position and name required, as routing.find)."""
    found, changed = [], False
    for ref in refs if isinstance(refs, list) else []:
        rule = routing.find(rules, ref)
        if rule is None:
            changed = True
        elif rule not in found:
            found.append(rule)
    return sorted(found, key=lambda r: r.index), changed


def choose(rules: List[Rule], findings: List[Dict[str, Any]], succeeded: bool) -> Optional[Match]:
    """The first rule (in the admin's order) that one of the findings satisfies; after a
    failed diagnosis only rules that say after_failed: true are considered."""
    for rule in rules:
        if not succeeded and not rule.after_failed:
            continue
        for finding in findings:
            if finding.get("code") in rule.findings:
                return Match(rule, finding)
    return None


# --- guards in Redis --------------------------------------------------------------------------



class Guards:
    """The Redis-backed guards of one project. Methods raise the client's errors: the caller
    treats Redis unavailable as "do not remediate"."""

    def __init__(self, client, prefix: str, project: Any, now=time.time):
        self.client = client
        self.prefix = prefix
        self.project = project
        self.now = now

    def _key(self, *parts) -> str:
        return ":".join([self.prefix, str(self.project)] + [str(p) for p in parts])

    def claim_issue(self, issue: Any, diagnosis_id: str) -> bool:
        """One remediation per issue: True for the first diagnosis, and again for that same one
        (a redelivered step)."""
        key = self._key("issue", issue)
        if self.client.set(key, diagnosis_id, nx=True, ex=ISSUE_CLAIM_TTL):
            return True
        current = self.client.get(key)
        return (current.decode() if isinstance(current, bytes) else current) == diagnosis_id

    def take(self, node: str, diagnosis_id: str, per_node: int, per_project: int) -> str:
        """Counts this remediation against both hourly limits, atomically: "ok", "node" or "project"."""
        answer = hourly_limits.take(self.client, self._key("node", node), self._key("all"), diagnosis_id,
                                    per_node, per_project, self.now())
        return {hourly_limits.COUNTED: "ok", hourly_limits.ITEM_LIMIT: "node", hourly_limits.PROJECT_LIMIT: "project"}[answer]

    def remember_job(self, diagnosis_id: str, job: str) -> None:
        self.client.set(self._key("job", diagnosis_id), job, ex=ISSUE_CLAIM_TTL)

    def recorded_job(self, diagnosis_id: str) -> Optional[str]:
        value = self.client.get(self._key("job", diagnosis_id))
        return value.decode() if isinstance(value, bytes) else value


def guard_line(outcome: str, detail: Any = "") -> str:
    return GUARD_LINES[outcome].format(detail=detail)


def state_rows(report: Any) -> List[Tuple[str, str, str]]:
    """(property, before, after) rows of a restart_service result (or its error details)."""
    source = report if isinstance(report, dict) else {}
    if isinstance(source.get("_error"), dict):
        source = source["_error"].get("details") or {}
    before = source.get("before") if isinstance(source.get("before"), dict) else {}
    after = source.get("after") if isinstance(source.get("after"), dict) else {}
    names = [k for k in ("ActiveState", "SubState", "MainPID", "NRestarts", "ActiveEnterTimestamp", "LoadState")
             if k in before or k in after]
    return [(k, _plain(before.get(k)), _plain(after.get(k))) for k in names]


def _plain(value: Any) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value)


# --- the job ----------------------------------------------------------------------------------


class Outcome(NamedTuple):
    status: str               # report.REMEDIATION_STATUS key
    tag: str                  # the metrics/log outcome
    message: str
    rows: List[Tuple[str, str, str]]
    error_kind: Optional[str] = None


def outcome_of(result: Optional[oc.NodeResult], live: bool) -> Outcome:
    """What the node's item of the remediation job says, for the audit note."""
    if result is None:
        return Outcome("not-run", "no-result", "The job ended without a result for this node.", [])
    rows = state_rows({"_error": result.error} if result.error else result.report)
    if result.state == "finished":
        message = (result.report or {}).get("message") or result.output or "finished"
        return Outcome("done" if live else "dry-run", "done" if live else "dry-run", str(message), rows)
    kind = str((result.error or {}).get("kind", ""))
    message = str((result.error or {}).get("msg", "")) or "The task %s." % result.state
    if result.state == "failed":
        status = "refused" if kind == "remediation/not-allowed" else "failed"
        return Outcome(status, status, message, rows, kind)
    return Outcome("not-run", "not-run", message, rows, kind)


# --- checked against the tasks' metadata when the settings are saved ----------------------------


def verify_tasks(rules: Tuple[Rule, ...], task_info, type_matches) -> None:
    """Asks PE, with the remediation token, for each task a rule runs: it must exist, declare
    every parameter the rule sets with a fitting type, get every required one, and support
    noop when the rule is a dry run. `task_info(task)` raises ValueError saying why it
    cannot answer. Raises RuleError naming the rule and key."""
    cache: Dict[str, Any] = {}
    for rule in rules:
        where = "Rule %d (%s)" % (rule.index, rule.name)
        if rule.task not in cache:
            try:
                cache[rule.task] = task_info(rule.task)
            except ValueError as exc:
                raise RuleError("%s: task: %s cannot be checked with the remediation token: %s"
                                % (where, rule.task, exc))
        info = cache[rule.task]
        metadata = info.get("metadata") if isinstance(info, dict) else None
        metadata = metadata if isinstance(metadata, dict) else {}
        if not rule.live and metadata.get("supports_noop") is not True:
            raise RuleError("%s: mode: the task %s does not support noop, so it cannot run as a dry run."
                            % (where, rule.task))
        declared = routing.declared_parameters(info)
        given = dict(rule.params)
        for name, value in rule.params:
            if name not in declared:
                raise RuleError("%s: params.%s: the task %s declares no parameter %s (it declares: %s)."
                                % (where, name, rule.task, name, ", ".join(sorted(declared)) or "none"))
            plain = list(value) if isinstance(value, tuple) else value
            if declared[name] and not type_matches(declared[name], plain):
                raise RuleError("%s: params.%s: %s does not fit the task's declared type %s."
                                % (where, name, json.dumps(plain)[:100], declared[name][:200]))
        for name, puppet_type in declared.items():
            if puppet_type and not puppet_type.startswith("Optional[") and name not in given:
                raise RuleError("%s: params.%s: required by the task %s." % (where, name, rule.task))
