"""Whether and where to diagnose an event (plain Python): the one decision both front ends make.

A front end turns its event (a Sentry `Event` in the plugin, the webhook's
`data.event` JSON in the gateway) into `EventFacts`; `decide` applies the project's
filters (environment, level), picks the routing rule (routing.py) and validates the
node, and returns the arguments of the flow's first step, or None when the event is
filtered out. Event data is attacker-controlled: only the validated certname, the event
time and the matched rules' references (the admin's index and name) leave this module.
"""
import calendar
import datetime
import re
from typing import Any, Dict, List, NamedTuple, Optional

from . import remediation, routing
from .settings import Settings
from .targeting import NodeRejected, certname_for

MAX_TAGS = 200
MAX_TAG_KEY = 200          # characters of a tag key (Sentry's own limit is 32 in 23.7, 200 later)
MIN_YEAR = 1970
MAX_FUTURE_SECONDS = 3600  # Relay's default max_secs_in_future: later event times are not real
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
    """The event's tags as {key: value} (first one wins; values stay raw, untrusted).

    Sentry's webhook (Event.as_dict) and the plugin's Event.tags give `[[key, value], ...]`;
    Sentry's event API gives `[{"key": ..., "value": ...}, ...]`, and a mapping is taken as
    it is. Anything else (and any entry whose key is not a short string) is ignored, and at
    most MAX_TAGS entries are looked at.
    """
    tags: Dict[str, Any] = {}
    if isinstance(pairs, dict):
        entries: List[Any] = list(pairs.items())[:MAX_TAGS]
    elif isinstance(pairs, (list, tuple)):
        entries = list(pairs[:MAX_TAGS])
    else:
        return tags
    for entry in entries:
        if isinstance(entry, (list, tuple)) and len(entry) == 2:
            key, value = entry[0], entry[1]
        elif isinstance(entry, dict) and "key" in entry:
            key, value = entry.get("key"), entry.get("value")
        else:
            continue
        if isinstance(key, str) and 0 < len(key) <= MAX_TAG_KEY:
            tags.setdefault(key, value)
    return tags


def iso_utc(value: Any) -> Optional[str]:
    """A datetime, epoch seconds or ISO string → 'YYYY-MM-DDTHH:MM:SSZ' (UTC, always a
    4-digit year from 1970 to 9999); None if unusable (wrong type, NaN, out of range,
    impossible date, offset of a day or more)."""
    when = None
    if isinstance(value, datetime.datetime):
        when = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1e11:
        try:
            when = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
        except (ValueError, OverflowError, OSError):
            return None
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
    try:
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        when = when.astimezone(datetime.timezone.utc)
    except (ValueError, OverflowError):  # e.g. 9999-12-31T23:59:59-05:00 is in year 10000 in UTC
        return None
    if not MIN_YEAR <= when.year <= 9999:
        return None
    # not strftime: it does not pad years before 1000 on every platform
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (when.year, when.month, when.day, when.hour, when.minute, when.second)


def plausible_since(timestamp: Optional[str], now: Optional[float]) -> Optional[str]:
    """The event time as the task's `since`, or None ("now") when it lies more than
    MAX_FUTURE_SECONDS after `now`: Sentry corrects such clocks, so it is not an event
    time, and every finding would be judged against a moment that has not come."""
    if not timestamp or now is None:
        return timestamp
    try:  # iso_utc's fixed form, read by position (this runs on Sentry's post-processing path)
        when = calendar.timegm((int(timestamp[0:4]), int(timestamp[5:7]), int(timestamp[8:10]),
                                int(timestamp[11:13]), int(timestamp[14:16]), int(timestamp[17:19])))
    except (ValueError, OverflowError, TypeError):
        return None
    return None if when - now > MAX_FUTURE_SECONDS else timestamp


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
             "rejection": rejection, "since": plausible_since(facts.timestamp, queued_at), "queued_at": queued_at}
    if rule is not None:
        start["route"] = rule.ref()
    remedies = remediation.event_candidates(getattr(settings, "remediation_rules", ()), facts)
    if remedies:  # the remediation rules whose event conditions hold, by reference only
        start["remedy"] = remedies
    return start
