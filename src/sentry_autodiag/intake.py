"""Whether and where to diagnose an event (plain Python): the one decision both front ends make.

A front end turns its event (a Sentry `Event` in the plugin, the webhook's
`data.event` JSON in the gateway) into `EventFacts`; `decide` applies the project's
filters (environment, level), picks the routing rule (routing.py) and validates the
node, and returns the arguments of the flow's first step, or None when the event is
filtered out. Event data is attacker-controlled: only the validated certname, the event
time and the matched rules' references (the admin's index and name) leave this module.
"""
import datetime
import re
from typing import Any, Dict, NamedTuple, Optional

from . import remediation, routing
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
    # What routing rules match on (all raw, untrusted; routing bounds what it looks at):
    tags: Optional[Dict[str, Any]] = None   # every event tag, {key: value}
    exception_type: Optional[str] = None    # the main exception's type (see exception_type())
    server_name: Optional[Any] = None       # the event's server_name field, for a rule's node_tag


def exception_type(exception: Any) -> Optional[str]:
    """The type of the exception Sentry shows for the event: the last of `exception.values`
    (Sentry orders chained exceptions oldest first), in the event JSON of both front ends."""
    values = exception.get("values") if isinstance(exception, dict) else None
    if not isinstance(values, list):
        return None
    for value in reversed(values[-MAX_TAGS:]):
        if isinstance(value, dict) and isinstance(value.get("type"), str) and value["type"]:
            return value["type"][:routing.MAX_INPUT]
    return None


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
    """The flow's `start` arguments for this event, or None when the filters (or a routing
    rule saying `diagnose: false`) drop it.

    The project's filters come first; the rules then choose how to diagnose what passed.
    A node that cannot be used is not dropped: the issue gets a note saying why.
    """
    if not settings.environment_allowed(facts.environment):
        return None
    if not settings.level_allowed(facts.level):
        return None
    rule = routing.choose(getattr(settings, "routing_rules", ()), facts)
    if rule is not None and not rule.diagnose:
        return None
    node_tag, raw_node = settings.node_tag, facts.node
    if rule is not None and rule.node_tag and rule.node_tag != settings.node_tag:
        node_tag = rule.node_tag
        raw_node = node_value(facts.server_name, facts.tags if isinstance(facts.tags, dict) else {}, node_tag)
    node, rejection = None, None
    try:
        node = certname_for(raw_node, node_tag, settings.node_pattern, settings.certname_suffix)
    except NodeRejected as exc:
        rejection = {"code": exc.code, "message": exc.message}
    start = {"project": project, "issue": issue, "event_id": facts.event_id, "node": node,
             "rejection": rejection, "since": facts.timestamp, "queued_at": queued_at}
    if rule is not None:
        start["route"] = rule.ref()
    remedies = remediation.event_candidates(getattr(settings, "remediation_rules", ()), facts)
    if remedies:  # the remediation rules whose event conditions hold, by reference only
        start["remedy"] = remedies
    return start
