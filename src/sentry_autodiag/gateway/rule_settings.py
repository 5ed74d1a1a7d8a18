"""Per-alert-rule settings: the form Sentry shows in the alert rule editor for the action
"Send a notification via <integration>", and the validation of what it holds.

The integration's schema declares an `alert-rule-action` UI component (shipped as
deploy/alert-rule-action-schema.json). Sentry POSTs the form's fields to the gateway
(`uri` below, signed with Sentry-App-Signature) when the rule is saved, and refuses the
rule with the message the gateway answers; every `event_alert` webhook of that rule then
carries them in `data.issue_alert.settings`. They are validated by the same field
definitions as the config file (settings.FIELDS); the config's per-project values are
the defaults. Only non-secret fields are offered: secrets never go into Sentry.

Whoever may edit alert rules in Sentry fills this form, so it may only narrow what the
gateway's admin set (`narrow`): its task must be one of the project's `rule_tasks`, and
its PQL scope is AND-ed with the project's `pql_scope`, never a replacement.
"""
from typing import Any, Dict, List

from .. import settings as settings_mod

URI = "/sentry/alert-rule-settings"
REQUIRED = ("log_path",)
OPTIONAL = ("log_lines", "task", "node_tag", "pql_scope")
MAX_FIELDS = 20
MAX_BODY_BYTES = 16 * 1024   # the form: a few short fields (Sentry adds an installation id)
# The Settings dialog's header (Sentry shows it under "<integration> Settings"; at most 140
# characters by Sentry's schema rules).
DESCRIPTION = ("Runs diagnostics::collect through Puppet Enterprise on the server the event names; the "
               "report becomes a note on the issue.")
# What each field of this form shows as a hint: text/textarea fields may carry extra keys,
# which Sentry's form passes on (placeholder inside the box, help below it). Empty fields
# keep the project's value from the gateway's configuration file.
HINTS = {
    "log_path": ("/var/log/myapp/app.log", "Absolute path of this rule's application log on the nodes, under "
                 "/var/log (the task's allowed_log_dirs)."),
    "log_lines": ("200", "How many log lines the report shows (1-5000), around the event time when the log "
                  "has timestamps. Empty: the project's value."),
    "task": ("diagnostics::collect", "The Puppet task to run, module::task: one of the tasks the gateway's configuration allows for this project (rule_tasks). Empty: the project's value."),
    "node_tag": ("server_name", "The event field or tag that names the server (server_name is set by Sentry's "
                 "SDKs). Empty: the project's value."),
    "pql_scope": ('certname ~ "^web"', "Optional PQL condition the node must also meet, added (AND) to the "
                  "project's own scope constraint, so that PE itself refuses other nodes."),
}


class RuleSettingsError(ValueError):
    """A field of the rule's form is invalid; the message starts with the field's name."""


def _field(name: str) -> Dict[str, Any]:
    field = settings_mod.FIELDS_BY_NAME[name]
    placeholder, help_text = HINTS[name]
    return {"type": "text", "name": name, "label": field.label, "placeholder": placeholder, "help": help_text}


def schema() -> Dict[str, Any]:
    """The integration's UI schema (Developer Settings → the integration → Schema)."""
    return {"elements": [{
        "type": "alert-rule-action",
        "title": "Run Puppet diagnostics on the event's server",
        "settings": {
            "type": "alert-rule-settings",
            "description": DESCRIPTION,
            "uri": URI,
            "required_fields": [_field(n) for n in REQUIRED],
            "optional_fields": [_field(n) for n in OPTIONAL],
        },
    }]}


def clean(raw: Any) -> Dict[str, Any]:
    """Sentry's `[{"name", "value"}, …]` (or a mapping) → clean setting overrides.

    Empty values mean "the project's default"; unknown names and bad values raise
    RuleSettingsError naming the field.
    """
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = []
        for item in raw[:MAX_FIELDS + 1]:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise RuleSettingsError("settings: each field must be an object with a name and a value")
            pairs.append((item["name"], item.get("value")))
    else:
        raise RuleSettingsError("settings: expected a list of fields")
    if len(pairs) > MAX_FIELDS:
        raise RuleSettingsError("settings: more than %d fields" % MAX_FIELDS)
    overrides: Dict[str, Any] = {}
    for name, value in pairs:
        if name not in REQUIRED + OPTIONAL:
            raise RuleSettingsError("%s: not a setting of this form (known: %s)"
                                    % (name[:40], ", ".join(REQUIRED + OPTIONAL)))
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise RuleSettingsError("%s: must be text" % name)
        try:
            overrides[name] = settings_mod.clean_field(name, value)
        except ValueError as exc:
            raise RuleSettingsError("%s (%s): %s" % (name, settings_mod.FIELDS_BY_NAME[name].label, exc))
    return overrides


def narrow(settings: settings_mod.Settings, overrides: Dict[str, Any]) -> Dict[str, Any]:
    """The clean overrides as this project's admin allows them: RuleSettingsError for a task
    outside `rule_tasks`; a PQL scope combined with the admin's own constraint."""
    overrides = dict(overrides)
    task = overrides.get("task")
    if task is not None and task not in settings.rule_tasks:
        raise RuleSettingsError("task: %s is not a task this project lets alert rules choose (allowed: %s; the "
                                "gateway's admin sets rule_tasks)" % (task, ", ".join(settings.rule_tasks)))
    scope = overrides.get("pql_scope")
    if scope and settings.pql_scope and scope != settings.pql_scope:
        overrides["pql_scope"] = "(%s) and (%s)" % (settings.pql_scope, scope)
    return overrides


def allowed_somewhere(overrides: Dict[str, Any], projects) -> List[str]:
    """At save time Sentry does not say which project the rule is for: a task no configured
    project allows is refused then already (each webhook checks its own project again)."""
    task = overrides.get("task")
    if task is None or any(task in s.rule_tasks for s in projects):
        return []
    allowed = sorted({t for s in projects for t in s.rule_tasks})
    return ["task: %s is not a task any project lets alert rules choose (allowed: %s)" % (task, ", ".join(allowed))]


def field_errors(raw: Any) -> List[str]:
    """Every invalid field's message, for the answer to Sentry's validation request."""
    if not isinstance(raw, list):
        raw = [{"name": k, "value": v} for k, v in raw.items()] if isinstance(raw, dict) else raw
    if not isinstance(raw, list):
        return ["settings: expected a list of fields"]
    errors = ["settings: more than %d fields" % MAX_FIELDS] if len(raw) > MAX_FIELDS else []
    for item in raw[:MAX_FIELDS]:
        try:
            clean([item])
        except RuleSettingsError as exc:
            errors.append(str(exc))
    return errors
