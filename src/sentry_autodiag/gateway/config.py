"""The gateway's one YAML file: Sentry, Redis, the receiver, and per-project settings.

Per-project settings are the plugin form's fields (settings.FIELDS: one definition of
names, defaults and validation for both front ends), keyed by Sentry project slug with
`*` as the defaults every project inherits. Secrets are never written in the file: a
secret field is given as `<field>_file` (a path) or `<field>_env` (a variable name), and
any other field may be given that way too (e.g. `ca_cert_file`). Errors name the key.
"""
import os
import re
from typing import Any, Dict, List, NamedTuple, Optional
from urllib.parse import urlsplit

import yaml

from .. import settings as settings_mod

MAX_CONFIG_BYTES = 1024 * 1024
SLUG = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,99}\Z")
SECRET_FIELDS = {f.name for f in settings_mod.FIELDS if f.type == "secret"}

GATEWAY_DEFAULTS = {
    "listen": "127.0.0.1:8480",
    "redis_url": "redis://127.0.0.1:6379/0",
    "max_body_bytes": 1024 * 1024,        # Sentry's alert webhooks are a few kB to a few 100 kB
    "max_event_age_minutes": 24 * 60,     # older events are refused (replays of old bodies)
    "publish_timeout": 0.5,               # seconds to queue a webhook before answering 503
    "visibility_timeout": 3600,           # seconds before a dead worker's step is redelivered
    "body_timeout": 5,                    # seconds a client may take to send its body
    "log_format": "json",
}


class ConfigError(ValueError):
    """The configuration file is unusable; the message names the file and key."""


class SentryConfig(NamedTuple):
    url: str                       # https://sentry.example.com (self-hosted) or https://sentry.io
    organization: str
    token: str                     # the integration's token (scopes event:read, event:write)
    client_secrets: List[str]      # the integration's Client Secret(s); more than one while rotating
    ca_file: Optional[str]         # CA bundle for a self-hosted Sentry with a private CA


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
        data = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError("%s: not valid YAML: %s" % (path, exc))
    return parse(data, path, environ, base_dir=os.path.dirname(os.path.abspath(path)))


def parse(data: Any, path: str = "<config>", environ: Optional[Dict[str, str]] = None,
          base_dir: str = ".") -> GatewayConfig:
    reader = _Reader(path, os.environ if environ is None else environ, base_dir)
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
    """Collects every error instead of stopping at the first."""

    def __init__(self, path: str, environ: Dict[str, str], base_dir: str):
        self.path = path
        self.environ = environ
        self.base_dir = base_dir
        self.errors: List[str] = []

    def error(self, key: str, message: str) -> None:
        self.errors.append("%s: %s" % (key, message))

    def unknown(self, mapping: Dict[str, Any], known, where: str) -> None:
        for key in mapping:
            if key not in known:
                self.error(where + str(key), "unknown key (known: %s)" % ", ".join(sorted(known)))

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
        self.unknown(data, {"url", "organization", "token_file", "token_env", "client_secret_file",
                            "client_secret_env", "client_secret_files", "ca_file"}, "sentry.")
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
        return SentryConfig((url or "").rstrip("/"), organization or "", token or "", secrets, ca_file)

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
                                ("visibility_timeout", 5, 7 * 24 * 3600)):
            value = values[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                self.error("gateway." + name, "a whole number from %d to %d" % (low, high))
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
                              numbers["visibility_timeout"], numbers["body_timeout"], values["log_format"])

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
            merged = dict(defaults, **values) if slug != "*" else dict(values)
            out[slug] = self.project_settings(merged, where, require=slug != "*" or len(data) == 1)
        return out

    def project_settings(self, values: Dict[str, Any], where: str, require: bool = True) -> settings_mod.Settings:
        """One project's settings; `*` alone need not be complete when projects complete it."""
        known = set()
        for field in settings_mod.FIELDS:
            known.update({field.name, field.name + "_file", field.name + "_env"})
        self.unknown(values, known, where)
        cleaned: Dict[str, Any] = {}
        for field in settings_mod.FIELDS:
            value = self.indirect(values, field.name, where, secret=field.name in SECRET_FIELDS)
            if value is None:
                if settings_mod.is_required(field, values) and require:
                    self.error(where + field.name, "required (%s)" % field.label)
                continue
            try:
                cleaned[field.name] = settings_mod.clean_field(field.name, value)
            except ValueError as exc:
                self.error(where + field.name, str(exc))
        return settings_mod.load(cleaned.get)
