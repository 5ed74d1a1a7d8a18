"""The `event_alert` / `triggered` webhook body → what the gateway needs (plain Python).

The body is signed by Sentry, but its event part is whatever an SDK sent: every value
is type-checked and bounded here, and only ids, the project slug and the event facts
leave this module. Shape (Sentry's AppPlatformEvent, unchanged from 23.7.1 to 26.x):
`{"action": "triggered", "installation": {"uuid"}, "data": {"event": {...}, "triggered_rule":
"...", "issue_alert": {...}?}}`, with `data.event.issue_id` a string and tags as
`[key, value]` pairs (`{"key", "value"}` objects and a mapping are read too).

`parse_alert` raises only WebhookError, whatever JSON value it is given (see
tests/gateway/test_hostile_webhooks.py).
"""
import re
from typing import Any, Dict, NamedTuple, Optional
from urllib.parse import urlsplit

from ..intake import EventFacts, exception_type, iso_utc, node_value, tags_from_pairs

ISSUE_ID = re.compile(r"\A[1-9][0-9]{0,19}\Z")
EVENT_ID = re.compile(r"\A[0-9a-f]{32}\Z")
SLUG = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,99}\Z")
EVENT_API_PATH = re.compile(r"/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/events/[^/]+/?\Z")
MAX_TEXT = 256
MAX_ISSUE_ID = 10 ** 20
MAX_URL = 2048
SURROGATES = re.compile("[\ud800-\udfff]")
# line breaks, other control characters and bidi overrides: the title (an exception message)
# goes into the PE job's description and Redis, one line, read as it is
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")


class WebhookError(ValueError):
    """The body cannot be used; the message says which key and why (answered as 400)."""


class Alert(NamedTuple):
    issue_id: str
    event_id: str
    organization: str
    project: str                 # the project slug (the key of the gateway's per-project settings)
    environment: Optional[str]
    level: Optional[str]
    server_name: Any             # raw, untrusted
    tags: Dict[str, Any]         # raw, untrusted
    timestamp: Optional[str]     # ISO-8601 UTC
    title: str
    rule: str                    # the alert rule that fired (its label)
    rule_settings: Optional[Any]  # data.issue_alert.settings, when the rule has the integration's form
    exception_type: Optional[str] = None

    def facts(self, node_tag: str) -> EventFacts:
        """What intake.decide and the routing rules need, with the node read from the
        project's node tag."""
        return EventFacts(self.event_id, self.environment, self.level,
                          node_value(self.server_name, self.tags, node_tag), self.timestamp,
                          tags=self.tags, exception_type=self.exception_type, server_name=self.server_name)


def _text(value: Any, limit: int = MAX_TEXT) -> Optional[str]:
    """A bounded string, or None. JSON can carry lone surrogates (\\ud800), which no UTF-8
    encoder takes (Redis, logs, the queue): they become U+FFFD."""
    return SURROGATES.sub("\ufffd", value[:limit]) if isinstance(value, str) else None


def _line(value: Any, limit: int = MAX_TEXT) -> Optional[str]:
    """`_text`, on one line without control characters (each run becomes one space)."""
    text = _text(value, limit)
    return CONTROL.sub(" ", text) if text is not None else None


def _event_path(url: Any) -> Optional["re.Match"]:
    if not isinstance(url, str) or len(url) >= MAX_URL:
        return None
    try:
        path = urlsplit(url).path
    except ValueError:  # e.g. "https://[/..." (an unclosed IPv6 literal), NFKC tricks in the host
        return None
    return EVENT_API_PATH.search(path)


def parse_alert(payload: Any) -> Alert:
    """Validates an event_alert body; raises WebhookError naming what is wrong."""
    if not isinstance(payload, dict):
        raise WebhookError("the body is not a JSON object (it is %s)" % _kind(payload))
    action = payload.get("action")
    if action != "triggered":
        raise WebhookError("action is %s, expected 'triggered'" % (
            repr(_text(action, 40)) if isinstance(action, str) else _kind(action)))
    data = payload.get("data")
    if not isinstance(data, dict):
        raise WebhookError("data is missing or not an object (it is %s)" % _kind(data))
    if not isinstance(data.get("event"), dict):
        raise WebhookError("data.event is missing or not an object (it is %s)" % _kind(data.get("event")))
    event: Dict[str, Any] = data["event"]

    issue_id = event.get("issue_id")
    if isinstance(issue_id, int) and not isinstance(issue_id, bool):
        # bounded before str(): Python 3.11 refuses to print integers of more than 4300 digits
        issue_id = str(issue_id) if 0 < issue_id < MAX_ISSUE_ID else None
    if not isinstance(issue_id, str) or not ISSUE_ID.match(issue_id):
        raise WebhookError("data.event.issue_id is missing or not a numeric id")
    event_id = event.get("event_id")
    event_id = event_id.replace("-", "").lower() if isinstance(event_id, str) else None
    if not event_id or not EVENT_ID.match(event_id):
        raise WebhookError("data.event.event_id is missing or not a 32-digit hex id")

    match = _event_path(event.get("url"))
    if not match or not SLUG.match(match.group("project")) or not SLUG.match(match.group("org")):
        raise WebhookError("data.event.url does not name the organization and project "
                           "(/api/0/projects/<org>/<project>/events/<id>/)")

    tags = tags_from_pairs(event.get("tags"))
    server_name = event.get("server_name")
    environment = event.get("environment", tags.get("environment"))
    level = event.get("level", tags.get("level"))
    if server_name in (None, ""):
        server_name = tags.get("server_name")
    rule_settings = None
    issue_alert = data.get("issue_alert")
    if isinstance(issue_alert, dict):
        rule_settings = issue_alert.get("settings")
    return Alert(issue_id, event_id, match.group("org"), match.group("project"), _text(environment, 64),
                 _text(level, 16), server_name, tags, _event_time(event),
                 _line(event.get("title")) or "", _line(data.get("triggered_rule")) or "", rule_settings,
                 _text(exception_type(event.get("exception"))))


def _event_time(event: Dict[str, Any]) -> str:
    """`datetime` (what Sentry sends), else `timestamp`, as iso_utc's form. A time that cannot
    be read, or none at all, is a WebhookError: the event's age must be checked (replays)."""
    key = "datetime" if event.get("datetime") is not None else "timestamp"
    value = event.get(key)
    if value is None:
        raise WebhookError("data.event has no datetime (or timestamp): the event's age cannot be checked")
    when = iso_utc(value)
    if when is None:
        raise WebhookError("data.event.%s cannot be read as a time (%s; expected ISO-8601 or epoch seconds, "
                           "1970 to 9999)" % (key, _kind(value)))
    return when


def _kind(value: Any) -> str:
    """The JSON type of a value, for messages (never the value: it may be huge or hostile)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --- comment webhooks (resource `comment`): the /autodiag command --------------------------

class CommentRequest(NamedTuple):
    issue_id: str
    comment_id: str
    project: str                 # the project slug
    actor: str                   # who commented, as Sentry names them (bounded, untrusted)
    at: str                      # ISO-8601 UTC
    node: Optional[str]          # the raw word after /autodiag (untrusted), None: the node diagnosed before
    usage: Optional[str]


def parse_comment(payload: Any) -> Optional[CommentRequest]:
    """A `comment.created` body → the /autodiag request it makes, or None when it asks
    nothing (another action, a comment by an integration, no command on the first line).
    Shape (23.7.1 build_comment_webhook): `{"action": "created", "actor": {"type": "user",
    "id", "name"}, "data": {"comment_id", "issue_id", "project_slug", "timestamp",
    "comment"}}`. Raises WebhookError for a body that is not that shape."""
    from .. import comment_command

    if not isinstance(payload, dict):
        raise WebhookError("the body is not a JSON object (it is %s)" % _kind(payload))
    if payload.get("action") != "created":
        return None  # comment.updated / deleted: an edit asks nothing
    actor = payload.get("actor")
    if not isinstance(actor, dict) or actor.get("type") != "user":
        return None  # the integration's own notes (actor type "application") and Sentry's
    data = payload.get("data")
    if not isinstance(data, dict):
        raise WebhookError("data is missing or not an object (it is %s)" % _kind(data))
    command = comment_command.parse(data.get("comment"))
    if command is None:
        return None
    issue_id = data.get("issue_id")
    if isinstance(issue_id, int) and not isinstance(issue_id, bool):
        issue_id = str(issue_id) if 0 < issue_id < MAX_ISSUE_ID else None
    if not isinstance(issue_id, str) or not ISSUE_ID.match(issue_id):
        raise WebhookError("data.issue_id is missing or not a numeric id")
    comment_id = comment_command.clean_comment_id(data.get("comment_id"))
    if comment_id is None:
        raise WebhookError("data.comment_id is missing or not a numeric id")
    project = data.get("project_slug")
    if not isinstance(project, str) or not SLUG.match(project):
        raise WebhookError("data.project_slug is missing or not a project slug")
    return CommentRequest(issue_id, comment_id, project, comment_command.actor_name(_line(actor.get("name"))),
                          iso_utc(data.get("timestamp")) or "", command.node, command.usage)
