"""The shared set-up of the plugin's pipeline tests: an orchestrator running the real
module (and the test-only sample module), a configured and enabled plugin, the rule."""
import os
import shutil
import tempfile
import uuid

import pytest
from sentry.plugins.base import plugins

from localorch.server import LocalOrchestrator
from sentry_autodiag.sentry_glue import autodiag_notes
from sentry_harness import create_new_issue_rule

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODES = ["web01.example.com", "web02.example.com", "db01.example.com"]


@pytest.fixture(scope="module")
def modules_dir():
    """The real diagnostics module beside the test-only sample module."""
    d = tempfile.mkdtemp(prefix="autodiag-modules-")
    os.symlink(os.path.join(ROOT, "puppet", "diagnostics"), os.path.join(d, "diagnostics"))
    os.symlink(os.path.join(ROOT, "tests", "modules", "sample"), os.path.join(d, "sample"))
    os.symlink(os.path.join(ROOT, "puppet", "remediation"), os.path.join(d, "remediation"))
    yield d
    shutil.rmtree(d)


@pytest.fixture(scope="module")
def app_log():
    """An application log where the task may read it (/var/log by default)."""
    d = os.path.join("/var/log", "autodiag-tests-%s" % uuid.uuid4().hex[:8])
    os.makedirs(d)
    path = os.path.join(d, "app.log")
    with open(path, "w") as fh:
        for i in range(300):
            fh.write("2026-11-21 03:%02d:%02d ERROR checkout failed order=%d password=hunter%d\n" % (i // 60, i % 60, i, i))
    yield path
    shutil.rmtree(d)


class AutoDiagCase:
    """Shared set-up: an orchestrator, a configured + enabled plugin, the new-issue rule."""

    @pytest.fixture(autouse=True)
    def _orchestrator(self, modules_dir, app_log, tmp_path):
        with LocalOrchestrator(nodes=NODES, modules_dir=modules_dir, token="tok-%s" % uuid.uuid4().hex,
                               task_env={"TMPDIR": str(tmp_path)}) as orch:
            self.orch = orch
            self.app_log = app_log
            yield

    def configure(self, **options):
        self.plugin = plugins.get("autodiag")
        values = {"url": self.orch.url, "token": self.orch.token, "ca_cert": self.orch.ca_pem,
                  "log_path": self.app_log, "log_lines": 20, "puppetdb_url": self.orch.url}
        values.update(options)
        for key, value in values.items():
            self.plugin.set_option(key, value, self.project)
        self.plugin.enable(self.project)
        create_new_issue_rule(self.project)

    def notes(self, group_id):
        from sentry.models import Group

        return [a.data["text"] for a in autodiag_notes(Group.objects.get(id=group_id))]

    def only_note(self, saved):
        notes = self.notes(saved.group_id)
        assert len(notes) == 1, notes
        return notes[0]
