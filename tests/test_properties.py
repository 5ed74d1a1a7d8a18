"""Property-based tests (hypothesis): whatever an event or a task sends, node validation
only lets plain host names through and notes stay
bounded, well-formed and inert."""
import html as htmlmod
import re
import socket

import mistune
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sentry_autodiag import orchestrator, report, settings as settings_mod, targeting

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HOSTILE_PIECES = list("ab.-_`~*[]()<>!#:/\\\"' \n\t\r\x00\x1b\u202e\u0430é\ufeff") + [
    "```", "\n```", "\n````\n", "~~~", "</script>", "<script>", "javascript:", "[x](", "http://", "<img src=x>",
    "# ", "- "]
HOSTILE_TEXT = st.lists(st.sampled_from(HOSTILE_PIECES), max_size=120).map("".join)
host_label = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\Z")
host_names = st.lists(host_label, min_size=1, max_size=4).map(".".join)


@SETTINGS
@given(st.one_of(st.text(max_size=300), HOSTILE_TEXT, st.binary(max_size=50).map(lambda b: b.decode("latin-1")),
                 st.integers(), st.none(), st.lists(st.text(max_size=5))))
@example("web01.example.com\n")
@example("web01\x00.example.com")
@example("10.0.0.1")
@example("w\u0435b01.example.com")
def test_only_plain_host_names_pass(raw):
    try:
        name = targeting.certname_for(raw)
    except targeting.NodeRejected as exc:
        assert exc.code in ("missing", "invalid", "not-allowed") and exc.message
        assert len(exc.message) < 400
        return
    assert isinstance(raw, str) and name == raw.lower()
    assert targeting.CERTNAME_CHARS.match(name) and re.fullmatch(targeting.DEFAULT_NODE_PATTERN, name)
    assert len(name) <= 253 and name.isascii()


def _resolver_reads_as_ip(name):
    """The oracle: the C library's inet_aton, which reads 127.1, 010.000.000.001 (octal),
    0x7f.1 and 2130706433 as addresses, as resolvers and ping do."""
    try:
        socket.inet_aton(name)
        return True
    except OSError:
        return False


@SETTINGS
@given(host_names)
@example("127.1")
@example("010.000.000.001")
@example("0x7f.1")
@example("2130706433")
@example("1.2.3.4.5")
@example("0x.1")
def test_valid_host_names_are_accepted_and_ip_literals_in_any_form_refused(name):
    if _resolver_reads_as_ip(name):
        try:
            targeting.certname_for(name)
        except targeting.NodeRejected as exc:
            assert exc.code == "invalid" and "IP address" in exc.message
        else:
            raise AssertionError("%r is an IP literal but was accepted" % name)
    else:
        assert targeting.certname_for(name) == name


@SETTINGS
@given(HOSTILE_TEXT)
def test_a_pql_constraint_cannot_break_out_of_its_braces(constraint):
    try:
        checked = targeting.check_pql_constraint(constraint)
    except ValueError:
        return
    if not checked:
        return
    query = targeting.scope_for("web01.example.com", checked)["query"]
    depth, in_string, i, closed_at = 0, False, 0, None
    while i < len(query):
        c = query[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                closed_at = i
        i += 1
    assert closed_at == len(query) - 1  # the only closing brace is the last character


def render(markdown_text):
    return mistune.create_markdown(escape=False)(markdown_text)


section = st.fixed_dictionaries({
    "id": HOSTILE_TEXT, "title": HOSTILE_TEXT, "command": HOSTILE_TEXT, "truncated": st.booleans(),
    "body": st.one_of(HOSTILE_TEXT, st.text(max_size=2000))})
finding = st.fixed_dictionaries({"severity": st.sampled_from(["critical", "warning", "info", "<b>"]),
                                 "code": HOSTILE_TEXT, "message": HOSTILE_TEXT})


FENCE_BREAKER = [{"id": "a", "title": "t", "command": "c", "truncated": False, "body": "a\n```\n# b\n````\nc"},
                 {"id": "b", "title": "t", "command": "c", "truncated": False, "body": "x"}]


@SETTINGS
@given(st.lists(section, min_size=1, max_size=6), st.lists(finding, max_size=5), HOSTILE_TEXT,
       st.integers(min_value=2000, max_value=report.MAX_NOTE_CHARS))
@example(FENCE_BREAKER, [], "web01", report.MAX_NOTE_CHARS)
def test_notes_stay_bounded_structured_and_inert(sections, findings, node, max_chars):
    ctx = report.NoteContext(node=node, task="diagnostics::collect", environment="production", job="1",
                             state="finished", duration=1.0)
    note = report.render_report(ctx, report={"sections": sections, "findings": findings, "host": node},
                                max_chars=max_chars)
    assert len(note) <= max_chars
    html = render(note)
    assert "<script" not in html and "<img" not in html and not re.search(r"<a\s", html)
    omitted = re.search(r"(\d+) more section\(s\) did not fit", note)
    blocks = [htmlmod.unescape(b) for b in re.findall(r"<pre><code[^>]*>(.*?)</code></pre>", html, re.S)]
    assert len(blocks) == len(sections) - (int(omitted.group(1)) if omitted else 0)
    # every section's text comes out verbatim inside its own block: nothing escaped the fence
    expected = [_lines(report.visible(s["body"])) for s in sections]
    for block in blocks:
        assert _lines(block) in expected
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202e]", note)


def _lines(text):
    """Block text modulo trailing blanks, which renderers may trim."""
    return "\n".join(line.expandtabs(4).rstrip() for line in text.split("\n")).strip("\n")


@SETTINGS
@given(HOSTILE_TEXT)
def test_inline_code_is_one_code_span(text):
    html = render("x " + report.md_code(text) + " y")
    assert html.count("<code>") == 1 and "<script" not in html


@SETTINGS
@given(HOSTILE_TEXT)
def test_escaped_text_has_no_markup(text):
    html = render(report.md_text(text))
    tags = re.findall(r"<(/?[a-z0-9]+)", html)
    assert set(tags) <= {"p", "/p"}


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40) | HOSTILE_TEXT,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=12)


@SETTINGS
@given(st.sampled_from([f.name for f in settings_mod.FIELDS]), JSON_VALUES)
def test_every_setting_refuses_any_value_with_its_own_error(name, value):
    """Settings arrive from the plugin form, the gateway's YAML and alert rules' form JSON:
    whatever the value's type, a field either keeps it or says why not (never a TypeError)."""
    field = settings_mod.FIELDS_BY_NAME[name]
    try:
        field.clean(value)
    except (ValueError, orchestrator.ConfigurationError) as exc:
        assert str(exc)
