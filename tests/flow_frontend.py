"""A test tool: the flow's FrontEnd with nothing of Sentry behind it, for driving the flow
step by step as a worker pool would (no eager loop).

Steps go to a list the test runs (`queue`, with their countdowns), notes to a dict (one per
diagnosis id), metrics to a list, storm state to the real Redis under a private prefix.
"""
import json
import time
import uuid

import redis as redis_py

from sentry_autodiag import settings as settings_mod
from sentry_autodiag.flow import FrontEnd, IssueRef


class QueueFrontEnd(FrontEnd):
    """`config`: a Settings object, or a dict of stored options read through settings.load."""

    def __init__(self, config, issue=("CHECKOUT-1", "ConnectionError", "https://sentry/issues/1/", "checkout")):
        self.namespace = "autodiag-test-%s" % uuid.uuid4().hex
        self.config = config
        self.issue_fields = issue
        self.queue = []
        self.notes = {}
        self.metrics = []
        self.client = redis_py.Redis(host="127.0.0.1", port=6379, db=5)

    def settings(self, project):
        if isinstance(self.config, dict):
            return settings_mod.load(self.config.get)
        return self.config

    def issue(self, project, issue_id):
        return IssueRef(project, str(issue_id), *self.issue_fields)

    def write_note(self, issue, diagnosis_id, text, settings):
        if diagnosis_id in self.notes:
            return False
        self.notes[diagnosis_id] = text
        return True

    def later(self, step, kwargs, countdown=0):
        json.dumps(kwargs)  # queue messages are JSON
        self.queue.append((step, kwargs, countdown))

    def redis(self):
        return self.client

    def incr(self, name, tags=None):
        self.metrics.append((name, tags))

    def cleanup(self):
        for key in self.client.scan_iter(self.namespace + "*"):
            self.client.delete(key)

    def run_queued(self, flow, until=lambda: False, limit=100, max_sleep=0.3):
        """Runs the queued steps in order, as workers would (countdowns capped at `max_sleep`),
        until `until()` holds, the queue is empty or `limit` steps ran; returns the steps run."""
        ran = []
        while len(ran) < limit and not until() and self.queue:
            step, kwargs, countdown = self.queue.pop(0)
            time.sleep(min(countdown, max_sleep))
            flow.run(step, kwargs)
            ran.append((step, countdown))
        return ran
