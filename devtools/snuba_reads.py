"""TESTS AND DEMO ONLY (issue 20's allowance, never in the product): the two Snuba READS that
the rule group-history endpoint and the event endpoint of Sentry 23.7.1 make, answered from
what Sentry itself wrote, because Snuba cannot run here.

1. The group serializer's stats (`GroupSerializer._seen_stats_error`: the seen/user counts;
   `GroupSerializerBase._get_group_snuba_stats`: the "unhandled" flag): empty.
2. The event store's lookups around one event by id: `get_event_by_id` stays Sentry's own
   (nodestore; with the `group_id` the caller passes, from Postgres, it asks Snuba nothing);
   the adjacent-event ids the event endpoint asks Snuba for
   (`SnubaEventStorage.get_adjacent_event_ids`) are answered as none.

Everything else stays Sentry's own. Used by tests/test_gateway_catchup.py (`answered()`, for
one test) and by the demo's Sentry (`install()`, for the life of its processes, from
demo/autodiag_demo/apps.py).
"""
import contextlib
from unittest import mock


def _answers():
    from sentry.api.serializers.models.group import GroupSerializer, GroupSerializerBase
    from sentry.eventstore.snuba.backend import SnubaEventStorage

    return [
        (GroupSerializer, "_seen_stats_error", lambda self, items, user: {}),
        (GroupSerializerBase, "_get_group_snuba_stats", lambda self, items, seen: {}),
        (SnubaEventStorage, "get_adjacent_event_ids", lambda self, event, filter: (None, None)),
    ]


def patches():
    """The two reads as mock patches (not started)."""
    return [mock.patch.object(owner, name, answer) for owner, name, answer in _answers()]


@contextlib.contextmanager
def answered():
    """The two reads answered while the block runs (the tests)."""
    with contextlib.ExitStack() as stack:
        for patch in patches():
            stack.enter_context(patch)
        yield


def install():
    """The two reads answered for the rest of this process (the demo's Sentry)."""
    for patch in patches():
        patch.start()
