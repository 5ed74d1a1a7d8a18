"""The recorded-answer corpus: PE 2019.8 / 2021.7 / 2023.x / 2025.x answers and the answers of
what stands in front of PE (load balancers, proxies, SSO gateways, firewalls), each served to
a real OrchestratorClient, with what the client must return or raise and, where the flow turns
it into a note, what the note must say.

Each entry of tests/fixtures/pe_answers/{proxies,rbac_and_refusals,jobs_versions,
post_task_versions,node_results}.json holds:
- `call`: the client method (run_task, job, job_node, job_nodes, stop, task_info) and `args`;
- `answers`: the HTTP answers in order ({status, headers, body | text}); a string
  "$REPEAT(c,n)" inside a body stands for n copies of c (a huge output without a huge file);
- either `returns` (what the call gives; for job_node a subset of NodeResult fields) or
  `raises` (the OrchestratorError subclass) with `retryable`, `kind`, `foreign`, `retry_after`,
  `message_has` / `message_lacks`;
- optionally `note` ({has, lacks, max_len}): the note the flow writes for it, built with the
  same diagnosis functions the flow calls (note_for_error, note_for_node,
  note_for_missing_node_result), Markdown escapes removed before matching;
- optionally `sent` (requests made) and `paths` (their paths after /orchestrator/v1).
"""
import json
import os
import re

import pytest

from sentry_autodiag import diagnosis
from sentry_autodiag import orchestrator as oc
from recorded_pe import RecordedPE
from localorch import pki
from sentry_autodiag.report import NoteContext

ANSWERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "pe_answers")
CORPUS_FILES = ["proxies", "rbac_and_refusals", "jobs_versions", "post_task_versions", "node_results"]
NODE = "web01.example.com"
CTX = NoteContext(node=NODE, task="diagnostics::collect", environment="production", job="81")
def corpus():
    entries = []
    for name in CORPUS_FILES:
        with open(os.path.join(ANSWERS, name + ".json"), encoding="utf-8") as fh:
            for key, entry in json.load(fh).items():
                entries.append(pytest.param(entry, id="%s:%s" % (name, key)))
    return entries


@pytest.fixture(scope="module")
def ca_pem():
    return pki.generate(["pe.example.com"]).ca_pem


def call(client, entry):
    args = dict(entry.get("args") or {})
    what = entry["call"]
    if what == "run_task":
        if not any(k in args for k in ("nodes", "query", "node_group")):
            args["nodes"] = [NODE]
        return client.run_task("diagnostics::collect", {"log_lines": 200}, **args)
    if what == "job":
        return client.job(entry.get("name", "81"))
    if what == "job_node":
        return client.job_node(entry.get("name", "81"), entry.get("node", NODE))
    if what == "job_nodes":
        return client.job_nodes(entry.get("name", "81"))
    if what == "stop":
        return client.stop(entry.get("name", "81"), force=True)
    if what == "task_info":
        return client.task_info("diagnostics::collect", "production")
    raise AssertionError("unknown call %r" % what)


def plain(note):
    return re.sub(r"\\(.)", r"\1", note)


def check_note(expected, note):
    text = plain(note)
    for words in expected.get("has", []):
        assert words in text, "%r not in the note:\n%s" % (words, text)
    for words in expected.get("lacks", []):
        assert words not in text, "%r in the note:\n%s" % (words, text)
    if "max_len" in expected:
        assert len(note) <= expected["max_len"]


def check_returns(entry, value):
    expected = entry["returns"]
    what = entry["call"]
    if what == "job":
        for key, want in expected.items():
            got = {"state": value.state, "done": value.done, "node_count": value.node_count,
                   "node_states": value.node_states, "duration": value.duration}[key]
            assert got == want, (key, got, want)
    elif what == "job_nodes":
        assert [[n.name, n.state] for n in value] == expected
    elif what == "job_node":
        if expected is None:
            assert value is None
            return
        assert isinstance(value, oc.NodeResult)
        for key, want in expected.items():
            if key == "error_kind":
                got = (value.error or {}).get("kind")
            elif key == "error_msg":
                got = (value.error or {}).get("msg")
            elif key == "output_len":
                got = len(value.output or "")
            elif key == "not_connected":
                got = diagnosis.is_not_connected(value)
            else:
                got = getattr(value, key)
            assert got == want, (key, got, want)
    else:
        assert value == expected


@pytest.mark.parametrize("entry", corpus())
def test_recorded_answer(ca_pem, entry):
    base = entry.get("base", "https://pe.example.com:8143")
    client = oc.OrchestratorClient(base, "0VZ4Ue0k-token", ca_pem)
    pe = RecordedPE(entry["answers"])
    client.session.mount("https://", pe)
    try:
        if "raises" in entry:
            with pytest.raises(oc.OrchestratorError) as caught:
                call(client, entry)
            exc = caught.value
            assert type(exc).__name__ == entry["raises"], (type(exc).__name__, exc.message)
            assert exc.retryable is entry["retryable"]
            assert exc.message and len(exc.message) < 600 and "\n" not in exc.message
            assert "0VZ4Ue0k" not in exc.message  # never the token
            for key in ("kind", "foreign", "retry_after"):
                if key in entry:
                    assert getattr(exc, key) == entry[key], (key, getattr(exc, key))
            for words in entry.get("message_has", []):
                assert words in exc.message, (words, exc.message)
            for words in entry.get("message_lacks", []):
                assert words not in exc.message, (words, exc.message)
            if "note" in entry:
                check_note(entry["note"], diagnosis.note_for_error(CTX, exc, attempts=3))
        else:
            value = call(client, entry)
            check_returns(entry, value)
            if "note" in entry:
                if value is None:
                    note = diagnosis.note_for_missing_node_result(CTX, entry.get("job_state", "finished"))
                else:
                    note = diagnosis.note_for_node(CTX, value)
                check_note(entry["note"], note)
        if "sent" in entry:
            assert len(pe.sent) == entry["sent"], pe.sent
        if "paths" in entry:
            assert [url.split("/orchestrator/v1", 1)[1] for _, url, _ in pe.sent] == entry["paths"]
    finally:
        oc._REFUSES_TIMEOUT.discard(oc.normalize_base_url(base))
        client.close()


def test_the_corpus_is_wide():
    counts = {name: len(json.load(open(os.path.join(ANSWERS, name + ".json")))) for name in CORPUS_FILES}
    assert sum(counts.values()) >= 40, counts
