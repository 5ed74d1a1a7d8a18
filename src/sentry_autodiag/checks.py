""""Test Plugin" in plain words, for both front ends: can the orchestrator be reached over
verified TLS, does it accept the token, is the task deployed in the environment?"""
from typing import NamedTuple

from . import orchestrator
from .settings import Settings


class CheckResult(NamedTuple):
    ok: bool
    message: str


def check_orchestrator(settings: Settings) -> CheckResult:
    if not settings.configured:
        return CheckResult(False, "Not configured yet: save the orchestrator URL, the RBAC token and the CA "
                                  "certificate first.")
    try:
        with orchestrator.OrchestratorClient(settings.url, settings.token, settings.ca_cert,
                                             connect_timeout=5, read_timeout=10) as client:
            client.task_info(settings.task, settings.environment)
    except orchestrator.OrchestratorError as exc:
        return CheckResult(False, "Test failed: %s" % exc.message)
    return CheckResult(True, "Test passed: connected to %s, its TLS certificate verified against the configured CA, "
                             "the RBAC token was accepted, and the task %s is available in the Puppet environment %s."
                       % (orchestrator.normalize_base_url(settings.url), settings.task, settings.environment))
