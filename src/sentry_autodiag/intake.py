"""Whether and where to diagnose an event (plain Python): the one decision both front ends make.

A front end turns its event (a Sentry `Event` in the plugin, the webhook's
`data.event` JSON in the gateway) into `EventFacts`; `decide` applies the project's
filters (environment, level) and validates the node, and returns the arguments of the
flow's first step, or None when the event is filtered out. Event data is
attacker-controlled: only the validated certname and the event time leave this module.
"""
import datetime
import re
from typing import Any, Dict, NamedTuple, Optional

from .settings import Settings
from .targeting import NodeRejected, certname_for

MAX_TAGS = 200
ISO = re.compile(r"\A(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.\d{1,9})?(Z|[+-]\d\d:?\d\d)?\Z")


class EventFacts(NamedTuple):
    event_id: str
    environment: Optional[str]
    level: Optional[str]
    node: Optional[object]      # raw, untrusted value of the node field or tag
    timestamp: Optional[str]    # ISO-8601 UTC, second precision, "Z"


def node_value(server_name: Any, tags: Dict[str, Any], node_tag: str) -> Any:
    """The raw node: the event's server_name field for that tag, else the tag's value."""
    if node_tag == "server_name" and server_name not in (None, ""):
        return server_name
    return tags.get(node_tag)


def tags_from_pairs(pairs: Any) -> Dict[str, Any]:
    """Sentry's webhook sends tags as [[key, value], ...]; anything else is ignored."""
    tags: Dict[str, Any] = {}
    if not isinstance(pairs, list):
        return tags
    for pair in pairs[:MAX_TAGS]:
        if isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str):
            tags.setdefault(pair[0], pair[1])
    return tags


def iso_utc(value: Any) -> Optional[str]:
    """A datetime, epoch seconds or ISO string → 'YYYY-MM-DDTHH:MM:SSZ' (UTC); None if unusable."""
    when = None
    if isinstance(value, datetime.datetime):
        when = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1e11:
        when = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    elif isinstance(value, str) and len(value) <= 40:
        match = ISO.match(value.strip())
        if not match:
            return None
        zone = match.group(7) or "Z"
        offset = datetime.timedelta(0)
        if zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            offset = sign * datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[-2:]))
        try:
            when = datetime.datetime(*map(int, match.groups()[:6]), tzinfo=datetime.timezone(offset))
        except ValueError:
            return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def decide(settings: Settings, facts: EventFacts, project: Any, issue: Any,
           queued_at: Optional[float] = None) -> Optional[Dict[str, Any]]:
    """The flow's `start` arguments for this event, or None when the filters drop it.

    A node that cannot be used is not dropped: the issue gets a note saying why.
    """
    if not settings.environment_allowed(facts.environment):
        return None
    if not settings.level_allowed(facts.level):
        return None
    node, rejection = None, None
    try:
        node = certname_for(facts.node, settings.node_tag, settings.node_pattern, settings.certname_suffix)
    except NodeRejected as exc:
        rejection = {"code": exc.code, "message": exc.message}
    return {"project": project, "issue": issue, "event_id": facts.event_id, "node": node,
            "rejection": rejection, "since": facts.timestamp, "queued_at": queued_at}
