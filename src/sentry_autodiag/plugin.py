"""Sentry glue: the NotificationPlugin that Sentry's issue alert rules call.

Sentry decides WHEN (alert rule conditions); `notify_users` decides WHETHER (environment,
level, node) and WHERE (which certname), and enqueues a Celery task. It runs inside
Sentry's post_process worker, so it does no network I/O beyond one Redis call and one
queue publish, never sleeps, and never lets an exception escape into post-processing.
"""
import logging
import time

from sentry.exceptions import PluginError
from sentry.plugins.bases.notify import NotificationPlugin

import sentry_autodiag
from sentry_autodiag import checks, intake, settings as settings_mod
from sentry_autodiag.sentry_glue import event_facts, load_settings
from sentry_autodiag import plugin_comments  # noqa: F401 (connects the /autodiag comment signal)

logger = logging.getLogger("sentry_autodiag")


class AutoDiagPlugin(NotificationPlugin):
    """Runs Puppet's diagnostics::collect on the event's server and notes the report."""

    # slug and conf_key must match: Sentry mixes them when it lists configured projects.
    slug = "autodiag"
    conf_key = "autodiag"
    title = "Puppet Auto-Diagnostics"
    conf_title = title
    description = (
        "When an alert rule fires for a new issue, run the read-only Puppet task "
        "diagnostics::collect on the server named in the event (through the Puppet "
        "Enterprise orchestrator) and add its report to the issue as a note."
    )
    version = sentry_autodiag.__version__
    author = "sentry-autodiag developers"
    author_url = "https://github.com/sentry-autodiag/sentry-autodiag"
    resource_links = [
        ("Documentation", "https://github.com/sentry-autodiag/sentry-autodiag#readme"),
        ("Puppet module", "https://github.com/sentry-autodiag/sentry-autodiag/tree/main/puppet/diagnostics"),
        ("Bug Tracker", "https://github.com/sentry-autodiag/sentry-autodiag/issues"),
    ]

    # --- worker wiring ---------------------------------------------------------------

    def get_worker_imports(self):
        return ["sentry_autodiag.tasks"]

    def get_worker_queues(self):
        from sentry_autodiag.tasks import QUEUE

        return [QUEUE]

    # --- settings form ---------------------------------------------------------------

    def is_configured(self, project, **kwargs):
        if self.get_option("runner", project) == "bolt":
            return bool(self.get_option("bolt_project", project))
        return all(self.get_option(name, project) for name in ("url", "token", "ca_cert"))

    def get_config(self, project, user=None, initial=None, add_additional_fields=False, **kwargs):
        fields = []
        # the runner being saved (Sentry passes the submitted form as `initial`), else the saved one
        runner = (initial or {}).get("runner") or self.get_option("runner", project)
        for field in settings_mod.FIELDS:
            required = settings_mod.is_required(field, {"runner": runner})
            config = {
                "name": field.name, "label": field.label, "type": field.type, "help": field.help,
                "required": required, "validators": [self._validator(field.name)],
            }
            if field.default not in (None, ""):
                config["default"] = field.default
            if field.placeholder:
                config["placeholder"] = field.placeholder
            if field.choices:
                config["choices"] = field.choices
            if field.type == "secret":
                saved = bool(self.get_option(field.name, project))
                # A saved token is never sent to the browser; an empty submission keeps it.
                config.update(has_saved_value=saved, prefix="", required=required and not saved)
                if saved:
                    config["help"] = "A %s is saved. Only enter a new one to replace it. %s" % (
                        "token" if "token" in field.name else "value", field.help)
            fields.append(config)
        return fields

    def validate_config_field(self, project, name, value, actor=None):
        """An empty orchestrator field passes here: whether it was required (PE runner) or not
        (Bolt runner) Sentry's endpoint already decided from the submitted runner (get_config's
        `initial`); Sentry's own re-check here would only see the saved runner."""
        if name in settings_mod.PE_FIELDS and not str(value or "").strip():
            return self.get_option(name, project) if name == "token" else ""
        return super().validate_config_field(project, name, value, actor=actor)

    @staticmethod
    def _validator(name):
        # Sentry has already replaced an empty secret by the saved one before validators run.
        def validate(value, project=None, actor=None):
            if name in settings_mod.PE_FIELDS and not str(value or "").strip():
                return ""  # left empty with the Bolt runner (with PE, Sentry refuses it as required first)
            try:
                return settings_mod.clean_field(name, value)
            except ValueError as exc:
                raise PluginError(str(exc))
        return validate

    def validate_config(self, project, config, actor=None):
        """Checks across fields once each field passed its own (routing rules against PE's task
        metadata, Prometheus credentials only over https); errors show above the form."""
        try:
            settings_mod.check_together(config)
        except ValueError as exc:
            raise PluginError(str(exc))
        return config

    def test_configuration(self, project):
        """Sentry's "Test Plugin" button: TLS, token and task availability, in plain words."""
        return checks.check_orchestrator(load_settings(self, project)).message

    def test_configuration_and_get_test_results(self, project):
        try:
            return self.test_configuration(project)
        except Exception as exc:  # an unexpected bug must not become a 500 on the settings page
            logger.exception("autodiag.test_configuration.failed")
            return ("Test failed because of an internal error of the plugin (%s: %s); see the Sentry web logs "
                    "(autodiag.test_configuration.failed)." % (type(exc).__name__, " ".join(str(exc).split())[:300]))

    # --- alert rule action -----------------------------------------------------------

    def should_notify(self, group, event):
        # Sentry's base class drops more than 10 notifications per minute per project
        # (ratelimits.is_limited). In an alert storm that silently loses exactly the
        # diagnoses that matter, so only the configuration is checked here; bursts are
        # absorbed by the worker queue and the per-issue de-duplication in the worker instead.
        return self.is_configured(project=event.project)

    def notify_users(self, group, event, triggering_rules=None, fail_silently=False, **kwargs):
        try:
            self._enqueue(group, event)
        except Exception:
            # Never break Sentry's post-processing: log and move on.
            logger.exception("autodiag.notify.failed", extra={"group_id": getattr(group, "id", None)})

    def _enqueue(self, group, event):
        from sentry_autodiag import tasks

        config = load_settings(self, group.project)
        start = intake.decide(config, event_facts(event, config.node_tag), group.project_id, group.id,
                              queued_at=time.time())
        if start is None:
            logger.debug("autodiag.skipped.filtered", extra={"group_id": group.id})
            return
        logger.debug("autodiag.notify", extra={"group_id": group.id, "event_id": event.event_id,
                                               "node": start["node"]})
        tasks.start_diagnosis.apply_async(kwargs=tasks.as_task_kwargs(start), queue=tasks.QUEUE)
