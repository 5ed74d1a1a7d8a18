"""How old a shared diagnosis is for the issue that receives it (coalesced followers).

A follower gets the report its node's leader collected. That report's findings were judged
against the leader's event time, and the node was looked at when the leader's job ran: for
a follower whose own event came later, the note says so, and past `max_age` minutes the
snapshot is too old to stand for this event, so the follower runs a fresh job instead.
"""
import calendar
import time
from typing import Any, Dict, Optional

DEFAULT_MAX_AGE = 5  # minutes (setting share_max_age)


def seconds(iso: Any) -> Optional[float]:
    """'YYYY-MM-DDTHH:MM:SS[.fff]Z' (the flow's and the task's form) as unix seconds, else None."""
    if not isinstance(iso, str) or len(iso) < 20 or not iso.endswith("Z"):
        return None
    try:
        return float(calendar.timegm(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S")))
    except (ValueError, OverflowError):
        return None


def snapshot_of(report: Any) -> Dict[str, Any]:
    """What a follower needs to know of the leader's report: when the node was looked at and
    which event time its findings were judged against (both as the task wrote them)."""
    if not isinstance(report, dict):
        return {}
    out = {}
    for key in ("collected_at", "event_time"):
        if isinstance(report.get(key), str) and seconds(report[key]) is not None:
            out[key] = report[key]
    return out


def is_stale(result: Dict[str, Any], follower_since: Optional[str], max_age_minutes: int) -> bool:
    """True when the follower's event came more than max_age minutes after the snapshot."""
    collected, own = seconds(result.get("collected_at")), seconds(follower_since)
    if collected is None or own is None or max_age_minutes <= 0:
        return False
    return own - collected > max_age_minutes * 60


def _ago(delta: float) -> str:
    minutes = abs(delta) / 60.0
    amount = "%d s" % abs(delta) if minutes < 1 else "%.0f min" % minutes
    return "%s %s" % (amount, "after" if delta >= 0 else "before")


def age_line(result: Dict[str, Any], follower_since: Optional[str]) -> Optional[str]:
    """Plain text: when the shared report was collected relative to this issue's event, and
    the event time its findings were judged against. None when the report did not say."""
    collected = seconds(result.get("collected_at"))
    if collected is None:
        return None
    own = seconds(follower_since)
    text = "The shared report was collected at %s" % result["collected_at"]
    if own is not None:
        text += ", %s this issue's event (%s)" % (_ago(collected - own), follower_since)
    leader_event = result.get("event_time")
    if leader_event:
        text += "; its findings were judged against the first issue's event time, %s" % leader_event
        if own is not None and seconds(leader_event) is not None:
            text += " (%s this issue's)" % _ago(seconds(leader_event) - own)
    return text + "."
