"""The small PQL subset the local orchestrator understands for `scope.query`.

    nodes[certname] { certname = "web01.example.com" }
    nodes[certname] { certname ~ "^web0[0-9]\\.example\\.com$" and not certname = "web09.example.com" }
    nodes { (certname = "a" or certname = "b") }

Fields: certname only (the inventory knows nothing else). Operators: =, !=, ~, !~,
and, or, not, parentheses. Anything else is a query error, as PuppetDB would say.
"""
import re
from typing import Callable, List, Tuple


class PQLError(ValueError):
    pass


_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:\\.|[^"\\])*")|(?P<op>!=|!~|=|~|\(|\)|\[|\]|\{|\}|,)|(?P<word>[A-Za-z_][A-Za-z0-9_]*))')


def _tokens(text: str) -> List[Tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise PQLError("PQL parse error at %r" % text[pos:pos + 30])
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "str":
            value = re.sub(r'\\(.)', r'\1', value[1:-1])
        out.append((kind, value))
        pos = m.end()
    return out


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

    def query(self):
        if self.take("word") != "nodes":
            raise PQLError("only the nodes entity is supported")
        if self.peek() == ("op", "["):
            self.take()
            fields = [self.take("word")]
            while self.peek() == ("op", ","):
                self.take()
                fields.append(self.take("word"))
            self.take("op", "]")
            if any(f != "certname" for f in fields):
                raise PQLError("only the certname field is supported")
        self.take("op", "{")
        pred = self.or_expr()
        self.take("op", "}")
        if self.peek()[0] is not None:
            raise PQLError("PQL parse error: trailing %r" % self.peek()[1])
        return pred

    def or_expr(self):
        left = self.and_expr()
        while self.peek() == ("word", "or"):
            self.take()
            right = self.and_expr()
            left = (lambda a, b: lambda n: a(n) or b(n))(left, right)
        return left

    def and_expr(self):
        left = self.unary()
        while self.peek() == ("word", "and"):
            self.take()
            right = self.unary()
            left = (lambda a, b: lambda n: a(n) and b(n))(left, right)
        return left

    def unary(self):
        if self.peek() == ("word", "not"):
            self.take()
            inner = self.unary()
            return lambda n: not inner(n)
        if self.peek() == ("op", "("):
            self.take()
            inner = self.or_expr()
            self.take("op", ")")
            return inner
        field = self.take("word")
        if field != "certname":
            raise PQLError("unknown field %r" % field)
        op = self.take("op")
        value = self.take("str")
        if op == "=":
            return lambda n: n == value
        if op == "!=":
            return lambda n: n != value
        if op in ("~", "!~"):
            try:
                rx = re.compile(value)
            except re.error as exc:
                raise PQLError("invalid regular expression %r: %s" % (value, exc))
            return (lambda n: rx.search(n) is not None) if op == "~" else (lambda n: rx.search(n) is None)
        raise PQLError("unsupported operator %r" % op)


def compile_query(text: str) -> Callable[[str], bool]:
    """PQL text → predicate on a certname; raises PQLError."""
    if not isinstance(text, str) or not text.strip():
        raise PQLError("empty query")
    return _Parser(text).query()
