"""Checks task parameters against the Puppet core types a task's metadata declares.

PE refuses a task run whose params do not match the task's declared types; the local
orchestrator must refuse the same. Only Puppet *core* types are understood (a task may
not use stdlib types without declaring the dependency): Any, Data, String, Integer,
Float, Numeric, Boolean, Undef, Optional, NotUndef, Enum, Pattern, Array, Hash,
Variant, Tuple-free subset. Unknown types are a metadata error, not a pass.
"""
import re
from typing import Any, List, Tuple


class PuppetTypeError(ValueError):
    """The type expression itself is malformed or not a supported core type."""


_TOKEN = re.compile(r"\s*(?:(/(?:\\.|[^/\\])*/)|(\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*')|"
                    r"(-?\d+(?:\.\d+)?)|([A-Z][A-Za-z0-9_]*(?:::[A-Z][A-Za-z0-9_]*)*)|(default)|([\[\],]))")


def _tokenize(text: str) -> List[Tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise PuppetTypeError("cannot parse type %r at %r" % (text, text[pos:pos + 20]))
        kinds = ("regex", "string", "number", "name", "default", "punct")
        for kind, value in zip(kinds, m.groups()):
            if value is not None:
                tokens.append((kind, value))
                break
        pos = m.end()
    return tokens


def _ruby_regex(body: str) -> "re.Pattern":
    """Ruby regexes: ^ and $ match at every line (hence MULTILINE); \\z is Python's \\Z."""
    body = body.replace("\\z", "\\Z")
    try:
        return re.compile(body, re.MULTILINE)
    except re.error as exc:
        raise PuppetTypeError("bad regex /%s/: %s" % (body, exc))


class _Parser:
    def __init__(self, text):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None)

    def take(self, kind=None, value=None):
        tok = self.peek()
        if tok[0] is None or (kind and tok[0] != kind) or (value and tok[1] != value):
            raise PuppetTypeError("unexpected %r in type %r" % (tok[1], self.text))
        self.i += 1
        return tok

    def parse(self):
        node = self.type_expr()
        if self.i != len(self.tokens):
            raise PuppetTypeError("trailing text in type %r" % self.text)
        return node

    def type_expr(self):
        _, name = self.take("name")
        args = []
        if self.peek() == ("punct", "["):
            self.take()
            while True:
                args.append(self.argument())
                if self.peek() == ("punct", ","):
                    self.take()
                    continue
                self.take("punct", "]")
                break
        return (name, args)

    def argument(self):
        kind, value = self.peek()
        if kind == "name":
            return self.type_expr()
        self.take()
        if kind == "regex":
            return ("/re/", _ruby_regex(value[1:-1]))
        if kind == "string":
            return ("str", value[1:-1].replace("\\" + value[0], value[0]))
        if kind == "number":
            return ("num", float(value) if "." in value else int(value))
        if kind == "default":
            return ("default", None)
        raise PuppetTypeError("unexpected %r in type %r" % (value, self.text))


def parse_type(text: str):
    """Parses a type expression; raises PuppetTypeError when it is not valid."""
    if not isinstance(text, str) or not text.strip():
        raise PuppetTypeError("a parameter type must be a non-empty string")
    node = _Parser(text).parse()
    _check_known(node)
    return node


_KNOWN = {"Any", "Data", "Scalar", "String", "Integer", "Float", "Numeric", "Boolean", "Undef",
          "Optional", "NotUndef", "Enum", "Pattern", "Array", "Hash", "Variant"}


def _check_known(node):
    name, args = node
    if name not in _KNOWN:
        raise PuppetTypeError("%s is not a Puppet core type this orchestrator knows" % name)
    for arg in args:
        if isinstance(arg, tuple) and arg and isinstance(arg[0], str) and arg[0] in _KNOWN:
            _check_known(arg)


def _bounds(args, default_low=None, default_high=None):
    nums = [a[1] if a[0] == "num" else None for a in args]
    low = nums[0] if len(nums) > 0 else default_low
    high = nums[1] if len(nums) > 1 else default_high
    return low, high


def matches(node, value: Any) -> bool:
    """True when `value` (decoded JSON) is an instance of the parsed type."""
    name, args = node
    if name == "Any":
        return True
    if name == "Undef":
        return value is None
    if name == "Optional":
        return value is None or (not args or matches(args[0], value))
    if name == "NotUndef":
        return value is not None and (not args or matches(args[0], value))
    if name == "Boolean":
        return isinstance(value, bool)
    if name in ("Integer", "Float", "Numeric"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if name == "Integer" and not isinstance(value, int):
            return False
        if name == "Float" and not isinstance(value, float):
            return False
        low, high = _bounds(args)
        return (low is None or value >= low) and (high is None or value <= high)
    if name == "String":
        if not isinstance(value, str):
            return False
        low, high = _bounds(args, 0, None)
        return len(value) >= (low or 0) and (high is None or len(value) <= high)
    if name == "Enum":
        return isinstance(value, str) and value in [a[1] for a in args if a[0] == "str"]
    if name == "Pattern":
        return isinstance(value, str) and any(a[1].search(value) for a in args if a[0] == "/re/")
    if name == "Array":
        if not isinstance(value, list):
            return False
        elem = args[0] if args and args[0][0] in _KNOWN else None
        low, high = _bounds(args[1:] if elem else args, 0, None)
        if len(value) < (low or 0) or (high is not None and len(value) > high):
            return False
        return elem is None or all(matches(elem, v) for v in value)
    if name == "Hash":
        return isinstance(value, dict)
    if name == "Variant":
        return any(matches(a, value) for a in args)
    if name in ("Data", "Scalar"):
        return value is None or isinstance(value, (str, int, float, bool, list, dict))
    return False
