"""Checks task parameters against the Puppet types a task's metadata declares.

PE refuses a task run whose params do not match the task's declared types; the settings
check refuses a routing rule's params that PE would refuse, and the local orchestrator (a
development double, which imports this module) must refuse the same and accept what Puppet
accepts. It lives in the product package because the settings check needs it in production.
Checked: Any, Data, RichData, Scalar, ScalarData, String, Integer, Float, Numeric, Boolean, Undef, Optional,
NotUndef, Enum (quoted strings or bare words), Pattern, Array, Hash, Tuple, Struct,
Variant, Collection. A type this module cannot check (a module type such as
Stdlib::Absolutepath, a type alias, Sensitive, Timestamp, …) is passed through: any value
is accepted, as a checker that knows less than Puppet must not refuse what Puppet runs.
"""
import re
from typing import Any, List, Tuple


class PuppetTypeError(ValueError):
    """The type expression itself is malformed."""


_TOKEN = re.compile(r"\s*(?:(/(?:\\.|[^/\\])*/)|(\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*')|"
                    r"(-?\d+(?:\.\d+)?)|((?:::)?[A-Z][A-Za-z0-9_]*(?:::[A-Z][A-Za-z0-9_]*)*)|"
                    r"(default\b)|((?:::)?[a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)|(=>|[\[\],{}]))")
_KINDS = ("regex", "string", "number", "name", "default", "bare", "punct")


def _tokenize(text: str) -> List[Tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise PuppetTypeError("cannot parse type %r at %r" % (text, text[pos:pos + 20]))
        for kind, value in zip(_KINDS, m.groups()):
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
            if self.peek() != ("punct", "]"):
                while True:
                    args.append(self.argument())
                    if self.peek() == ("punct", ","):
                        self.take()
                        if self.peek() == ("punct", "]"):  # Puppet allows a trailing comma
                            break
                        continue
                    break
            self.take("punct", "]")
        return (name.lstrip(":"), args)

    def argument(self):
        kind, value = self.peek()
        if kind == "name":
            return self.type_expr()
        if (kind, value) == ("punct", "{"):
            return self.hash_literal()
        self.take()
        if kind == "regex":
            return ("/re/", _ruby_regex(value[1:-1]))
        if kind == "string":
            return ("str", value[1:-1].replace("\\" + value[0], value[0]))
        if kind == "bare":  # Enum[present, absent]: bare words are strings
            return ("str", value)
        if kind == "number":
            return ("num", float(value) if "." in value else int(value))
        if kind == "default":
            return ("default", None)
        raise PuppetTypeError("unexpected %r in type %r" % (value, self.text))

    def hash_literal(self):
        """{ key => Type, Optional['key'] => Type, … } as in Struct[{…}]."""
        self.take("punct", "{")
        entries = []
        while self.peek() != ("punct", "}"):
            key = self.argument()
            self.take("punct", "=>")
            entries.append((key, self.argument()))
            if self.peek() == ("punct", ","):
                self.take()
            elif self.peek() != ("punct", "}"):
                raise PuppetTypeError("expected ',' or '}' in type %r" % self.text)
        self.take("punct", "}")
        return ("{}", entries)


def parse_type(text: str):
    """Parses a type expression; raises PuppetTypeError when it is not valid syntax."""
    if not isinstance(text, str) or not text.strip():
        raise PuppetTypeError("a parameter type must be a non-empty string")
    node = _Parser(text).parse()
    _check_shape(node)
    return node


def _check_shape(node) -> None:
    """Struct keys must be strings; a hash literal stands only in a Struct."""
    name, args = node
    if name == "Struct" and args:
        if len(args) != 1 or args[0][0] != "{}":
            raise PuppetTypeError("Struct takes one hash of keys to types")
        for key, vtype in args[0][1]:
            _struct_key(key)
            if _is_type(vtype):
                _check_shape(vtype)
        return
    for arg in args:
        if isinstance(arg, tuple) and arg[0] == "{}":
            raise PuppetTypeError("a hash literal is only allowed in Struct[…]")
        if _is_type(arg):
            _check_shape(arg)


CHECKED = {"Any", "Data", "RichData", "Scalar", "ScalarData", "String", "Integer", "Float", "Numeric",
           "Boolean", "Undef", "Optional", "NotUndef", "Enum", "Pattern", "Array", "Hash", "Tuple", "Struct",
           "Variant", "Collection"}


def is_checked(node) -> bool:
    """False for a type this module passes through unchecked (module types, aliases, …)."""
    return isinstance(node, tuple) and node[0] in CHECKED


def _is_type(arg) -> bool:
    return isinstance(arg, tuple) and len(arg) == 2 and isinstance(arg[1], list)


def _bounds(args, default_low=None, default_high=None):
    nums = [a[1] if a[0] == "num" else None for a in args]
    low = nums[0] if len(nums) > 0 and nums[0] is not None else default_low
    high = nums[1] if len(nums) > 1 and nums[1] is not None else default_high
    return low, high


def _size_ok(size, args, default_low=0, default_high=None):
    low, high = _bounds(args, default_low, default_high)
    return size >= (low or 0) and (high is None or size <= high)


def _struct_key(key):
    """A Struct key: 'name', Optional['name'] or NotUndef['name'] → (name, optional-key?)."""
    if key[0] == "str":
        return key[1], False
    if _is_type(key) and key[0] in ("Optional", "NotUndef") and key[1] and key[1][0][0] == "str":
        return key[1][0][1], key[0] == "Optional"
    raise PuppetTypeError("a Struct key must be a string, Optional['key'] or NotUndef['key']")


def matches(node, value: Any) -> bool:
    """True when `value` (decoded JSON) is an instance of the parsed type."""
    name, args = node
    if name not in CHECKED:
        return True  # passed through: see the module docstring
    if name == "Any":
        return True
    if name == "Undef":
        return value is None
    if name == "Optional":
        return value is None or (not args or (matches(args[0], value) if _is_type(args[0])
                                              else value == args[0][1]))
    if name == "NotUndef":
        return value is not None and (not args or not _is_type(args[0]) or matches(args[0], value))
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
        return isinstance(value, str) and _size_ok(len(value), args)
    if name == "Enum":
        return isinstance(value, str) and value in [a[1] for a in args if a[0] == "str"]
    if name == "Pattern":
        if not isinstance(value, str):
            return False
        return any((a[1].search(value) if a[0] == "/re/" else re.search(a[1], value, re.MULTILINE))
                   for a in args if a[0] in ("/re/", "str"))
    if name == "Array":
        if not isinstance(value, list):
            return False
        elem = args[0] if args and _is_type(args[0]) else None
        if not _size_ok(len(value), args[1:] if elem else args):
            return False
        return elem is None or all(matches(elem, v) for v in value)
    if name == "Hash":
        if not isinstance(value, dict):
            return False
        types = [a for a in args if _is_type(a)]
        if not _size_ok(len(value), args[len(types):]):
            return False
        if len(types) >= 2:
            return all(matches(types[0], k) and matches(types[1], v) for k, v in value.items())
        return True
    if name == "Collection":
        return isinstance(value, (list, dict)) and _size_ok(len(value), args)
    if name == "Tuple":
        if not isinstance(value, list):
            return False
        types = [a for a in args if _is_type(a)]
        sizes = args[len(types):]
        low, high = _bounds(sizes, len(types), None if sizes else len(types))
        if len(value) < low or (high is not None and len(value) > high):
            return False
        return all(matches(types[min(i, len(types) - 1)], v) for i, v in enumerate(value)) if types else True
    if name == "Struct":
        if not isinstance(value, dict):
            return False
        if not args:
            return True
        declared = {}
        for key, vtype in args[0][1]:
            kname, optional_key = _struct_key(key)
            declared[kname] = (vtype, optional_key or (_is_type(vtype) and matches(vtype, None)))
        if set(value) - set(declared):
            return False
        for kname, (vtype, optional) in declared.items():
            if kname not in value:
                if not optional:
                    return False
            elif _is_type(vtype) and not matches(vtype, value[kname]):
                return False
        return True
    if name == "Variant":
        return any(matches(a, value) for a in args if _is_type(a))
    if name in ("Data", "RichData"):
        return _is_data(value)
    if name in ("Scalar", "ScalarData"):
        return isinstance(value, (str, int, float, bool))
    return True


def _is_data(value) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, list):
        return all(_is_data(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_data(v) for k, v in value.items())
    return False
