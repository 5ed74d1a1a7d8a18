"""The gateway's one YAML file: Sentry, Redis, the receiver, and per-project settings.

Per-project settings are the plugin form's fields (settings.FIELDS: one definition of
names, defaults and validation for both front ends), keyed by Sentry project slug with
`*` as the defaults every project inherits. Secrets are never written in the file: a
secret field is given as `<field>_file` (a path) or `<field>_env` (a variable name), and
any other field may be given that way too (e.g. `ca_cert_file`). Errors name the key, its
line in the file (PyYAML's node marks) and, for a key that is not known, the closest known
ones. The orchestrator's URL is `orchestrator_url` (`url`, its old name, still works).
"""
import os
import re
from typing import Any, Dict, List, NamedTuple, Optional
from urllib.parse import urlsplit

import yaml

from .. import settings as settings_mod
from .. import suggest
from . import timing

MAX_CONFIG_BYTES = 1024 * 1024
SLUG = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,99}\Z")
SECRET_FIELDS = {f.name for f in settings_mod.FIELDS if f.type == "secret"}
SENTRY_KEYS = {"url", "organization", "token_file", "token_env", "client_secret_file", "client_secret_env",
               "client_secret_files", "ca_file", "integration"}
# The project field `url` is the orchestrator's URL; beside `sentry.url` it invited mix-ups,
# so the file may call it `orchestrator_url` (the README's name) and `url` stays its old name.
URL_ALIAS = "orchestrator_url"

GATEWAY_DEFAULTS = {
    "listen": "127.0.0.1:8480",
    "redis_url": "redis://127.0.0.1:6379/0",
    "max_body_bytes": 1024 * 1024,        # Sentry's alert webhooks are a few kB to a few 100 kB
    "max_event_age_minutes": 24 * 60,     # older events are refused (replays of old bodies)
    "publish_timeout": 0.5,               # seconds to queue a webhook before answering 503
    "visibility_timeout": timing.DEFAULT_VISIBILITY_TIMEOUT,  # seconds before a dead worker's step runs again
    "body_timeout": 5,                    # seconds a client may take to send its body
    "log_format": "json",
    "catchup_interval": 60,               # seconds between catch-up sweeps of a worker (0: no sweeps)
    "catchup_window_minutes": 30,         # how far back a sweep looks in the alert rules' history
    "catchup_max_pages": 10,              # Sentry API pages one sweep reads at most
}


class ConfigError(ValueError):
    """The configuration file is unusable; the message names the file and key."""


class SentryConfig(NamedTuple):
    url: str                       # https://sentry.example.com (self-hosted) or https://sentry.io
    organization: str
    token: str                     # the integration's token (scopes event:read, event:write)
    client_secrets: List[str]      # the integration's Client Secret(s); more than one while rotating
    ca_file: Optional[str]         # CA bundle for a self-hosted Sentry with a private CA
    integration: Optional[str] = None  # the integration's slug: how catch-up finds its alert rules


class GatewayOptions(NamedTuple):
    listen_host: str
    listen_port: int
    redis_url: str
    max_body_bytes: int
    max_event_age_minutes: int
    publish_timeout: float
    visibility_timeout: int
    body_timeout: float
    log_format: str
    catchup_interval: int = 60
    catchup_window_minutes: int = 30
    catchup_max_pages: int = 10


class GatewayConfig(NamedTuple):
    path: str
    sentry: SentryConfig
    gateway: GatewayOptions
    projects: Dict[str, settings_mod.Settings]   # slug (or "*") → settings

    def settings_for(self, project_slug: str) -> Optional[settings_mod.Settings]:
        """The project's settings, the `*` defaults, or None: not a project of this gateway."""
        return self.projects.get(project_slug) or self.projects.get("*")

    def __repr__(self):  # never print secrets
        return "GatewayConfig(%r, organization=%r, projects=%r)" % (
            self.path, self.sentry.organization, sorted(self.projects))


def load(path: str, environ: Optional[Dict[str, str]] = None) -> GatewayConfig:
    """Reads and validates the file; raises ConfigError listing every problem found."""
    environ = os.environ if environ is None else environ
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError("%s: cannot read the configuration file: %s" % (path, exc.strerror or exc))
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError("%s: larger than %d bytes" % (path, MAX_CONFIG_BYTES))
    try:
        text = raw.decode("utf-8")
        data = yaml.safe_load(text)
        lines, duplicates = key_lines(yaml.compose(text, Loader=yaml.SafeLoader))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError("%s: not valid YAML: %s" % (path, exc))
    return parse(data, path, environ, base_dir=os.path.dirname(os.path.abspath(path)), lines=lines,
                 duplicates=duplicates)


def key_lines(node: Any, prefix: str = ""):
    """({dotted key: line}, [(dotted key, first line, second line)]) of a composed YAML document:
    where each key (or list item) is written, and the keys written twice in one mapping,
    of which YAML silently keeps the last."""
    lines: Dict[str, int] = {}
    duplicates: List[tuple] = []

    def walk(node, prefix):
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                name = prefix + str(key_node.value)
                line = key_node.start_mark.line + 1
                if name in lines:
                    duplicates.append((name, lines[name], line))
                lines[name] = line
                walk(value_node, name + ".")
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                name = "%s[%d]" % (prefix[:-1], i)
                lines[name] = item.start_mark.line + 1
                walk(item, name + ".")

    if node is not None:
        walk(node, prefix)
    return lines, duplicates


def parse(data: Any, path: str = "<config>", environ: Optional[Dict[str, str]] = None,
          base_dir: str = ".", lines: Optional[Dict[str, int]] = None,
          duplicates: Optional[List[tuple]] = None) -> GatewayConfig:
    reader = _Reader(path, os.environ if environ is None else environ, base_dir, lines or {})
    for key, first, second in duplicates or ():
        reader.error(key, "given twice (lines %d and %d): YAML keeps only the last; remove one" % (first, second))
    if not isinstance(data, dict):
        raise ConfigError("%s: the top level must be a mapping with sentry, gateway and projects" % path)
    reader.unknown(data, {"sentry", "gateway", "projects"}, "")
    sentry = reader.sentry(data.get("sentry"))
    gateway = reader.gateway(data.get("gateway") or {})
    projects = reader.projects(data.get("projects"))
    if reader.errors:
        raise ConfigError("%s:\n  %s" % (path, "\n  ".join(reader.errors)))
    return GatewayConfig(path, sentry, gateway, projects)


class _Reader:
    """Collects every error instead of stopping at the first; each names its key and line."""

    def __init__(self, path: str, environ: Dict[str, str], base_dir: str, lines: Dict[str, int]):
        self.path = path
        self.environ = environ
        self.base_dir = base_dir
        self.lines = lines
        self.errors: List[str] = []
        self.renamed: Dict[str, str] = {}   # projects.x.url → projects.x.orchestrator_url, as written

    def error(self, key: str, message: str) -> None:
        key = self.renamed.get(key, key)
        where = self.where(key)
        self.errors.append("%s: %s%s" % (key, message, " (%s)" % where if where else ""))

    def where(self, key: str) -> str:
        """`gateway.yaml:12` for the key, else for the nearest enclosing key that is in the file
        (a required key that is missing); a project's value inherited from `*` is found there."""
        name = os.path.basename(self.path)
        candidates = [key]
        parts = key.split(".")
        if len(parts) > 2 and parts[0] == "projects" and parts[1] != "*":
            star = ".".join(["projects", "*"] + parts[2:])
            candidates.append(self.renamed.get(star, star))
        for candidate in candidates:
            if candidate in self.lines:
                inherited = " in projects.*" if candidate != key else ""
                return "%s:%d%s" % (name, self.lines[candidate], inherited)
        while "." in key:
            key = key.rsplit(".", 1)[0]
            if key in self.lines:
                return "%s:%d" % (name, self.lines[key])
        return ""

    def unknown(self, mapping: Dict[str, Any], known, where: str) -> None:
        sections = {"sentry": SENTRY_KEYS, "gateway": set(GATEWAY_DEFAULTS),
                    "projects.<slug>" if not where.startswith("projects.") else where[:-1]: PROJECT_KEYS}
        for key in mapping:
            if key in known:
                continue
            home = [name + ":" for name, keys in sections.items() if key in keys and name + "." != where]
            if home:
                message = "unknown key here; `%s` belongs under %s" % (key, " or ".join(home))
            else:
                message = suggest.unknown_key(str(key), known)
            self.error(where + str(key), message)

    def indirect(self, mapping: Dict[str, Any], name: str, where: str, secret: bool = False) -> Any:
        """`name`, `name_file` or `name_env`: the value, read from the file or variable."""
        given = [k for k in (name, name + "_file", name + "_env") if mapping.get(k) not in (None, "")]
        if len(given) > 1:
            self.error(where + name, "give only one of %s" % ", ".join(given))
            return None
        if not given:
            return None
        key = given[0]
        value = mapping[key]
        if key == name:
            if secret:
                self.error(where + name, "secrets are not written in the file: use %s_file (a path) or %s_env "
                                         "(an environment variable)" % (name, name))
                return None
            return value
        if not isinstance(value, str):
            self.error(where + key, "must be a string")
            return None
        if key.endswith("_env"):
            if value not in self.environ:
                self.error(where + key, "the environment variable %s is not set" % value)
                return None
            return self.environ[value].strip()
        file_path = value if os.path.isabs(value) else os.path.join(self.base_dir, value)
        try:
            with open(file_path, encoding="utf-8") as fh:
                return fh.read(1024 * 1024).strip()
        except (OSError, UnicodeDecodeError) as exc:
            self.error(where + key, "cannot read %s: %s" % (file_path, getattr(exc, "strerror", None) or exc))
            return None

    def sentry(self, data: Any) -> SentryConfig:
        if not isinstance(data, dict):
            self.error("sentry", "required: url, organization, token_file, client_secret_file")
            data = {}
        self.unknown(data, SENTRY_KEYS, "sentry.")
        url = data.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            self.error("sentry.url", "the URL of Sentry, e.g. https://sentry.example.com or https://sentry.io")
            url = ""
        organization = data.get("organization")
        if not isinstance(organization, str) or not SLUG.match(organization):
            self.error("sentry.organization", "the organization slug, as in /organizations/<slug>/")
            organization = ""
        token = self.indirect(data, "token", "sentry.", secret=True)
        if not token and "sentry.token" not in " ".join(self.errors):
            self.error("sentry.token_file", "the integration's token (Developer Settings → your integration → "
                                            "Tokens) in a file, or token_env")
        secrets = []
        single = self.indirect(data, "client_secret", "sentry.", secret=True)
        if single:
            secrets.append(single)
        files = data.get("client_secret_files") or []
        if not isinstance(files, list):
            self.error("sentry.client_secret_files", "a list of paths")
            files = []
        for i, entry in enumerate(files):
            value = self.indirect({"client_secret_file": entry}, "client_secret", "sentry.client_secret_files[%d]." % i,
                                  secret=True)
            if value:
                secrets.append(value)
        if not secrets:
            self.error("sentry.client_secret_file", "the integration's Client Secret (it signs the webhooks) in a "
                                                    "file, or client_secret_env; client_secret_files for rotation")
        ca_file = data.get("ca_file")
        if ca_file is not None and (not isinstance(ca_file, str) or not os.path.isfile(ca_file)):
            self.error("sentry.ca_file", "not a readable file")
            ca_file = None
        integration = data.get("integration")
        if integration is not None and (not isinstance(integration, str) or not SLUG.match(integration)):
            self.error("sentry.integration", "the integration's slug, as in Developer Settings → <integration>")
            integration = None
        return SentryConfig((url or "").rstrip("/"), organization or "", token or "", secrets, ca_file, integration)

    def gateway(self, data: Any) -> GatewayOptions:
        if not isinstance(data, dict):
            self.error("gateway", "must be a mapping")
            data = {}
        self.unknown(data, set(GATEWAY_DEFAULTS), "gateway.")
        values = dict(GATEWAY_DEFAULTS, **{k: v for k, v in data.items() if v is not None})
        host, _, port = str(values["listen"]).rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            self.error("gateway.listen", "host:port, e.g. 127.0.0.1:8480")
            host, port = "127.0.0.1", "8480"
        if urlsplit(str(values["redis_url"])).scheme not in ("redis", "rediss", "unix"):
            self.error("gateway.redis_url", "a redis:// or rediss:// URL")
        numbers = {}
        for name, low, high in (("max_body_bytes", 1024, 64 * 1024 * 1024), ("max_event_age_minutes", 1, 7 * 24 * 60),
                                ("visibility_timeout", timing.MIN_VISIBILITY_TIMEOUT, 7 * 24 * 3600),
                                ("catchup_interval", 0, 24 * 3600), ("catchup_window_minutes", 1, 24 * 60),
                                ("catchup_max_pages", 1, 1000)):
            value = values[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                why = ("; shorter than a step can take (%d s running + %d s waiting in a worker), so a live "
                       "worker's steps would run twice" % (timing.STEP_TIME_LIMIT, timing.MAX_COUNTDOWN)
                       if name == "visibility_timeout" and isinstance(value, int) and value < low else "")
                self.error("gateway." + name, "a whole number from %d to %d%s" % (low, high, why))
                value = GATEWAY_DEFAULTS[name]
            numbers[name] = value
        for name, low, high in (("publish_timeout", 0.05, 5.0), ("body_timeout", 0.5, 120.0)):
            value = values[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                self.error("gateway." + name, "seconds, from %s to %s" % (low, high))
                value = GATEWAY_DEFAULTS[name]
            numbers[name] = float(value)
        if values["log_format"] not in ("json", "text"):
            self.error("gateway.log_format", "json or text")
        return GatewayOptions(host.strip("[]"), int(port), str(values["redis_url"]), numbers["max_body_bytes"],
                              numbers["max_event_age_minutes"], numbers["publish_timeout"],
                              numbers["visibility_timeout"], numbers["body_timeout"], values["log_format"],
                              numbers["catchup_interval"], numbers["catchup_window_minutes"],
                              numbers["catchup_max_pages"])

    def projects(self, data: Any) -> Dict[str, settings_mod.Settings]:
        if not isinstance(data, dict) or not data:
            self.error("projects", "a mapping of Sentry project slugs (or * for all) to their settings")
            return {}
        defaults = data.get("*") or {}
        if not isinstance(defaults, dict):
            self.error("projects.*", "must be a mapping")
            defaults = {}
        out = {}
        for slug, values in data.items():
            where = "projects.%s." % slug
            if slug != "*" and (not isinstance(slug, str) or not SLUG.match(slug)):
                self.error("projects.%s" % slug, "not a Sentry project slug")
                continue
            if values is None:
                values = {}
            if not isinstance(values, dict):
                self.error("projects.%s" % slug, "must be a mapping")
                continue
            values = self.url_alias(values, where)
            merged = dict(self.url_alias(defaults, "projects.*."), **values) if slug != "*" else dict(values)
            out[slug] = self.project_settings(merged, where, require=slug != "*" or len(data) == 1)
        return out

    def url_alias(self, values: Dict[str, Any], where: str) -> Dict[str, Any]:
        """`orchestrator_url[_file|_env]` becomes the field `url`; both names at once is an error."""
        new = [k for k in values if str(k).startswith(URL_ALIAS)]
        if not new:
            return values
        old = [k for k in values if k in ("url", "url_file", "url_env")]
        if old:
            self.error(where + new[0], "the orchestrator's URL is given twice: as `%s` and as `%s` (its old "
                                       "name); keep `%s` only" % (new[0], old[0], new[0]))
            return {k: v for k, v in values.items() if k not in new}
        for key in new:
            self.renamed[where + "url" + key[len(URL_ALIAS):]] = where + key
        return {("url" + k[len(URL_ALIAS):] if k in new else k): v for k, v in values.items()}

    def project_settings(self, values: Dict[str, Any], where: str, require: bool = True) -> settings_mod.Settings:
        """One project's settings; `*` alone need not be complete when projects complete it."""
        self.unknown(values, PROJECT_KEYS, where)
        cleaned: Dict[str, Any] = {}
        for field in settings_mod.FIELDS:
            value = self.indirect(values, field.name, where, secret=field.name in SECRET_FIELDS)
            if value is None:
                if settings_mod.is_required(field, values) and require:
                    name = URL_ALIAS if field.name == "url" else field.name
                    self.error(where + name, "required (%s)" % field.label)
                continue
            try:
                cleaned[field.name] = settings_mod.clean_field(field.name, value)
            except ValueError as exc:
                self.error(where + field.name, str(exc))
        return settings_mod.load(cleaned.get)


PROJECT_KEYS = {URL_ALIAS, URL_ALIAS + "_file", URL_ALIAS + "_env"}
for _field in settings_mod.FIELDS:
    PROJECT_KEYS.update({_field.name, _field.name + "_file", _field.name + "_env"})
