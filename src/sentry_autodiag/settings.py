"""The per-project settings: fields, defaults, validation (plain Python).

`FIELDS` is the single description of the settings form; the Sentry glue turns it into
Sentry's plugin config fields and validators. Validators take the submitted value and
return the cleaned one or raise ValueError with a message shown under the field.
"""
import json
import re
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from . import orchestrator, promsnapshot, remediation, routing, targeting

LEVELS = ["debug", "info", "warning", "error", "fatal"]
TASK_NAME = re.compile(r"\A[a-z][a-z0-9_]*(::[a-z][a-z0-9_]*)?\Z")
ENVIRONMENT_NAME = re.compile(r"\A[a-z0-9_]+\Z")
TAG_NAME = re.compile(r"\A[a-zA-Z0-9_.:-]{1,32}\Z")
SUFFIX = re.compile(r"\A(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+\Z")


def _text(value) -> str:
    """A text field's value: None is empty, a number its digits (YAML and form JSON send
    numbers); anything else (a list, an object, a boolean) is refused with a clear error."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError("Expected text, got %s." % ("a list" if isinstance(value, (list, tuple)) else
                                                 "an object" if isinstance(value, dict) else type(value).__name__))


def _url(value):
    value = _text(value)
    orchestrator.normalize_base_url(value)  # raises ConfigurationError (a ValueError-like message)
    return value.strip().rstrip("/")


def _token(value):
    value = _text(value).strip()
    if any(c in value for c in "\r\n\0 \t"):
        raise ValueError("The token must be a single line without spaces.")
    return value


def _ca(value):
    value = _text(value).strip()
    if "-----BEGIN CERTIFICATE-----" not in value:
        raise ValueError("Paste the PEM text of the Puppet CA certificate "
                         "(/etc/puppetlabs/puppet/ssl/certs/ca.pem), starting with -----BEGIN CERTIFICATE-----.")
    orchestrator.make_ssl_context(value)  # parses it; raises ConfigurationError with the reason
    return value + "\n"


def _environment(value):
    value = _text(value).strip() or "production"
    if not ENVIRONMENT_NAME.match(value):
        raise ValueError("A Puppet environment name holds only lower-case letters, digits and underscores.")
    return value


def _task(value):
    value = _text(value).strip() or "diagnostics::collect"
    if not TASK_NAME.match(value):
        raise ValueError("A task is named module::task (lower-case letters, digits, underscores).")
    return value


def _tasks(value):
    if isinstance(value, (list, tuple)):  # a YAML list
        value = ",".join(str(v) for v in value)
    names = [t.strip() for t in _text(value).split(",") if t.strip()] or ["diagnostics::collect"]
    if len(names) > 20:
        raise ValueError("List at most 20 tasks, separated by commas.")
    for name in names:
        _task(name)
    return ", ".join(names)


def _log_path(value):
    value = _text(value).strip()
    if value and (not value.startswith("/") or len(value) > 1024 or any(ord(c) < 32 for c in value)):
        raise ValueError("The log path must be an absolute path on the node, e.g. /var/log/myapp/app.log.")
    return value


def _int_between(low, high, what):
    def check(value):
        try:
            number = int(str(value).strip()) if value not in (None, "") else None
        except ValueError:
            raise ValueError("%s must be a whole number from %d to %d." % (what, low, high))
        if number is None:
            return None
        if not low <= number <= high:
            raise ValueError("%s must be from %d to %d." % (what, low, high))
        return number
    return check


def _node_tag(value):
    value = _text(value).strip() or "server_name"
    if not TAG_NAME.match(value):
        raise ValueError("A tag name holds letters, digits and _ . : - (at most 32).")
    return value


def _suffix(value):
    value = _text(value).strip().lower()
    if value and not SUFFIX.match(value):
        raise ValueError("The suffix is a domain starting with a dot, e.g. .example.com.")
    return value


def _pattern(value):
    value = _text(value).strip() or targeting.DEFAULT_NODE_PATTERN
    if len(value) > 500:
        raise ValueError("The pattern is longer than 500 characters.")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError("The pattern is not a valid regular expression: %s." % exc)
    return value


def _puppetdb_url(value):
    value = _text(value).strip()
    if value:
        orchestrator.normalize_base_url(value, default_port=orchestrator.PUPPETDB_PORT, api_prefix="/pdb")
    return value.rstrip("/")


def _pql(value):
    return targeting.check_pql_constraint(_text(value))


def _environments(value):
    names = [v.strip() for v in _text(value).split(",") if v.strip()] or ["production"]
    if len(names) > 50 or any(len(n) > 64 or any(c.isspace() for c in n) for n in names):
        raise ValueError("List Sentry environment names separated by commas, or * for all.")
    return ", ".join(names)


def _level(value):
    value = _text(value).strip() or "error"
    if value not in LEVELS:
        raise ValueError("Choose one of %s." % ", ".join(LEVELS))
    return value


def _kept_text(parse):
    """A YAML/JSON text field (rules, queries) kept as the admin wrote it, comments and all,
    once `parse` accepted it (raising a ValueError naming the rule and key); the value is
    parsed again when settings are loaded (cached there)."""
    def clean(value):
        if value is None:
            return ""
        text = value if isinstance(value, str) else json.dumps(value, indent=2)
        if text.strip():
            parse(text)
        return text.strip()
    return clean


_routing_rules = _kept_text(routing.parse_rules)
_remediation_rules = _kept_text(remediation.parse_rules)
_metrics_queries = _kept_text(promsnapshot.parse_queries)


def _secret(value):
    value = _text(value).strip()
    if len(value) > 1000 or any(c in value for c in "\r\n\0"):
        raise ValueError("It must be a single line of at most 1000 characters.")
    return value


def _optional_ca(value):
    value = _text(value).strip()
    return _ca(value) if value else ""


def _bool(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "on", "yes")


RUNNERS = ["pe", "bolt"]
PE_FIELDS = ("url", "token", "ca_cert")   # required only with the PE runner
DEFAULT_BOLT_BINARY = "/opt/puppetlabs/bin/bolt"


def _runner(value):
    value = _text(value).strip().lower() or "pe"
    if value not in RUNNERS:
        raise ValueError("Choose pe (the Puppet Enterprise orchestrator) or bolt (Puppet Bolt / OpenBolt).")
    return value


def _abs_path(what, default=""):
    def clean(value):
        value = _text(value).strip() or default
        if value and (not value.startswith("/") or len(value) > 1024 or any(ord(c) < 32 for c in value)):
            raise ValueError("%s must be an absolute path on the worker host." % what)
        return value.rstrip("/") or value
    return clean


def _bolt_target(value):
    value = _text(value).strip()
    if value and not re.match(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,252}\Z", value):
        raise ValueError("A test node is one plain target name of the Bolt inventory (letters, digits, . _ -).")
    return value


def is_required(field: "Field", values: Dict[str, Any]) -> bool:
    """A field's `required`, except that the Bolt runner needs no orchestrator URL, token or CA."""
    return field.required and not (field.name in PE_FIELDS and str(values.get("runner") or "").strip() == "bolt")


class Field(NamedTuple):
    name: str
    label: str
    type: str           # Sentry field types: text, secret, textarea, number, choice, bool
    help: str
    default: Any = None
    required: bool = False
    placeholder: Optional[str] = None
    clean: Callable[[Any], Any] = lambda v: v
    choices: Optional[List[List[str]]] = None


FIELDS: List[Field] = [
    Field("url", "Orchestrator URL", "text",
          "The Puppet Enterprise orchestrator API of your primary server, https only, e.g. "
          "https://puppet.example.com:8143 (the port defaults to 8143).",
          required=True, placeholder="https://puppet.example.com:8143", clean=_url),
    Field("token", "RBAC token", "secret",
          "A long-lived token of a PE user whose role may only run diagnostics::collect "
          "(puppet-access login --lifetime 1y --print). Stored server-side, never shown again.",
          required=True, clean=_token),
    Field("ca_cert", "CA certificate", "textarea",
          "PEM text of the Puppet CA (/etc/puppetlabs/puppet/ssl/certs/ca.pem on any Puppet node). "
          "The orchestrator's certificate is verified against it, and only it.",
          required=True, placeholder="-----BEGIN CERTIFICATE-----", clean=_ca),
    Field("environment", "Puppet environment", "text",
          "The code environment the diagnostics module is deployed to.", default="production", clean=_environment),
    Field("task", "Task", "text",
          "The task to run, named module::task.", default="diagnostics::collect", clean=_task),
    Field("log_path", "Application log path", "text",
          "Absolute path of the application log on the nodes, passed to the task (it must lie in the "
          "task's allowed_log_dirs, /var/log by default). Empty: no log section.",
          default="", placeholder="/var/log/myapp/app.log", clean=_log_path),
    Field("log_lines", "Log lines", "number",
          "How many log lines the task shows (1-5000); around the event time when the log has timestamps.",
          default=200, clean=_int_between(1, 5000, "Log lines")),
    Field("node_tag", "Node tag", "text",
          "The event field or tag naming the server: server_name (set by Sentry SDKs) or any tag.",
          default="server_name", clean=_node_tag),
    Field("certname_suffix", "Certname suffix", "text",
          "Appended to short host names (no dot) to form the Puppet certname, e.g. .example.com. Empty: none.",
          default="", placeholder=".example.com", clean=_suffix),
    Field("node_pattern", "Allowed node pattern", "text",
          "Regular expression the whole certname must match; events naming other nodes get a note and no job. "
          "The default accepts DNS host names only.",
          default=targeting.DEFAULT_NODE_PATTERN, clean=_pattern),
    Field("pql_scope", "PQL scope constraint", "text",
          "Optional PQL condition combined with the node (nodes[certname] { certname = \"<node>\" and (<this>) }), "
          "so Puppet Enterprise itself refuses nodes outside it, e.g. certname ~ \"^web\\\\d+\\\\.example\\\\.com$\" "
          "(a backslash is doubled in PQL strings) or inventory { facts.os.family = \"RedHat\" }.",
          default="", clean=_pql),
    Field("puppetdb_url", "PuppetDB URL", "text",
          "Where the plugin asks whether PE knows a node that did not answer (unknown certname or stopped agent), "
          "with the same token and CA; needs the RBAC permission Nodes → View node data from PuppetDB. Empty: "
          "port 8081 of the orchestrator's host.",
          default="", placeholder="https://puppet.example.com:8081", clean=_puppetdb_url),
    Field("sentry_environments", "Sentry environments", "text",
          "Diagnose only events of these Sentry environments (comma-separated), or * for all.",
          default="production", clean=_environments),
    Field("min_level", "Minimum level", "choice",
          "Diagnose only events at this level or above.", default="error", clean=_level,
          choices=[[level, level] for level in LEVELS]),
    Field("job_timeout", "Job timeout (seconds)", "number",
          "How long the task may run on the node (10-1800); the job is stopped after it.",
          default=120, clean=_int_between(10, 1800, "Job timeout")),
    Field("coalesce_window", "Coalescing window (minutes)", "number",
          "New issues naming the same node within this window share one job: the first runs it, the others "
          "get the same report marked as shared (0-120, 0 = every issue runs its own job).",
          default=10, clean=_int_between(0, 120, "The coalescing window")),
    Field("share_max_age", "Shared report max age (minutes)", "number",
          "A coalesced issue whose event comes more than this many minutes after the shared report was "
          "collected runs its own job instead (within the same concurrency limits), so no note stands for an "
          "event its snapshot never saw (0-120, 0 = always share).",
          default=5, clean=_int_between(0, 120, "The shared report max age")),
    Field("max_running_jobs", "Concurrent jobs", "number",
          "At most this many diagnosis jobs of this project run at once; the rest wait in order (1-100).",
          default=5, clean=_int_between(1, 100, "Concurrent jobs")),
    Field("max_waiting", "Waiting queue limit", "number",
          "How many diagnoses may wait for a free slot; beyond it issues get a 'storm limit' note instead of a "
          "job (0-10000).", default=100, clean=_int_between(0, 10000, "The waiting queue limit")),
    Field("email_participants", "Email the issue's participants", "bool",
          "Also email the issue's participants when the diagnostic note is added.", default=False, clean=_bool),
    Field("routing_rules", "Routing rules", "textarea",
          "Optional ordered rules (YAML or JSON) choosing the task, log path, log lines, task parameters and node "
          "tag by what the error is; the first rule whose match holds wins, no match uses the settings above. "
          "Each rule: name, match (tag names, exception_type, environment, level → a value, a list, "
          "{glob: …} or {regex: …}, each matching the whole value), and task / log_path / log_lines / params / "
          "node_tag, or diagnose: false. "
          "Parameters are checked against the task's metadata in PE when saved.",
          default="", placeholder="- name: api\n  match: {service: api}\n  log_path: /var/log/api/app.log",
          clean=_routing_rules),
    Field("metrics_url", "Prometheus URL", "text",
          "Optional: the Prometheus that scrapes your nodes (node_exporter). The note then shows the node's metrics "
          "from 15 minutes before the event, queried while the task runs. Empty: no metrics.",
          default="", placeholder="https://prometheus.example.com:9090", clean=promsnapshot.check_url),
    Field("metrics_token", "Prometheus bearer token", "secret",
          "Optional bearer token for Prometheus (sent over https only). Stored server-side, never shown again.",
          clean=_token),
    Field("metrics_user", "Prometheus user", "text",
          "Optional basic-auth user for Prometheus (sent over https only).", default="", clean=_secret),
    Field("metrics_password", "Prometheus password", "secret",
          "Optional basic-auth password for Prometheus. Stored server-side, never shown again.", clean=_secret),
    Field("metrics_ca_cert", "Prometheus CA certificate", "textarea",
          "Optional PEM text of the CA that signed Prometheus' certificate; it is then the only CA trusted. "
          "Empty: the system's trusted CAs.", default="", placeholder="-----BEGIN CERTIFICATE-----",
          clean=_optional_ca),
    Field("metrics_node_label", "Prometheus node label", "text",
          "The label that names the node in your series (node_exporter's instance by default).",
          default="instance", clean=lambda value: promsnapshot.check_label(_text(value))),
    Field("metrics_node_value", "Prometheus node label value", "text",
          "That label's value for a node: {certname} (web01.example.com) or {short} (web01), with any fixed text "
          "around it, e.g. {certname}:9100.", default="{certname}", clean=lambda value: promsnapshot.check_node_template(_text(value))),
    Field("metrics_queries", "Prometheus queries", "textarea",
          "Optional named PromQL queries (YAML or JSON mapping: name → query, or {query, unit, min_change}); "
          "{label}=\"{node}\" selects the node. Empty: CPU busy, load, memory available, swap used, disk busy, "
          "filesystem free, network errors and TCP retransmits from node_exporter.",
          default="", placeholder="load1: node_load1{instance=\"{node}\"}", clean=_metrics_queries),
]
FIELDS += [
    Field("remediation_rules", "Remediation rules", "textarea",
          "Optional, off when empty: after a successful diagnosis, run ONE predefined fix on the diagnosed node "
          "when the report has a finding. Ordered rules (YAML or JSON); the first that holds runs. Each rule: name, "
          "finding (a code or list of codes from the diagnostics README), optional match (tag names, "
          "exception_type, environment, level, as in routing rules), task (default "
          "remediation::restart_service), params (fixed values; for restart_service: service and "
          "allowed_services), mode (dry-run by default: PE noop, nothing changes; live only when written), "
          "after_failed (default false). Event data never chooses the task or a parameter.",
          default="", placeholder="- name: restart-myapp\n  finding: unit-failed\n  params: {service: myapp, "
                                  "allowed_services: [myapp]}\n  mode: dry-run", clean=_remediation_rules),
    Field("remediation_token", "Remediation RBAC token", "secret",
          "The token remediation jobs run with: a PE user whose role may run only the remediation tasks "
          "(remediation::restart_service) and view jobs. Never the diagnostics token; without it no rule runs. "
          "Stored server-side, never shown again.", clean=_token),
    Field("remediation_max_per_node", "Remediation runs per node per hour", "number",
          "At most this many remediations (dry runs included) per node in any hour (0-20; 0 = none).",
          default=1, clean=_int_between(0, 20, "Remediation runs per node")),
    Field("remediation_max_per_project", "Remediation runs per project per hour", "number",
          "At most this many remediations (dry runs included) of this project in any hour (0-200; 0 = none).",
          default=5, clean=_int_between(0, 200, "Remediation runs per project")),
    Field("rule_tasks", "Tasks an alert rule may choose", "text",
          "Gateway only: the tasks the alert rule editor's per-rule form may name (comma-separated); "
          "a rule naming another task gets a note and no job. The form can only narrow: its PQL scope "
          "is combined with the PQL scope constraint above, never a replacement.",
          default="diagnostics::collect", clean=_tasks),
    # issue 22: ask again (comment_command.py, history.py)
    Field("comment_max_per_issue", "Requested diagnoses per issue per hour", "number",
          "At most this many /autodiag comment requests per issue in any hour (0-20; 0 = the command is off).",
          default=3, clean=_int_between(0, 20, "Requested diagnoses per issue")),
    Field("comment_max_per_project", "Requested diagnoses per project per hour", "number",
          "At most this many /autodiag comment requests per project in any hour (0-500; 0 = the command is off).",
          default=20, clean=_int_between(0, 500, "Requested diagnoses per project")),
    Field("rediagnose_after", "Diagnose again after (minutes)", "number",
          "When an alert rule fires again for an issue (a regression, a repeated alert) whose last diagnosis is "
          "older than this, it gets a new one (1-10080).",
          default=60, clean=_int_between(1, 10080, "Diagnose again after")),
]
FIELDS += [
    Field("runner", "Task runner", "choice",
          "How the task reaches the node: pe = the Puppet Enterprise orchestrator API (URL, token and CA above); "
          "bolt = Puppet Bolt or OpenBolt on the worker host, over SSH with the inventory and keys of the Bolt "
          "project below (open-source Puppet, OpenVox).", default="pe", clean=_runner,
          choices=[["pe", "pe: Puppet Enterprise orchestrator"], ["bolt", "bolt: Puppet Bolt / OpenBolt"]]),
    Field("bolt_binary", "Bolt binary", "text",
          "Bolt runner: absolute path of the bolt command on the worker host.",
          default=DEFAULT_BOLT_BINARY, clean=_abs_path("The Bolt binary", DEFAULT_BOLT_BINARY)),
    Field("bolt_project", "Bolt project directory", "text",
          "Bolt runner: the Bolt project (bolt-project.yaml, inventory.yaml, modules/diagnostics) on the worker "
          "host. Inventory, transport and credentials stay there, never in these settings.",
          default="", placeholder="/etc/sentry-autodiag/bolt", clean=_abs_path("The Bolt project directory")),
    Field("bolt_state_dir", "Bolt state directory", "text",
          "Bolt runner: where running Bolt jobs write their output; every worker must see it. Empty: "
          "~/.cache/sentry-autodiag/bolt of the workers' user.", default="",
          clean=_abs_path("The Bolt state directory")),
    Field("bolt_test_node", "Bolt test node", "text",
          "Bolt runner: a target Test Plugin / sentry-autodiag check connects to (bolt command run true). "
          "Empty: the connection is not tested.", default="", clean=_bolt_target),
]
FIELDS_BY_NAME = {f.name: f for f in FIELDS}


class Settings(NamedTuple):
    """Clean, defaulted settings as the worker uses them."""
    url: str
    token: str
    ca_cert: str
    environment: str
    task: str
    log_path: str
    log_lines: int
    node_tag: str
    certname_suffix: str
    node_pattern: str
    pql_scope: str
    puppetdb_url: str
    sentry_environments: List[str]
    min_level: str
    job_timeout: int
    coalesce_window: int
    max_running_jobs: int
    max_waiting: int
    email_participants: bool
    routing_rules: Tuple[routing.Rule, ...] = ()
    metrics_url: str = ""
    metrics_token: str = ""
    metrics_user: str = ""
    metrics_password: str = ""
    metrics_ca_cert: str = ""
    metrics_node_label: str = "instance"
    metrics_node_value: str = "{certname}"
    metrics_queries: Tuple[promsnapshot.Query, ...] = promsnapshot.DEFAULT_QUERIES
    remediation_rules: Tuple[remediation.Rule, ...] = ()
    remediation_token: str = ""
    remediation_max_per_node: int = 1
    remediation_max_per_project: int = 5
    rule_tasks: Tuple[str, ...] = ("diagnostics::collect",)
    share_max_age: int = 5
    runner: str = "pe"
    bolt_binary: str = DEFAULT_BOLT_BINARY
    bolt_project: str = ""
    bolt_state_dir: str = ""
    bolt_test_node: str = ""
    comment_max_per_issue: int = 3
    comment_max_per_project: int = 20
    rediagnose_after: int = 60

    @property
    def configured(self) -> bool:
        if self.runner == "bolt":
            return bool(self.bolt_project)
        return bool(self.url and self.token and self.ca_cert)

    def environment_allowed(self, name: Optional[str]) -> bool:
        return "*" in self.sentry_environments or (name or "") in self.sentry_environments

    def level_allowed(self, level: Optional[str]) -> bool:
        rank = LEVELS.index(level) if level in LEVELS else LEVELS.index("error")
        return rank >= LEVELS.index(self.min_level)


def clean_field(name: str, value: Any) -> Any:
    """Validates one submitted value; raises ValueError (or ConfigurationError) with the message."""
    field = FIELDS_BY_NAME[name]
    try:
        return field.clean(value)
    except orchestrator.ConfigurationError as exc:
        raise ValueError(exc.message)


def load(get_option: Callable[[str], Any]) -> Settings:
    """Settings from stored options; a stored value that no longer validates falls back to the default."""
    values: Dict[str, Any] = {}
    for field in FIELDS:
        raw = get_option(field.name)
        if raw in (None, "") or field.name in ("url", "token", "ca_cert"):
            values[field.name] = raw or ("" if field.default is None else field.default)
            continue
        try:
            values[field.name] = field.clean(raw)
        except (ValueError, orchestrator.ConfigurationError):
            values[field.name] = field.default
    values["sentry_environments"] = [e.strip() for e in str(values["sentry_environments"]).split(",") if e.strip()]
    for name in ("log_lines", "job_timeout", "coalesce_window", "share_max_age", "max_running_jobs", "max_waiting",
                 "remediation_max_per_node", "remediation_max_per_project"):
        values[name] = int(values[name] if values[name] is not None else FIELDS_BY_NAME[name].default)
    values["email_participants"] = bool(values["email_participants"])
    values["rule_tasks"] = tuple(t.strip() for t in str(values["rule_tasks"]).split(",") if t.strip())
    for name, parse in (("routing_rules", routing.parse_rules), ("metrics_queries", promsnapshot.parse_queries),
                        ("remediation_rules", remediation.parse_rules)):
        try:
            values[name] = parse(values[name] or None)
        except ValueError:
            values[name] = parse(None)
    return Settings(**values)


def check_together(values: Dict[str, Any]) -> None:
    """The checks that need several fields (run when the form is saved, after each field's own):
    Prometheus credentials need https; PuppetDB must accept the PQL scope constraint; every
    task a routing rule uses must exist in PE and declare the parameters the rule sets, with
    fitting types. Raises ValueError."""
    if str(values.get("metrics_url") or "").startswith("http://") and any(
            values.get(k) for k in ("metrics_token", "metrics_user", "metrics_password")):
        raise ValueError("Prometheus URL: credentials are only sent over https; use an https URL or remove them.")
    _check_runner(values)
    _check_pql_scope(values)
    _check_remediation(values)
    rules = values.get("routing_rules") or None
    rules = rules if isinstance(rules, tuple) else routing.parse_rules(rules)  # Settings hold them parsed
    if not rules or not all(values.get(k) for k in ("url", "token", "ca_cert")):
        return
    _verify_with_pe(values, "token", "Routing rules", routing.RuleError, lambda task_info: routing.verify_tasks(
        rules, values.get("task") or "diagnostics::collect", task_info, _type_matches))


def _check_pql_scope(values: Dict[str, Any]) -> None:
    """The PQL scope constraint goes to PE's PuppetDB (the PuppetDB URL, with the token) as PE's
    orchestrator will send it: only PuppetDB knows its query language, so its refusal, in its
    own words, is the form's error. Without PE's URL, token and CA only the offline check ran."""
    constraint = values.get("pql_scope")
    if not constraint or not all(values.get(k) for k in ("url", "token", "ca_cert")):
        return
    try:
        client = orchestrator.OrchestratorClient(values["url"], values["token"], values["ca_cert"], connect_timeout=5,
                                                 read_timeout=10, puppetdb_url=values.get("puppetdb_url") or None)
    except orchestrator.OrchestratorError as exc:
        raise ValueError("PQL scope constraint cannot be checked: %s" % exc.message)
    with client:
        for query in targeting.pql_check_queries(constraint):
            try:
                refusal = client.puppetdb_refusal(query)
            except orchestrator.OrchestratorError as exc:
                raise ValueError("PQL scope constraint cannot be checked with PuppetDB: %s Set the PuppetDB URL or "
                                 "the token's role, or clear the constraint." % exc.message)
            if refusal:
                raise ValueError("PQL scope constraint: PuppetDB refuses it: %s" % refusal[:800])


def _check_runner(values: Dict[str, Any]) -> None:
    """The Bolt runner needs its project; the PE-only features (PQL scope, remediation) need PE."""
    if str(values.get("runner") or "pe") != "bolt":
        return
    if not values.get("bolt_project"):
        raise ValueError("Bolt project directory: the Bolt runner needs the Bolt project on the worker host.")
    if values.get("pql_scope"):
        raise ValueError("PQL scope constraint: only the PE runner can use it (Bolt targets nodes by its "
                         "inventory); clear it for the Bolt runner.")
    if values.get("remediation_rules"):
        raise ValueError("Remediation rules: they run through the PE orchestrator only; clear them for the "
                         "Bolt runner.")


def _check_remediation(values: Dict[str, Any]) -> None:
    """Remediation rules are checked against PE with the remediation token (the role that will
    run them): each task exists, takes the rule's parameters, and supports noop for dry runs."""
    rules = values.get("remediation_rules") or None
    rules = rules if isinstance(rules, tuple) else remediation.parse_rules(rules)
    if not rules or not all(values.get(k) for k in ("url", "remediation_token", "ca_cert")):
        return
    _verify_with_pe(values, "remediation_token", "Remediation rules", remediation.RuleError,
                    lambda task_info: remediation.verify_tasks(rules, task_info, _type_matches))


def _verify_with_pe(values: Dict[str, Any], token_field: str, what: str, rule_error, verify) -> None:
    """Runs `verify(task_info)` against PE's task metadata with the token of `token_field` (the
    role that will run the rules' tasks); every problem becomes a ValueError naming `what`."""
    environment = values.get("environment") or "production"
    try:
        client = orchestrator.OrchestratorClient(values["url"], values[token_field], values["ca_cert"],
                                                 connect_timeout=5, read_timeout=10)
    except orchestrator.OrchestratorError as exc:
        raise ValueError("%s cannot be checked: %s" % (what, exc.message))

    def task_info(task: str) -> Dict[str, Any]:
        try:
            return client.task_info(task, environment)
        except orchestrator.OrchestratorError as exc:
            raise ValueError(exc.message)

    with client:
        try:
            verify(task_info)
        except rule_error as exc:
            raise ValueError("%s: %s" % (what, exc))


def _type_matches(puppet_type: str, value: Any) -> bool:
    """A type this checker cannot read is not refused: PE itself judges it when the task runs."""
    from .puppet_types import PuppetTypeError, matches, parse_type

    try:
        return matches(parse_type(puppet_type), value)
    except PuppetTypeError:
        return True
