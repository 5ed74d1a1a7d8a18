"""The PQL subset the local orchestrator (and its PuppetDB stand-in) understands.

    nodes[certname] { certname = "web01.example.com" }
    nodes[certname] { certname ~ "^web0[0-9]\\.example\\.com$" and not certname = "web09.example.com" }
    nodes[certname] { certname = "web01.example.com" and inventory { facts.os.family = "RedHat" } }
    nodes { facts { name = "kernel" and value = "Linux" } }
    inventory[certname] { facts.os.family = "RedHat" and facts.processors.count >= 2 }

Entities: `nodes` (fields: certname; implicit subqueries `inventory { … }` and
`facts { name/value … }`) and `inventory` (fields: certname, `facts.<path>`). Operators:
=, !=, ~, !~, <, <=, >, >=, and, or, not, parentheses; values are strings, numbers,
true/false. Facts come from a small fact set per node. As in PuppetDB, a dotted
`facts.<path>` is a field of `inventory`, not of `nodes`. Anything else is a query
error; the wording of PuppetDB's own parse errors is not reproduced.
"""
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

Facts = Dict[str, Any]
Predicate = Callable[[str, Facts], bool]


class PQLError(ValueError):
    pass


_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\')|(?P<num>-?\d+(?:\.\d+)?)|'
                    r'(?P<op>!=|!~|<=|>=|=|~|<|>|\(|\)|\[|\]|\{|\}|,)|'
                    r'(?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z0-9_-]+|"(?:\\.|[^"\\])*"))*))')
_MISSING = object()


def _tokens(text: str) -> List[Tuple[str, Any]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise PQLError("PQL parse error at %r" % text[pos:pos + 30])
        kind = m.lastgroup
        value: Any = m.group(kind)
        if kind == "str":
            value = re.sub(r'\\(.)', r'\1', value[1:-1])
        elif kind == "num":
            value = float(value) if "." in value else int(value)
        out.append((kind, value))
        pos = m.end()
    return out


def fact_value(facts: Facts, path: str) -> Any:
    """facts.os.family → facts["os"]["family"]; a missing step is _MISSING."""
    value: Any = facts
    for step in [p.strip('"') for p in re.findall(r'"(?:\\.|[^"\\])*"|[^.]+', path)]:
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return _MISSING
    return value


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if actual is _MISSING:
        return False
    if op in ("=", "!="):
        if isinstance(actual, bool) or isinstance(expected, bool):
            same = actual is expected
        else:
            same = actual == expected
        return same if op == "=" else not same
    if op in ("~", "!~"):
        if not isinstance(expected, str):
            raise PQLError("the regex operator needs a string")
        try:
            rx = re.compile(expected)
        except re.error as exc:
            raise PQLError("invalid regular expression %r: %s" % (expected, exc))
        hit = isinstance(actual, str) and rx.search(actual) is not None
        return hit if op == "~" else not hit
    if not isinstance(expected, (int, float)) or isinstance(expected, bool):
        raise PQLError("%s needs a number" % op)
    if isinstance(actual, bool) or not isinstance(actual, (int, float)):
        return False
    return {"<": actual < expected, "<=": actual <= expected, ">": actual > expected, ">=": actual >= expected}[op]


class _Parser:
    def __init__(self, text):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self, kind=None, value=None):
        tok = self.peek()
        if tok[0] is None or (kind and tok[0] != kind) or (value is not None and tok[1] != value):
            raise PQLError("PQL parse error: expected %s, got %r" % (value or kind, tok[1]))
        self.i += 1
        return tok[1]

    def query(self) -> Predicate:
        entity = self.take("word")
        if entity not in ("nodes", "inventory"):
            raise PQLError("the entity %r is not supported here (nodes or inventory)" % entity)
        if self.peek() == ("op", "["):
            self.take()
            fields = [self.take("word")]
            while self.peek() == ("op", ","):
                self.take()
                fields.append(self.take("word"))
            self.take("op", "]")
            if fields != ["certname"]:
                raise PQLError("the orchestrator needs the query to project certname only")
        pred = self.braces(entity)
        if self.peek()[0] is not None:
            raise PQLError("PQL parse error: trailing %r" % (self.peek()[1],))
        return pred

    def braces(self, entity) -> Predicate:
        self.take("op", "{")
        if self.peek() == ("op", "}"):  # nodes {}: every node
            self.take()
            return lambda n, f: True
        pred = self.or_expr(entity)
        self.take("op", "}")
        return pred

    def or_expr(self, entity):
        left = self.and_expr(entity)
        while self.peek() == ("word", "or"):
            self.take()
            right = self.and_expr(entity)
            left = (lambda a, b: lambda n, f: a(n, f) or b(n, f))(left, right)
        return left

    def and_expr(self, entity):
        left = self.unary(entity)
        while self.peek() == ("word", "and"):
            self.take()
            right = self.unary(entity)
            left = (lambda a, b: lambda n, f: a(n, f) and b(n, f))(left, right)
        return left

    def unary(self, entity):
        if self.peek() == ("word", "not"):
            self.take()
            inner = self.unary(entity)
            return lambda n, f: not inner(n, f)
        if self.peek() == ("op", "("):
            self.take()
            inner = self.or_expr(entity)
            self.take("op", ")")
            return inner
        field = self.take("word")
        if self.peek() == ("op", "{"):
            return self.subquery(entity, field)
        op = self.take("op")
        if op not in ("=", "!=", "~", "!~", "<", "<=", ">", ">="):
            raise PQLError("unsupported operator %r" % op)
        value = self.value()
        if op in ("~", "!~"):
            _compare(op, "", value)  # a bad regex is a query error at once, not at evaluation
        if field == "certname":
            return lambda n, f: _compare(op, n, value)
        if field.startswith("facts.") and entity == "inventory":
            path = field[len("facts."):]
            return lambda n, f: _compare(op, fact_value(f, path), value)
        if entity == "facts" and field in ("name", "value"):
            return lambda n, f: _compare(op, f.get(field, _MISSING), value)
        raise PQLError("'%s' is not a queryable object for %s" % (field, entity))

    def value(self):
        kind, value = self.peek()
        if kind in ("str", "num"):
            self.take()
            return value
        if kind == "word" and value in ("true", "false"):
            self.take()
            return value == "true"
        raise PQLError("PQL parse error: expected a value, got %r" % (value,))

    def subquery(self, entity, sub) -> Predicate:
        if entity != "nodes" or sub not in ("inventory", "facts"):
            raise PQLError("the subquery %s { } is not supported for %s" % (sub, entity))
        inner = self.braces(sub)
        if sub == "inventory":
            return inner
        # facts { name = "kernel" and value = "Linux" }: some top-level fact matches
        return lambda n, f: any(inner(n, {"name": k, "value": v}) for k, v in f.items())


def compile_query(text: str) -> Callable[..., bool]:
    """PQL text → predicate(certname, facts=None); raises PQLError."""
    if not isinstance(text, str) or not text.strip():
        raise PQLError("empty query")
    inner = _Parser(text).query()

    def predicate(certname: str, facts: Optional[Facts] = None) -> bool:
        return inner(certname, facts or {})
    return predicate


def matching(text: str, nodes: Dict[str, Facts]) -> List[str]:
    """The certnames among `nodes` ({certname: facts}) the query selects, sorted."""
    predicate = compile_query(text)
    return sorted(n for n, facts in nodes.items() if predicate(n, facts or {}))


def default_facts(certname: str, family: Optional[str] = None) -> Facts:
    """A small, plausible fact set for a test node (RedHat unless the name says Debian/Ubuntu)."""
    short, _, domain = certname.partition(".")
    if family is None:
        family = "Debian" if re.search(r"deb|ubuntu", certname) else "RedHat"
    name, release = ("Debian", "12") if family == "Debian" else ("RedHat", "9")
    return {
        "kernel": "Linux",
        "os": {"family": family, "name": name, "release": {"major": release, "full": release + ".0"}},
        "networking": {"hostname": short, "domain": domain, "fqdn": certname},
        "processors": {"count": 2},
        "memory": {"system": {"total_bytes": 4 * 1024 ** 3}},
        "clientcert": certname,
    }
