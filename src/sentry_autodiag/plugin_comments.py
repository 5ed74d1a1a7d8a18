"""Sentry glue for `/autodiag` comments: the `comment_created` signal → the request task.

Sentry 23.7.1 sends `comment_created(project, user, group, data)` from the issue notes
endpoint (sentry/api/endpoints/group_notes.py) after a member's note is saved; `data`
holds `comment_id`, `timestamp`, `comment` (the text) and `project_slug`. Edited notes
send `comment_updated`, which is not listened to: an edit asks nothing. This runs in the
web request that saved the note, so it only parses the first line (comment_command.parse)
and queues the task; limits, the node checks and PE run in the worker (flow.request).
The plugin's own notes never get here (it writes them as Activity rows, no signal), and a
note an integration posted (its proxy user is a Sentry app, e.g. the gateway's) is ignored.
"""
import logging
import time

from sentry.plugins.base import plugins
from sentry.signals import comment_created

from sentry_autodiag import comment_command
from sentry_autodiag.intake import iso_utc

logger = logging.getLogger("sentry_autodiag")


def on_comment(project, user, group, data) -> bool:
    """Queues the request of a `/autodiag` comment; True when queued."""
    from sentry_autodiag import tasks

    data = data if isinstance(data, dict) else {}
    command = comment_command.parse(data.get("comment"))
    if command is None or user is None or getattr(user, "is_sentry_app", False):
        return False
    plugin = plugins.get("autodiag")
    if not plugin.is_enabled(project) or not plugin.is_configured(project):
        return False
    comment_id = comment_command.clean_comment_id(data.get("comment_id"))
    if comment_id is None:
        return False
    name = user.get_display_name() if hasattr(user, "get_display_name") else getattr(user, "username", "")
    kwargs = {"project": project.id, "issue": group.id, "comment_id": comment_id, "node": command.node,
              "usage": command.usage, "actor": comment_command.actor_name(name),
              "at": iso_utc(data.get("timestamp")) or iso_utc(time.time())}
    tasks.request_diagnosis.apply_async(kwargs=tasks.as_task_kwargs(kwargs), queue=tasks.QUEUE)
    logger.info("autodiag.request.queued", extra={"group_id": group.id, "comment_id": comment_id})
    return True


@comment_created.connect(weak=False)
def _comment_created(project=None, user=None, group=None, data=None, **kwargs):
    try:
        on_comment(project, user, group, data)
    except Exception:  # never break the notes endpoint
        logger.exception("autodiag.request.failed", extra={"group_id": getattr(group, "id", None)})
