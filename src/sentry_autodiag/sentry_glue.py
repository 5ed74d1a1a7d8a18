"""Small adapters between Sentry objects and the plain-Python core.

Reads settings from ProjectOptions, the facts the filters need from an event, and
writes notes (Activity NOTE rows) exactly once per diagnosis.
"""
from typing import NamedTuple, Optional

from sentry.locks import locks
from sentry.models import Activity, ProjectOption
from sentry.types.activity import ActivityType

from sentry_autodiag import settings as settings_mod

NOTE_MARKER = "autodiag"


class EventFacts(NamedTuple):
    environment: Optional[str]
    level: Optional[str]
    node: Optional[object]   # raw, untrusted value of the node tag
    timestamp: Optional[str]  # ISO-8601 UTC


def load_settings(plugin, project) -> settings_mod.Settings:
    """All options in one (cached) read: this runs on the post_process hot path."""
    stored = ProjectOption.objects.get_all_values(project)
    prefix = plugin.get_conf_key() + ":"
    return settings_mod.load(lambda name: stored.get(prefix + name))


def event_facts(event, node_tag: str) -> EventFacts:
    data = event.data
    node = data.get(node_tag) if node_tag == "server_name" else None
    if node is None:
        node = event.get_tag(node_tag)
    environment = event.get_tag("environment") or data.get("environment")
    when = getattr(event, "datetime", None)
    timestamp = when.strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else None
    return EventFacts(environment, data.get("level") or event.get_tag("level"), node, timestamp)


def write_note_once(group, diagnosis_id: str, text: str, send_notification: bool) -> bool:
    """Adds the note unless this diagnosis already has one (retries, duplicate tasks).

    A Redis lock serializes writers of one issue; the check reads the issue's own notes,
    so it holds even if the lock's key were lost. Returns True when a note was written.
    """
    lock = locks.get("autodiag:note:%s" % group.id, duration=30, name="autodiag_note")
    with lock.blocking_acquire(initial_delay=0.05, timeout=20):
        if has_note(group, diagnosis_id):
            return False
        Activity.objects.create_group_activity(
            group, ActivityType.NOTE, user_id=None,
            data={"text": text, NOTE_MARKER: {"diagnosis": diagnosis_id}},
            send_notification=send_notification)
        return True


def has_note(group, diagnosis_id: str) -> bool:
    return any(a.data[NOTE_MARKER].get("diagnosis") == diagnosis_id for a in autodiag_notes(group))


def autodiag_notes(group):
    """The notes this plugin wrote on an issue (for tests, benchmarks, the demo)."""
    notes = Activity.objects.filter(group_id=group.id, type=ActivityType.NOTE.value, user_id=None).order_by("id")
    return [a for a in notes if NOTE_MARKER in (a.data or {})]
