"""Routing rules: which task, parameters and node tag an event gets, by what the error is.

A project covers an API, workers and a scheduler on different nodes with different
logs; one task with one log path cannot fit them all. The admin writes an ordered list
of rules (YAML or JSON, one settings field); the first rule whose conditions all hold
for the event decides. No rule matching means the project's default settings.

Safety: conditions are matched against event data (hostile), so patterns are bounded
and vetted before use (length caps, linear-time globs, regexes without nested or
alternated repetition, inputs cut to MAX_INPUT). What a rule *chooses* (task,
parameters, node tag) comes only from the admin's text: no event value ever flows into
a task parameter.
"""
import functools
import json
import math
import re
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import yaml

from . import suggest

try:  # the regex parser, to vet admin patterns; sre_parse is a deprecated alias since 3.11
    from re import _constants as sre_constants, _parser as sre_parse  # type: ignore
except ImportError:  # Python 3.8 - 3.10
    import sre_constants  # type: ignore
    import sre_parse  # type: ignore

MAX_TEXT = 20000            # characters of the whole rules field
MAX_RULES = 50
MAX_CONDITIONS = 20         # keys under one rule's `match`
MAX_ALTERNATIVES = 20       # values in one condition's list
MAX_PATTERN = 200           # characters of one exact value, glob or regex
MAX_INPUT = 200             # characters of an event value looked at (Sentry cuts tag values at 200)
MAX_NAME = 64
MAX_PARAMS = 20
MAX_PARAM_TEXT = 1024
MAX_PARAM_ITEMS = 16
MAX_VARIABLE_REPEATS = 3    # repetitions of variable length ({1,9}, *, +) in one regex...
MAX_UNBOUNDED_REPEATS = 2   # ...of which unbounded (*, +, {n,}): backtracking stays below ~1 ms on MAX_INPUT
MAX_REGEXES = 50            # regex alternatives in all rules together

TASK_NAME = re.compile(r"\A[a-z][a-z0-9_]*(::[a-z][a-z0-9_]*)?\Z")
TAG_NAME = re.compile(r"\A[a-zA-Z0-9_.:-]{1,32}\Z")
PARAM_NAME = re.compile(r"\A[a-z][a-z0-9_]{0,63}\Z")
#: condition keys that are not tags; every other key names an event tag
FACT_KEYS = ("exception_type", "environment", "level")
RULE_KEYS = ("name", "match", "diagnose", "task", "log_path", "log_lines", "params", "node_tag")
DEFAULT_TASK = "diagnostics::collect"
RESERVED_PARAMS = ("since",)           # the event time, set by the flow itself
COLLECT_TOP_LEVEL = ("log_path", "log_lines")


class RuleError(ValueError):
    """The rules text is unusable; the message names the rule (index and name) and the key."""


class Condition(NamedTuple):
    key: str                    # "exception_type", "environment", "level" or a tag name
    alternatives: Tuple[Tuple[str, Any], ...]  # ("exact"|"glob"|"regex", text or compiled regex); any may hold

    def holds(self, value: Optional[str]) -> bool:
        if value is None:
            return False
        return any(_match_one(kind, pattern, value) for kind, pattern in self.alternatives)


class Rule(NamedTuple):
    """One parsed rule. `log_path` None means "the settings' log path", "" means no log."""
    index: int                  # 1-based position, as the admin counts
    name: str
    conditions: Tuple[Condition, ...]
    diagnose: bool = True
    task: Optional[str] = None
    log_path: Optional[str] = None
    log_lines: Optional[int] = None
    params: Tuple[Tuple[str, Any], ...] = ()
    node_tag: Optional[str] = None

    def ref(self) -> Dict[str, Any]:
        """The JSON-safe reference a queue message carries (the worker re-reads the rule)."""
        return {"index": self.index, "name": self.name}

    def label(self) -> str:
        return "rule %d (%s)" % (self.index, self.name)


# --- matching -------------------------------------------------------------------------------


def fact_value(facts: Any, key: str) -> Optional[str]:
    """The event's value for a condition key, as bounded text; None when the event has none."""
    if key == "exception_type":
        value = getattr(facts, "exception_type", None)
    elif key in ("environment", "level"):
        value = getattr(facts, key, None)
        if value is None:
            value = (getattr(facts, "tags", None) or {}).get(key)
    else:
        tags = getattr(facts, "tags", None)
        value = tags.get(key) if isinstance(tags, dict) else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        return None
    return value[:MAX_INPUT]


def choose(rules: Tuple[Rule, ...], facts: Any) -> Optional[Rule]:
    """The first rule whose conditions all hold for the event; None: use the default settings."""
    for rule in rules or ():
        if all(c.holds(fact_value(facts, c.key)) for c in rule.conditions):
            return rule
    return None


def find(rules: Tuple[Rule, ...], ref: Any) -> Optional[Rule]:
    """The rule a queued reference names, or None when the rules were edited meanwhile
    (same position and name required: a renamed or moved rule is not silently swapped)."""
    if not isinstance(ref, dict):
        return None
    index, name = ref.get("index"), ref.get("name")
    for rule in rules or ():
        if rule.index == index and rule.name == name:
            return rule
    return None


def ref_label(ref: Any) -> str:
    """'2 (api)' for a queued reference, bounded (the reference comes back from a queue)."""
    if not isinstance(ref, dict):
        return "?"
    return "%s (%s)" % (str(ref.get("index"))[:6], str(ref.get("name"))[:MAX_NAME])


def _match_one(kind: str, pattern: Any, value: str) -> bool:
    if kind == "exact":
        return value == pattern
    if kind == "glob":
        return glob_match(pattern, value)
    return pattern.fullmatch(value) is not None


def glob_match(pattern: str, text: str) -> bool:
    """`*` any run, `?` one character, the rest literal; whole value; O(len(pattern) × len(text)).

    Why not fnmatch: on Python 3.8 its regex backtracks polynomially in the number of `*`.
    """
    p = t = 0
    star, mark = -1, 0
    while t < len(text):
        if p < len(pattern) and (pattern[p] == "?" or pattern[p] == text[t]):
            p += 1
            t += 1
        elif p < len(pattern) and pattern[p] == "*":
            star, mark = p, t
            p += 1
        elif star >= 0:
            p = star + 1
            mark += 1
            t = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def vet_regex(pattern: str) -> "re.Pattern":
    """Compiles an admin's regex after refusing the shapes that backtrack catastrophically:
    a repetition inside a repetition ((a+)+), alternation inside a repetition ((a|ab)*),
    backreferences, and more variable-length repetitions than MAX_VARIABLE_REPEATS /
    MAX_UNBOUNDED_REPEATS (each one multiplies the backtracking by the input's length).
    The regex must match the whole value (fullmatch), as exact values and globs do.
    Raises ValueError."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError("the regex is longer than %d characters" % MAX_PATTERN)
    try:
        compiled = re.compile(pattern)
        tree = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValueError("not a valid regular expression (%s)" % exc)
    counts = {"variable": 0, "unbounded": 0}

    def walk(items, inside_repeat: bool) -> None:
        for op, arg in items:
            if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
                low, high, sub = arg
                if high > 1 and low != high:
                    counts["variable"] += 1
                if high == sre_constants.MAXREPEAT or high > 50:
                    counts["unbounded"] += 1
                if inside_repeat and high > 1:
                    raise ValueError("a repetition inside a repetition can take exponential time; simplify it")
                walk(sub, inside_repeat or high > 1)
            elif op is sre_constants.BRANCH:
                if inside_repeat:
                    raise ValueError("alternatives (|) inside a repetition can take exponential time; "
                                     "use a character class or several patterns")
                for branch in arg[1]:
                    walk(branch, inside_repeat)
            elif op is sre_constants.SUBPATTERN:
                walk(arg[-1], inside_repeat)
            elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
                walk(arg[1], inside_repeat)
            elif op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
                raise ValueError("backreferences are not allowed")

    walk(tree, False)
    if counts["unbounded"] > MAX_UNBOUNDED_REPEATS:
        raise ValueError("more than %d unbounded repetitions (*, +, {n,}) in one regex" % MAX_UNBOUNDED_REPEATS)
    if counts["variable"] > MAX_VARIABLE_REPEATS:
        raise ValueError("more than %d repetitions of variable length in one regex" % MAX_VARIABLE_REPEATS)
    return compiled


# --- parsing --------------------------------------------------------------------------------


def load_text(text: str) -> Any:
    """JSON, or YAML (safe loader, no aliases: a small text must not expand into a big tree)."""
    if len(text) > MAX_TEXT:
        raise RuleError("The rules are longer than %d characters." % MAX_TEXT)
    stripped = text.strip()
    if not stripped:
        return []
    if stripped[0] in "[{":
        try:
            return json.loads(stripped)
        except ValueError:
            pass  # YAML flow style is a superset; let YAML say what is wrong
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        for event in yaml.parse(stripped, Loader=loader):
            if isinstance(event, yaml.AliasEvent):
                raise RuleError("YAML aliases (*name) are not allowed in the rules.")
        return yaml.load(stripped, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark else ""
        problem = getattr(exc, "problem", None) or "invalid syntax"
        raise RuleError("The rules are neither valid JSON nor valid YAML%s: %s." % (where, problem))


def parse_rules(value: Any) -> Tuple[Rule, ...]:
    """Rules from the settings text (or an already-decoded list); raises RuleError."""
    if value is None:
        return ()
    if isinstance(value, str):
        return _parse_text(value)
    return _parse_data(value)


@functools.lru_cache(maxsize=64)
def _parse_text(text: str) -> Tuple[Rule, ...]:
    # Cached: settings are read on every event, and a parsed rule is immutable.
    return _parse_data(load_text(text))


def rule_entries(data: Any, noun: str = "rules", max_rules: int = MAX_RULES, error=RuleError) -> List[Any]:
    """The entries of a decoded rules text (a list, or {"rules": [...]}), shape and count
    checked; shared by the routing and the remediation rules. Raises `error`."""
    if isinstance(data, dict) and set(data) == {"rules"}:
        data = data["rules"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise error("The %s must be a list (YAML lines starting with '- ', or a JSON array)." % noun)
    if len(data) > max_rules:
        raise error("At most %d %s are allowed (%d given)." % (max_rules, noun, len(data)))
    return data


def _parse_data(data: Any) -> Tuple[Rule, ...]:
    rules, names, regexes = [], set(), 0
    for position, item in enumerate(rule_entries(data), 1):
        rule = _parse_rule(position, item)
        if rule.name in names:
            raise RuleError("Rule %d (%s): name: another rule has this name; names must be unique."
                            % (position, rule.name))
        regexes += sum(kind == "regex" for c in rule.conditions for kind, _ in c.alternatives)
        if regexes > MAX_REGEXES:
            raise RuleError("Rule %d (%s): match: more than %d regexes in all rules together; use exact "
                            "values or globs" % (position, rule.name, MAX_REGEXES))
        names.add(rule.name)
        rules.append(rule)
    return tuple(rules)


def _parse_rule(index: int, item: Any) -> Rule:
    where = "Rule %d" % index
    if not isinstance(item, dict):
        raise RuleError("%s: must be a mapping with keys such as name, match, task, log_path." % where)
    name = item.get("name", "rule %d" % index)
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or _has_control(name):
        raise RuleError("%s: name: must be a one-line text of 1 to %d characters." % (where, MAX_NAME))
    name = name.strip()
    where = "Rule %d (%s)" % (index, name)

    def fail(key: str, message: str):
        raise RuleError("%s: %s: %s." % (where, key, message))

    unknown = [str(k) for k in item if k not in RULE_KEYS]
    if unknown:
        fail(unknown[0][:40], "unknown key%s (allowed: %s)" % (suggest.did_you_mean(unknown[0], RULE_KEYS),
                                                               ", ".join(RULE_KEYS)))

    match = item.get("match", {})
    if match is None:
        match = {}
    if not isinstance(match, dict):
        fail("match", "must be a mapping of condition keys (a tag name, exception_type, environment, level) "
                      "to values")
    if len(match) > MAX_CONDITIONS:
        fail("match", "at most %d conditions" % MAX_CONDITIONS)
    conditions = []
    for key, spec in match.items():
        if not isinstance(key, str) or not TAG_NAME.match(key):
            fail("match", "%r is not a tag name (letters, digits, _ . : -, at most 32)" % (str(key)[:40],))
        try:
            conditions.append(_condition(key, spec))
        except ValueError as exc:
            fail("match.%s" % key, str(exc))

    diagnose = item.get("diagnose", True)
    if not isinstance(diagnose, bool):
        fail("diagnose", "must be true or false")

    task = item.get("task")
    if task is not None and (not isinstance(task, str) or not TASK_NAME.match(task.strip())):
        fail("task", "a task is named module::task (lower-case letters, digits, underscores)")
    task = task.strip() if task else None

    log_path = item.get("log_path")
    if log_path is not None:
        if not isinstance(log_path, str) or (log_path and (not log_path.startswith("/") or len(log_path) > 1024
                                                           or _has_control(log_path))):
            fail("log_path", "must be an absolute path on the node, e.g. /var/log/api/app.log (\"\" for no log)")

    log_lines = item.get("log_lines")
    if log_lines is not None and (isinstance(log_lines, bool) or not isinstance(log_lines, int)
                                  or not 1 <= log_lines <= 5000):
        fail("log_lines", "must be a whole number from 1 to 5000")

    if (log_path is not None or log_lines is not None) and (task or DEFAULT_TASK) != DEFAULT_TASK:
        fail("log_path" if log_path is not None else "log_lines",
             "only %s takes it here; give another task's parameters under params" % DEFAULT_TASK)

    params = item.get("params") or {}
    if not isinstance(params, dict):
        fail("params", "must be a mapping of parameter names to values")
    if len(params) > MAX_PARAMS:
        fail("params", "at most %d parameters" % MAX_PARAMS)
    cleaned = []
    for key, value in params.items():
        if not isinstance(key, str) or not PARAM_NAME.match(key):
            fail("params", "%r is not a task parameter name" % (str(key)[:40],))
        if key in RESERVED_PARAMS:
            fail("params.%s" % key, "set by the plugin itself (the event time)")
        if key in COLLECT_TOP_LEVEL and (task or DEFAULT_TASK) == DEFAULT_TASK:
            fail("params.%s" % key, "give it as the rule's own %s key" % key)
        try:
            cleaned.append((key, _param_value(value)))
        except ValueError as exc:
            fail("params.%s" % key, str(exc))

    node_tag = item.get("node_tag")
    if node_tag is not None and (not isinstance(node_tag, str) or not TAG_NAME.match(node_tag)):
        fail("node_tag", "a tag name holds letters, digits and _ . : - (at most 32)")

    if not diagnose and any(item.get(k) is not None for k in ("task", "log_path", "log_lines", "params",
                                                               "node_tag")):
        fail("diagnose", "a rule that does not diagnose takes no task, log or node settings")
    return Rule(index=index, name=name, conditions=tuple(conditions), diagnose=diagnose, task=task,
                log_path=log_path, log_lines=log_lines, params=tuple(cleaned), node_tag=node_tag)


def _condition(key: str, spec: Any) -> Condition:
    items = spec if isinstance(spec, list) else [spec]
    if not items:
        raise ValueError("an empty list matches nothing; remove the condition or give values")
    if len(items) > MAX_ALTERNATIVES:
        raise ValueError("at most %d alternatives" % MAX_ALTERNATIVES)
    alternatives = []
    for item in items:
        kind, text = "exact", item
        if isinstance(item, dict):
            if len(item) != 1 or next(iter(item)) not in ("exact", "glob", "regex"):
                raise ValueError("write a value, or one of {exact: …}, {glob: …}, {regex: …}")
            kind, text = next(iter(item.items()))
        if isinstance(text, bool):
            raise ValueError("true/false is not a tag value; quote it (YAML reads yes/no/on/off as booleans)")
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            text = str(text)
        if not isinstance(text, str):
            raise ValueError("a value must be text")
        if len(text) > MAX_PATTERN:
            raise ValueError("longer than %d characters" % MAX_PATTERN)
        if kind == "regex":
            alternatives.append(("regex", vet_regex(text)))
        else:
            alternatives.append((kind, text))
    return Condition(key, tuple(alternatives))


def _param_value(value: Any) -> Any:
    """A task parameter as the admin wrote it: text, number, boolean, null or a short list of those."""
    if isinstance(value, list):
        if len(value) > MAX_PARAM_ITEMS:
            raise ValueError("at most %d items" % MAX_PARAM_ITEMS)
        return tuple(_scalar(v) for v in value)
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value
    if isinstance(value, str):
        if len(value) > MAX_PARAM_TEXT or _has_control(value):
            raise ValueError("text must be one line of at most %d characters" % MAX_PARAM_TEXT)
        return value
    raise ValueError("must be text, a number, true/false, null or a list of those")


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


# --- what a rule makes of the task call -----------------------------------------------------


def task_for(rule: Optional[Rule], default_task: str) -> str:
    return rule.task if rule is not None and rule.task else default_task


def params_for(rule: Optional[Rule], default_task: str, log_path: str, log_lines: int,
               since: Optional[str]) -> Dict[str, Any]:
    """The task's parameters: the settings' defaults overlaid with the rule's own values.
    Of the event, only its time (`since`, for diagnostics::collect) is used."""
    task = task_for(rule, default_task)
    params: Dict[str, Any] = {}
    if task == DEFAULT_TASK:
        lines = rule.log_lines if rule is not None and rule.log_lines is not None else log_lines
        path = rule.log_path if rule is not None and rule.log_path is not None else log_path
        params["log_lines"] = lines
        if path:
            params["log_path"] = path
        if since:
            params["since"] = since
    if rule is not None:
        params.update((k, list(v) if isinstance(v, tuple) else v) for k, v in rule.params)
    return params


# --- checked against the tasks' metadata when the settings are saved --------------------------


def verify_tasks(rules: Tuple[Rule, ...], default_task: str, task_info: Callable[[str], Dict[str, Any]],
                 type_matches: Callable[[str, Any], bool]) -> None:
    """Asks PE for each task a rule uses (GET /orchestrator/v1/tasks/<module>/<task>) and checks
    every parameter the rule sets is declared by it and fits its declared type.

    `task_info(task)` returns PE's answer or raises ValueError saying why it cannot;
    `type_matches(puppet_type, value)` checks one value. Raises RuleError naming the rule and key.
    """
    cache: Dict[str, Dict[str, Any]] = {}
    for rule in rules:
        if not rule.diagnose:
            continue
        task = task_for(rule, default_task)
        where = "Rule %d (%s)" % (rule.index, rule.name)
        if task not in cache:
            try:
                cache[task] = declared_parameters(task_info(task))
            except ValueError as exc:
                raise RuleError("%s: task: %s cannot be checked: %s" % (where, task, exc))
        declared = cache[task]
        values: List[Tuple[str, str, Any]] = [("params.%s" % k, k, v) for k, v in rule.params]
        if rule.log_path:
            values.append(("log_path", "log_path", rule.log_path))
        if rule.log_lines is not None:
            values.append(("log_lines", "log_lines", rule.log_lines))
        for key, name, value in values:
            if name not in declared:
                raise RuleError("%s: %s: the task %s declares no parameter %s (it declares: %s)."
                                % (where, key, task, name, ", ".join(sorted(declared)) or "none"))
            puppet_type = declared[name]
            plain = list(value) if isinstance(value, tuple) else value
            if puppet_type and not type_matches(puppet_type, plain):
                raise RuleError("%s: %s: %s does not fit the task's declared type %s."
                                % (where, key, json.dumps(plain)[:100], puppet_type[:200]))


def declared_parameters(info: Any) -> Dict[str, Optional[str]]:
    """{parameter name: Puppet type or None} from PE's task answer ({"metadata": {"parameters"}})."""
    metadata = info.get("metadata") if isinstance(info, dict) else None
    params = metadata.get("parameters") if isinstance(metadata, dict) else None
    if not isinstance(params, dict):
        return {}
    return {str(k): (v.get("type") if isinstance(v, dict) and isinstance(v.get("type"), str) else None)
            for k, v in params.items()}
