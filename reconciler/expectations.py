"""Expectations: a CI's `desired`, parsed once at load into typed values the diff stage walks.

The one place that knows the matcher syntax, its JSON-Schema fragments (VALUE, SET, PRESENCE) and the
parser. A kind's schema says at every level whether a key is a *name* (a package, a user, a path, a
sysctl key: `additionalProperties`) or a *field*, and where a *matcher keyword* (`regex`, `literal`,
`glob`, `ordered`) may appear: only where the schema offers an alternative tagged `x-keyword`. So
`packages: {regex: absent}` declares a package named `regex`, never a regular expression.

The rule for a string at a matcher position (documented in docs/matchers.md):
    "present" / "absent"                 Present / Absent
    starts with < > = !                  a version constraint (">=1.2", "<2", ">=1.2,<2"); invalid → load error
    contains * or ?                      a glob ("1.22.*"; [...] is a character class inside a glob)
    anything else                        a literal, compared after normalisation ("12" equals 12)
    {literal: x} / {glob: g} / {regex: r}  exactly that, whatever the text looks like

Members of a list are literals, globs, constraints or `{regex}` too; a list is a set unless written
`{ordered: [...]}`. Every expectation has `exact`: the one value that satisfies it (Literal, Present,
Absent), or NO_EXACT for a pattern — what a remediation plan can set.
"""

from __future__ import annotations

import fnmatch
import json
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from .matchers import _BOOLEAN_TEXT, ABSENT, MISSING, PRESENT, normalise, version_key

KEYWORDS = ("literal", "glob", "regex", "ordered")


class _NoExact:
    def __repr__(self) -> str:
        return "<no exact value>"


NO_EXACT: Any = _NoExact()


def _keyword(name: str, value_schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "object", "x-keyword": name, "properties": {name: value_schema}, "required": [name],
            "additionalProperties": False}


SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean", "null"]}
PRESENCE: dict[str, Any] = {"enum": [PRESENT, ABSENT]}
VALUE: dict[str, Any] = {
    "x-expect": "value",
    "anyOf": [SCALAR, _keyword("regex", {"type": "string"}), _keyword("literal", SCALAR),
              _keyword("glob", {"type": "string"})],
}
SET: dict[str, Any] = {
    "x-expect": "set",
    "anyOf": [{"type": "array", "items": VALUE}, _keyword("ordered", {"type": "array", "items": VALUE}), PRESENCE],
}


class LoadError(ValueError):
    """An expectation that cannot be built: `path` is where, inside `desired`."""

    def __init__(self, path: tuple[Any, ...], message: str):
        super().__init__(message)
        self.path = path


# --- the values ---------------------------------------------------------------------------------------


class Expectation:
    """What one declared node requires; `satisfied(actual)` gets MISSING for a node the target lacks."""

    __slots__ = ()
    raw: Any
    exact: Any = NO_EXACT

    def satisfied(self, actual: Any) -> bool:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError


class _Leaf(Expectation):
    """Scalar checks: missing never matches; a list (several installed versions) matches when one does."""

    __slots__ = ("raw", "want")

    def satisfied(self, actual: Any) -> bool:
        if actual is MISSING:
            return False
        if actual.__class__ is list:
            return any(self.check(one) for one in actual)
        return self.check(actual)

    def check(self, actual: Any) -> bool:  # pragma: no cover
        raise NotImplementedError


class Literal(_Leaf):
    __slots__ = ("cls", "value")

    def __init__(self, value: Any, raw: Any = None):
        self.value, self.cls, self.raw = value, value.__class__, value if raw is None else raw
        self.want = _canonical(value)

    @property
    def exact(self) -> Any:  # type: ignore[override]
        return self.value

    def satisfied(self, actual: Any) -> bool:
        if actual.__class__ is self.cls and actual == self.value:
            return True
        if actual.__class__ is str:
            return _BOOLEAN_TEXT.get(actual, actual) == self.want
        if actual is MISSING:
            return False
        if actual.__class__ is list and self.cls is not list:
            return any(self.check(one) for one in actual)
        return _canonical(actual) == self.want

    def check(self, actual: Any) -> bool:
        return (actual.__class__ is self.cls and actual == self.value) or _canonical(actual) == self.want


class Glob(_Leaf):
    __slots__ = ("match",)

    def __init__(self, pattern: str, raw: Any = None):
        self.raw, self.want = pattern if raw is None else raw, pattern
        self.match = re.compile(fnmatch.translate(pattern)).match

    def satisfied(self, actual: Any) -> bool:
        if actual.__class__ is str:
            have = _BOOLEAN_TEXT.get(actual, actual)
            return have == self.want or self.match(have) is not None
        return actual is not MISSING and (any(map(self.check, actual)) if actual.__class__ is list
                                          else self.check(actual))

    def check(self, actual: Any) -> bool:
        have = normalise(actual)
        return have.__class__ is str and (have == self.want or self.match(have) is not None)


class VersionConstraint(_Leaf):
    __slots__ = ("bounds", "first")

    def __init__(self, text: str, bounds: tuple[tuple[Callable[[Any, Any], bool], Any], ...]):
        self.raw, self.want, self.bounds, self.first = text, text, bounds[1:], bounds[0]

    def satisfied(self, actual: Any) -> bool:
        if actual.__class__ is str:
            if actual == self.want:
                return True
            key = version_key(actual)
            compare, bound = self.first
            return compare(key, bound) and all(compare(key, bound) for compare, bound in self.bounds)
        return actual is not MISSING and (any(map(self.check, actual)) if actual.__class__ is list
                                          else self.check(actual))

    def check(self, actual: Any) -> bool:
        have = normalise(actual)
        return have.__class__ is str and self.satisfied(have)


class Regex(_Leaf):
    __slots__ = ("search",)

    def __init__(self, pattern: str, raw: Any):
        self.raw, self.want, self.search = raw, pattern, re.compile(pattern).search

    def check(self, actual: Any) -> bool:
        return isinstance(actual, (str, int, float)) and self.search(str(actual)) is not None


class Present(Expectation):
    __slots__ = ()
    raw = PRESENT
    exact = PRESENT

    def satisfied(self, actual: Any) -> bool:
        return actual is not MISSING


class Absent(Expectation):
    __slots__ = ()
    raw = ABSENT
    exact = ABSENT

    def satisfied(self, actual: Any) -> bool:
        return actual is MISSING


class _Never:
    """The class of no observed value: keeps the Literal fast path below from matching a non-literal."""


class Fields(Expectation):
    """A mapping: each declared key (a name or a field) against the same key of the facts."""

    __slots__ = ("children", "classes", "keys", "raw", "values")

    def __init__(self, entries: tuple[tuple[Any, Expectation], ...], raw: Any = None):
        self.raw = raw
        self.keys = tuple(key for key, _ in entries)
        self.children = tuple(child for _, child in entries)
        # an observed value equal to values[i], of class classes[i], satisfies children[i] without calling
        # it (the common case of a CI in sync). Parallel tuples: 10,000 CIs' trees stay small.
        shortcuts = [_shortcut(child) for child in self.children]
        self.values = tuple(value for value, _ in shortcuts)
        self.classes = tuple(cls for _, cls in shortcuts)

    @property
    def entries(self) -> tuple[tuple[Any, Expectation], ...]:
        return tuple(zip(self.keys, self.children, strict=True))

    @property
    def exact(self) -> Any:  # type: ignore[override]
        values = {key: child.exact for key, child in self.entries}
        return NO_EXACT if any(v is NO_EXACT for v in values.values()) else values

    def satisfied(self, actual: Any) -> bool:
        if actual.__class__ is not dict and not isinstance(actual, Mapping):
            return False
        get = actual.get
        for key, child, value, cls in zip(self.keys, self.children, self.values, self.classes):
            have = get(key, MISSING)
            if have.__class__ is cls and have == value:
                continue
            if not child.satisfied(MISSING if have is None else have):
                return False
        return True


def _shortcut(child: Expectation) -> tuple[Any, type]:
    if isinstance(child, Literal):
        return child.value, child.cls
    if isinstance(child, (Glob, VersionConstraint)):  # the pattern's own text satisfies it
        return child.want, str
    if isinstance(child, Fields) and _plain_tree(child):
        return child.raw, dict
    return None, _Never


def _plain_tree(node: Expectation) -> bool:
    """A mapping whose leaves are literal strings, booleans or nulls written as themselves: a dict equal
    to its declared text satisfies it (== on str/bool/None is exact, unlike 1 == 1.0 == True for numbers;
    booleans are facts' own booleans, never 0/1, in the fact vocabulary)."""
    if isinstance(node, Fields):
        return isinstance(node.raw, dict) and all(_plain_tree(child) for _, child in node.entries)
    return (isinstance(node, Literal) and node.raw is node.value
            and (node.value is None or node.value.__class__ in (str, bool)))


class Set(Expectation):
    """A list compared as a set: every member matches some observed item and every item some member."""

    __slots__ = ("bool_risk", "literals", "members", "plain", "raw")

    def __init__(self, members: tuple[Expectation, ...], raw: Any):
        self.raw, self.members = raw, members
        only_literals = all(isinstance(m, Literal) for m in members)
        self.literals = frozenset(m.want for m in members) if only_literals else None  # type: ignore[attr-defined]
        self.plain = None  # the declared members as they are, when they are plain scalars of one type each
        if only_literals and all(m.raw.__class__ in (str, int) for m in members):
            plain = frozenset(m.raw for m in members)
            self.plain = self.literals if plain == self.literals else plain  # one set when they agree
        self.bool_risk = any(m.raw.__class__ is int and m.raw in (0, 1) for m in members)  # 1 == True

    @property
    def exact(self) -> Any:
        return list(self.raw) if self.literals is not None else NO_EXACT

    def satisfied(self, actual: Any) -> bool:
        if actual.__class__ is not list:
            return False
        if self.plain is not None:
            try:
                if set(actual) == self.plain and (not self.bool_risk or bool not in map(type, actual)):
                    return True
            except TypeError:  # unhashable observed members: the canonical comparison decides
                pass
        if self.literals is not None:
            return set(map(_canonical, actual)) == self.literals
        return (all(any(m.satisfied(have) for have in actual) for m in self.members)
                and all(any(m.satisfied(have) for m in self.members) for have in actual))


class Ordered(Expectation):
    """`{ordered: [...]}`: the same length, each member matching the item at its position."""

    __slots__ = ("members", "raw")

    def __init__(self, members: tuple[Expectation, ...], raw: Any):
        self.raw, self.members = raw, members

    @property
    def exact(self) -> Any:
        values = [m.exact for m in self.members]
        return NO_EXACT if any(v is NO_EXACT for v in values) else values

    def satisfied(self, actual: Any) -> bool:
        if actual.__class__ is not list or len(actual) != len(self.members):
            return False
        return all(m.satisfied(have) for m, have in zip(self.members, actual))


def _canonical(value: Any) -> Any:
    value = normalise(value)
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, (dict, list)) else value


# --- the parser ---------------------------------------------------------------------------------------

_CONSTRAINT = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*([0-9A-Za-z]\S*)\s*$")
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}
_SHARED: dict[tuple[Any, type], Expectation] = {}  # leaves are immutable: one per declared value
_MAX_SHARED = 200_000


def parse(schema: Mapping[str, Any] | None, value: Any, path: tuple[Any, ...] = (),
          errors: list[LoadError] | None = None) -> Expectation:
    """`value` declared where `schema` applies → its expectation. An invalid pattern raises LoadError
    naming its path, or, given `errors`, is appended there (so one pass reports them all)."""
    try:
        return _parse(schema, value, path, errors)
    except LoadError as exc:
        if errors is None:
            raise
        errors.append(exc)
        return Literal(None, raw=value)


def _parse(schema: Mapping[str, Any] | None, value: Any, path: tuple[Any, ...],
           errors: list[LoadError] | None) -> Expectation:
    options = _options(schema or {})
    if isinstance(value, dict):
        if len(value) == 1:
            (key, inner), = value.items()
            if key in KEYWORDS and any(o.get("x-keyword") == key for o in options):
                return _keyword_expectation(key, inner, value, options, path + (key,), errors)
        flat = _flat_key(value.items())
        if flat is not None and flat in _SHARED_NODES:  # a record many CIs declare alike: one node for all
            return _SHARED_NODES[flat]
        sub = next((o for o in options if "properties" in o or "additionalProperties" in o), {})
        names, extra = sub.get("properties", {}), sub.get("additionalProperties")
        extra = extra if isinstance(extra, dict) else None
        node: Expectation = Fields(tuple((key, parse(names.get(key, extra), inner, path + (key,), errors))
                                         for key, inner in value.items()), raw=value)
    elif isinstance(value, list):
        items = next((o["items"] for o in options if isinstance(o.get("items"), dict)), None)
        tagged = items is not None and any(o.get("x-expect") == "value" for o in _options(items))
        flat = _flat_key(enumerate(value), tagged)
        if flat is not None and flat in _SHARED_NODES:
            return _SHARED_NODES[flat]
        node = Set(tuple(_member(items, one, path + (n,), errors) for n, one in enumerate(value)), raw=value)
    else:
        return scalar(value, path)
    if flat is not None and not errors:
        if len(_SHARED_NODES) >= _MAX_SHARED:
            _SHARED_NODES.clear()
        _SHARED_NODES[flat] = node
    return node


def _flat_key(items: Any, *extra: Any) -> tuple[Any, ...] | None:
    """The key of a mapping or list of plain scalars: its expectation depends on nothing else (scalars
    follow one rule whatever the schema), so CIs that declare the same one can share it."""
    key: list[Any] = list(extra)
    for name, value in items:
        if value.__class__ not in _PLAIN:
            return None
        key += (name, value, value.__class__)
    return tuple(key)


_PLAIN = (str, int, float, bool, type(None))
_SHARED_NODES: dict[tuple[Any, ...], Expectation] = {}


def _options(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The schema and, recursively, its anyOf/oneOf alternatives."""
    found = [schema]
    for alternative in list(schema.get("anyOf", ())) + list(schema.get("oneOf", ())):
        found += _options(alternative)
    return found


def _keyword_expectation(key: str, inner: Any, raw: Any, options: list[Mapping[str, Any]],
                         path: tuple[Any, ...], errors: list[LoadError] | None) -> Expectation:
    if key == "ordered":
        if not isinstance(inner, list):
            raise LoadError(path, f"ordered takes a list, not {inner!r}")
        items = next((o["properties"]["ordered"].get("items") for o in options if o.get("x-keyword") == key), None)
        return Ordered(tuple(_member(items, one, path + (n,), errors) for n, one in enumerate(inner)), raw=raw)
    if key == "regex":
        try:
            return Regex(str(inner), raw)
        except re.error as exc:
            raise LoadError(path, f"invalid regular expression {inner!r}: {exc}") from None
    if key == "glob":
        return Glob(str(inner), raw)
    return Literal(inner, raw)


def _member(items: Mapping[str, Any] | None, value: Any, path: tuple[Any, ...],
            errors: list[LoadError] | None) -> Expectation:
    """A list member: a matcher where the schema's items are VALUE, else compared whole as a literal."""
    if items is not None and any(o.get("x-expect") == "value" for o in _options(items)):
        if isinstance(value, str) and value in (PRESENT, ABSENT):
            return Literal(value)
        return parse(items, value, path, errors)
    if isinstance(value, dict) and items is not None:
        found = parse(items, value, path, errors)
        if not isinstance(found, Fields):
            return found
    return Literal(value)


def scalar(value: Any, path: tuple[Any, ...] = ()) -> Expectation:
    """A declared scalar, by the one rule in the module docstring; shared between CIs that declare it."""
    key = (value, value.__class__)
    found = _SHARED.get(key)
    if found is None:
        if len(_SHARED) >= _MAX_SHARED:
            _SHARED.clear()
        found = _SHARED[key] = _scalar(value, path)
    return found


def _scalar(value: Any, path: tuple[Any, ...]) -> Expectation:
    if value.__class__ is not str:
        return Literal(value)
    if value == PRESENT:
        return Present()
    if value == ABSENT:
        return Absent()
    if value[:1] in ("<", ">", "=", "!"):
        return VersionConstraint(value, _constraint_bounds(value, path))
    if "*" in value or "?" in value:
        return Glob(value)
    return Literal(value)


def _constraint_bounds(text: str, path: tuple[Any, ...]) -> tuple[tuple[Callable[[Any, Any], bool], Any], ...]:
    bounds = []
    for part in text.split(","):
        found = _CONSTRAINT.match(part)
        if found is None:
            raise LoadError(path, f"invalid version constraint {text!r} (write e.g. '>=1.2,<2'; "
                                  "for a literal value use {literal: ...})")
        bounds.append((_OPERATORS[found.group(1)], version_key(found.group(2))))
    return tuple(bounds)


def split_dotted(schema: Mapping[str, Any] | None, text: str) -> tuple[str, ...] | None:
    """A path written the old way (keys joined by dots) back to its keys, guided by the kind's schema:
    a field must be one the schema names, a name may contain dots. None when the schema cannot place it.
    Shortest names first, so `users.a.shell` is the shell of user `a`, not a user named `a.shell`."""
    object_schema = next((o for o in _options(schema or {})
                          if "properties" in o or isinstance(o.get("additionalProperties"), dict)), None)
    if object_schema is None:
        return None
    fields, names = object_schema.get("properties", {}), object_schema.get("additionalProperties")
    cuts = [i for i, char in enumerate(text) if char == "."] + [len(text)]
    for cut in cuts:
        head, rest = text[:cut], text[cut + 1:]
        sub = fields.get(head, names if isinstance(names, dict) else None)
        if sub is None and head not in fields:
            continue
        if cut == len(text):
            return (head,)
        tail = split_dotted(sub, rest)
        if tail is not None:
            return (head,) + tail
    return None
