"""Small adapters between Sentry objects and the plain-Python core: the plugin's front end.

Reads settings from ProjectOptions, the facts the filters need from an event, writes
notes (Activity NOTE rows) exactly once per diagnosis, and implements the flow's
`FrontEnd` ports with Sentry's own Redis, metrics and Celery.
"""
from typing import Any, Dict, Optional

from sentry.locks import locks
from sentry.models import Activity, Group, Project, ProjectOption
from sentry.types.activity import ActivityType
from sentry.utils import metrics, redis

from sentry_autodiag import settings as settings_mod
from sentry_autodiag.flow import FrontEnd, IssueRef
from sentry_autodiag.intake import EventFacts, exception_type, iso_utc, tags_from_pairs

NOTE_MARKER = "autodiag"


def load_settings(plugin, project) -> settings_mod.Settings:
    """All options in one (cached) read: this runs on the post_process hot path."""
    stored = ProjectOption.objects.get_all_values(project)
    prefix = plugin.get_conf_key() + ":"
    return settings_mod.load(lambda name: stored.get(prefix + name))


def event_facts(event, node_tag: str) -> EventFacts:
    """The facts intake.decide (and the routing rules) need, from a Sentry Event."""
    data = event.data
    node = data.get(node_tag) if node_tag == "server_name" else None
    if node is None:
        node = event.get_tag(node_tag)
    environment = event.get_tag("environment") or data.get("environment")
    return EventFacts(event.event_id, environment, data.get("level") or event.get_tag("level"), node,
                      iso_utc(getattr(event, "datetime", None)),
                      tags=tags_from_pairs([list(pair) for pair in event.tags or []]),
                      exception_type=exception_type(data.get("exception")),
                      server_name=data.get("server_name"))


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


def sentry_redis():
    return redis.redis_clusters.get("default")


class PluginFrontEnd(FrontEnd):
    """The flow's ports inside Sentry: ProjectOptions, Group rows, Activity notes,
    Sentry's Redis cluster and metrics, and the plugin's Celery tasks for later steps."""

    namespace = "autodiag"

    def __init__(self, plugin, schedule):
        self.plugin = plugin
        self._schedule = schedule        # (step, kwargs, countdown) -> None, see tasks.py
        self._groups: Dict[Any, Group] = {}

    def settings(self, project):
        return load_settings(self.plugin, Project.objects.get_from_cache(id=project))

    def issue(self, project, issue_id) -> Optional[IssueRef]:
        try:
            group = Group.objects.get(id=issue_id, project_id=project)
        except Group.DoesNotExist:
            return None
        self._groups[group.id] = group
        return IssueRef(project=group.project_id, id=group.id, short_id=group.qualified_short_id or str(group.id),
                        title=group.title or "", url=group.get_absolute_url(), project_slug=group.project.slug)

    def write_note(self, issue, diagnosis_id, text, settings) -> bool:
        group = self._groups.get(issue.id) or Group.objects.get(id=issue.id)
        return write_note_once(group, diagnosis_id, text, send_notification=settings.email_participants)

    def later(self, step, kwargs, countdown=0):
        self._schedule(step, kwargs, countdown)

    def redis(self):
        return sentry_redis()

    def incr(self, name, tags=None):
        metrics.incr(name, tags=tags)

    def timing(self, name, seconds, tags=None):
        metrics.timing(name, seconds, tags=tags)
