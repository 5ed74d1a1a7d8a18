""""Test Plugin" in plain words, for both front ends: can the orchestrator be reached over
verified TLS, does it accept the token, is the task deployed in the environment? With the
Bolt runner: does Bolt run, does its project hold the task, can it reach the test node?"""
from typing import NamedTuple

from . import orchestrator
from .settings import Settings


class CheckResult(NamedTuple):
    ok: bool
    message: str


def failure_text(exc: orchestrator.OrchestratorError) -> str:
    """"Test failed: <what PE or the network said>", then what to do where the message does not say it."""
    from .diagnosis import HINTS  # imported here: diagnosis pulls in the note renderer

    hint = None
    if exc.foreign and exc.reason in ("auth", "configuration"):
        hint = HINTS["bad-answer"]  # a proxy's page, not PE's answer: the URL must reach the orchestrator itself
    elif exc.reason in ("unreachable", "bad-answer", "query", "puppetdb", "validation", "orchestrator-error"):
        hint = HINTS.get(exc.reason)
    return "Test failed: %s%s" % (exc.message, " What to do: %s" % hint if hint else "")


def _internal_hint() -> str:
    from .diagnosis import HINTS
    return "What to do: %s" % HINTS["internal"]


def check_bolt(settings: Settings) -> CheckResult:
    """The Bolt runner's check (bolt.check): binary and version, task in the project, test node."""
    from . import bolt

    if not settings.configured:
        return CheckResult(False, "Not configured yet: save the Bolt project directory first.")
    ok, message = bolt.check(settings.bolt_binary, settings.bolt_project, settings.task, settings.bolt_test_node)
    return CheckResult(ok, ("Test passed: " if ok else "Test failed: ") + message)


def check_orchestrator(settings: Settings) -> CheckResult:
    if settings.runner == "bolt":
        return check_bolt(settings)
    if not settings.configured:
        return CheckResult(False, "Not configured yet: save the orchestrator URL, the RBAC token and the CA "
                                  "certificate first.")
    try:
        with orchestrator.OrchestratorClient(settings.url, settings.token, settings.ca_cert,
                                             connect_timeout=5, read_timeout=10) as client:
            client.task_info(settings.task, settings.environment)
    except orchestrator.OrchestratorError as exc:
        return CheckResult(False, failure_text(exc))
    except Exception as exc:  # never "internal error" alone: the exception in words
        return CheckResult(False, "Test failed: an unexpected error (%s: %s). %s"
                           % (type(exc).__name__, " ".join(str(exc).split())[:300], _internal_hint()))
    return CheckResult(True, "Test passed: connected to %s, its TLS certificate verified against the configured CA, "
                             "the RBAC token was accepted, and the task %s is available in the Puppet environment %s."
                       % (orchestrator.normalize_base_url(settings.url), settings.task, settings.environment))
