"""The `/autodiag` command in an issue comment (plain Python): parsing, limits, answers.

Whoever can comment on the issue may ask (Sentry decides who comments). A comment is
hostile text: only its first line is read, only when it starts at column 0 with the exact
ASCII `/autodiag` (a quoted `> /autodiag`, an indented or fenced code block, a look-alike
slash such as U+2215 or U+FF0F are not the command), and at most one word follows it: the
node. That word passes the same checks as an event's `server_name` (targeting.certname_for:
ASCII host name, the allowed node pattern, the certname suffix) and then the PQL scope, in
PE; nothing else of the comment reaches PE. Requests are limited per issue and per project
in any hour (a sliding window in Redis, one Lua script so concurrent workers never exceed
it); every request gets a short answer note: refused (which limit, which node, why) or
accepted ("diagnosis started, job N").
"""
import re
import time
from typing import Any, NamedTuple, Optional

from . import hourly_limits
from .report import md_code, md_text
from .targeting import NodeRejected, certname_for

COMMAND = "/autodiag"
MAX_COMMENT_CHARS = 8192     # longer comments are not commands (Sentry allows far longer notes)
MAX_FIRST_LINE = 300
MAX_ACTOR = 100
COMMENT_ID = re.compile(r"\A[1-9][0-9]{0,19}\Z")
NODE_LABEL = "/autodiag <node>"
_SPACE = " \t"


class Command(NamedTuple):
    node: Optional[str]           # the raw word after the command (untrusted), None: the node diagnosed before
    usage: Optional[str] = None   # why the line is a malformed command (answered with the usage)


def parse(text: Any) -> Optional[Command]:
    """The command in a comment, or None when the comment is not one."""
    if not isinstance(text, str) or not text or len(text) > MAX_COMMENT_CHARS:
        return None
    first = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]
    if not first.startswith(COMMAND):
        return None
    rest = first[len(COMMAND):]
    if rest and rest[0] not in _SPACE:
        return None              # /autodiagnose, /autodiag:, /autodiag\x00...: another word
    if len(first) > MAX_FIRST_LINE:
        return Command(None, "the command line is longer than %d characters" % MAX_FIRST_LINE)
    words = rest.strip(_SPACE)
    if not words:
        return Command(None)
    if any(c in words for c in _SPACE):
        return Command(None, "only one node may follow /autodiag")
    return Command(words)


def clean_comment_id(value: Any) -> Optional[str]:
    """Sentry's comment (Activity) id as a string of digits, else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and COMMENT_ID.match(value) else None


def actor_name(value: Any) -> str:
    """Who asked, as Sentry names them (untrusted: bounded here, escaped in the notes)."""
    text = " ".join(value.split()) if isinstance(value, str) else ""
    return text[:MAX_ACTOR] or "someone"


def resolve_node(command: Command, last_node: Optional[str], settings) -> str:
    """The certname to diagnose: the one named (checked as an event's server_name is) or the
    one diagnosed before on this issue (checked again: the settings may have changed).
    Raises NodeRejected with a message for the answer note."""
    if command.usage:
        raise NodeRejected("usage", "Not understood: %s. Write /autodiag alone (the node diagnosed before) or "
                                    "/autodiag <node> on the first line." % command.usage)
    raw = command.node if command.node is not None else last_node
    if raw is None:
        raise NodeRejected("no-node", "No node was diagnosed on this issue yet (or that record expired): name "
                                      "one, /autodiag <node>.")
    try:
        return certname_for(raw, NODE_LABEL, settings.node_pattern, settings.certname_suffix)
    except NodeRejected as exc:
        raise NodeRejected(exc.code, exc.message.replace("The event's `%s`" % NODE_LABEL, "The node named"))


# --- rate limits ---------------------------------------------------------------------------



class RateLimit:
    """Requests per issue and per project in the last hour, in Redis (raises the client's errors)."""

    def __init__(self, client, prefix: str, now=time.time):
        self.client = client
        self.prefix = prefix
        self.now = now

    def take(self, project: Any, issue: Any, request_id: str, per_issue: int, per_project: int) -> Optional[str]:
        """None when the request may run (and is counted), else the limit it hit: "issue" or "project"."""
        hit = hourly_limits.take(self.client, "%s:issue:%s" % (self.prefix, issue),
                                 "%s:project:%s" % (self.prefix, project), request_id, per_issue, per_project, self.now())
        return {hourly_limits.COUNTED: None, hourly_limits.ITEM_LIMIT: "issue", hourly_limits.PROJECT_LIMIT: "project"}[hit]


# --- the answers ---------------------------------------------------------------------------

def requested_line(actor: str, at: str) -> str:
    """The line that opens the note of a requested diagnosis: who asked, when."""
    return "**Requested** by %s at %s with %s\n\n" % (md_text(actor, MAX_ACTOR), md_code(at or "?", 40),
                                                        md_code(COMMAND))


def refused_limit(limit: str, per_issue: int, per_project: int) -> str:
    if limit == "issue":
        what = "the limit of %d requested diagnoses per issue per hour" % per_issue
    else:
        what = "the limit of %d requested diagnoses per project per hour" % per_project
    return "**Puppet diagnostics** %s refused: %s is reached. Try again later." % (md_code(COMMAND), md_text(what))


def refused_node(exc: NodeRejected) -> str:
    headline = {"no-node": "no node", "usage": "not understood", "not-allowed": "node not allowed",
                "unknown": "unknown node"}.get(exc.code, "node refused")
    return "**Puppet diagnostics** %s refused (%s): %s" % (md_code(COMMAND), md_text(headline, 40),
                                                           md_text(exc.message, 600))


def refused_off() -> str:
    return "**Puppet diagnostics** %s refused: requested diagnoses are switched off for this project." % (
        md_code(COMMAND),)


def accepted(node: str, job: Optional[str]) -> str:
    if job:
        return "**Puppet diagnostics** for %s: diagnosis started, job %s." % (md_code(node), md_code(job))
    return "**Puppet diagnostics** for %s: diagnosis queued; it starts when a running one ends." % (md_code(node),)
