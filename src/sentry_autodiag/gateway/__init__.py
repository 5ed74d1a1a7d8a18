"""The webhook gateway: Sentry's integration platform → the shared diagnosis flow → a comment.

For Sentry 23.7.1 and later, 26.x and sentry.io, where the plugin cannot run. Its own
processes, Python 3.11+, no Sentry installed: `sentry-autodiag gateway` receives signed
`event_alert` webhooks and queues them durably (Celery, Redis broker);
`sentry-autodiag worker` runs the flow and writes the note through Sentry's REST API.
"""
