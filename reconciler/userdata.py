"""Reading and quoting what users write: bounded YAML loading and short renderings of user values.

Used at every boundary where user text comes in (reconciler.yml, desired/ documents) and wherever an
error message quotes a user value. A YAML document is checked while it is constructed: a key given twice
in one mapping is an error naming both lines (PyYAML keeps the last silently), and a document whose
aliases expand past MAX_NODES ("billion laughs") is refused before anything walks it.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Iterator
from typing import Any

import yaml

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~13x faster, same error marks
MAX_NODES = 1_000_000  # scalars + collections once aliases are expanded, per document
_ANCHOR = re.compile(r"&[^\s\[\]{},]")
_SHORT = reprlib.Repr()  # Python 3.11: attributes, not constructor arguments
_SHORT.maxlevel, _SHORT.maxdict, _SHORT.maxlist, _SHORT.maxstring, _SHORT.maxother = 2, 4, 4, 60, 60


def short(value: Any, limit: int = 80) -> str:
    """A user value for a message: repr-like, bounded in depth, items and characters."""
    text = _SHORT.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_INDENTATION = ("expected key", "<block end>", "mapping values are not allowed")


def yaml_problem(exc: yaml.MarkedYAMLError, text: str = "") -> str:
    """libyaml's complaint, with where the enclosing block began and, for the parser's words for a
    misindented line ("expected <block end>, but found '<block mapping start>'") or an indenting tab
    (found in `text`, the parsed text), what to look at."""
    problem = str(exc.problem or exc)
    notes = []
    start, end = exc.context_mark, exc.problem_mark
    if exc.context and start and end and start.line != end.line:
        notes.append(f"{exc.context} from line {start.line + 1}")
    line = text.splitlines()[end.line] if end and end.line < len(text.splitlines()) else ""
    if "cannot start any token" in problem and "\t" in line[:len(line) - len(line.lstrip())]:
        notes.append("YAML indents with spaces, not tabs")
    elif any(words in problem for words in _INDENTATION):
        notes.append("check the indentation of this line against the lines above; quote a value holding ': '")
    return problem + (f" ({'; '.join(notes)})" if notes else "")


def clip(text: str, limit: int = 200) -> str:
    """A message (which may quote user text) cut to `limit` characters."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping with the same key twice; the mark is the second occurrence."""


class Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """The libyaml SafeLoader, refusing duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        own = node.value  # flatten_mapping deletes '<<' pairs from this very list, then prepends merged ones
        mapping = super().construct_mapping(node, deep=deep)
        if len(mapping) != len(node.value):  # fewer keys than pairs: a key twice, or one a merge also set
            _duplicate(own)
        return mapping


def _duplicate(pairs: list[tuple[yaml.Node, yaml.Node]]) -> None:
    first: dict[str, Any] = {}
    for key, _value in pairs:
        if not isinstance(key, yaml.ScalarNode):
            continue
        if key.value in first:
            line = first[key.value].start_mark.line + 1
            raise DuplicateKeyError(None, None, f"duplicate key {short(key.value)} (first on line {line}, "
                                    f"again on line {key.start_mark.line + 1})", key.start_mark)
        first[key.value] = key


class AliasBomb(yaml.YAMLError):
    pass


def load_all(text: str) -> list[Any]:
    """Every document of `text`; raises yaml.YAMLError (DuplicateKeyError, AliasBomb included)."""
    aliased = may_alias(text)
    try:
        if aliased:  # shared (aliased) parts: PyYAML's constructor keeps them shared
            documents = list(yaml.load_all(text, Loader=Loader))
        else:
            documents = _load_plain(text)
    except RecursionError:
        raise yaml.YAMLError("nested too deeply") from None
    if aliased:
        for document in documents:
            check_expansion(document)
    return documents


class _PlainLoader(Loader):
    """libyaml's parser and composer with a memo in front of PyYAML's implicit-tag resolver: a fleet's
    documents repeat the same scalars (versions, states, names) thousands of times."""

    def __init__(self, stream: str, tags: dict[tuple[str, bool], str]):
        super().__init__(stream)
        self._tags = tags

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not yaml.ScalarNode or self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)
        key = (value, implicit[0])
        tag = self._tags.get(key)
        if tag is None:
            tag = self._tags[key] = super().resolve(kind, value, implicit)
        return tag


_TAGS: dict[tuple[str, bool], str] = {}  # (scalar, plain?) -> resolved tag; bounded below
_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_SIMPLE = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"}


class _Unplain(Exception):
    """A node the small constructor leaves to PyYAML's: merge keys, collection keys, explicit tags."""


def _load_plain(text: str) -> list[Any]:
    """`yaml.load_all` for documents without anchors: PyYAML's constructor spends ~5 µs a node on
    bookkeeping that only aliases, merge keys and custom tags need. Nodes built here from plain maps,
    sequences and the core scalar tags give the same values (the scalars through PyYAML's own
    constructors); any other document is handed to PyYAML's constructor whole, errors included."""
    if len(_TAGS) > 200_000:
        _TAGS.clear()
    loader = _PlainLoader(text, _TAGS)
    scalars: dict[tuple[str, str], Any] = {}
    documents = []
    try:
        while loader.check_node():
            node = loader.get_node()
            try:
                documents.append(_build(node, loader, scalars))
            except _Unplain:
                documents.append(loader.construct_document(node))
    finally:
        loader.dispose()
    return documents


def _build(node: Any, loader: Any, scalars: dict[tuple[str, str], Any]) -> Any:
    tag, cls = node.tag, node.__class__
    if tag == _STR and cls is yaml.ScalarNode:
        return node.value
    if tag == _MAP and cls is yaml.MappingNode:
        pairs = node.value
        mapping = {}
        for key_node, value_node in pairs:
            if key_node.__class__ is not yaml.ScalarNode or key_node.tag not in _KEY_TAGS:
                raise _Unplain
            mapping[_build(key_node, loader, scalars)] = _build(value_node, loader, scalars)
        if len(mapping) != len(pairs):
            _duplicate(pairs)
        return mapping
    if tag == _SEQ and cls is yaml.SequenceNode:
        return [_build(item, loader, scalars) for item in node.value]
    if tag in _SIMPLE and cls is yaml.ScalarNode:  # immutable values: one per text
        key = (tag, node.value)
        if key not in scalars:
            scalars[key] = loader.yaml_constructors[tag](loader, node)
        return scalars[key]
    raise _Unplain


_KEY_TAGS = {_STR} | _SIMPLE


def may_alias(text: str) -> bool:
    """Whether `text` has an anchor (without one there is no alias, nothing to expand)."""
    return bool(_ANCHOR.search(text))


def load(text: str) -> Any:
    documents = load_all(text)
    return documents[0] if documents else None


def check_expansion(data: Any, limit: int = MAX_NODES) -> None:
    """Raise AliasBomb when `data`, with shared (aliased) parts counted each time, exceeds `limit` nodes."""
    sizes: dict[int, int] = {}
    if _size(data, sizes, limit) > limit:
        raise AliasBomb(f"YAML aliases expand to more than {limit:,} values (an alias bomb?)")


def _size(value: Any, sizes: dict[int, int], limit: int) -> int:
    if not isinstance(value, (dict, list)):
        return 1
    key = id(value)
    if key not in sizes:
        sizes[key] = 0  # a recursive alias counts once: no endless walk
        total = 1
        for child in _children(value):
            total += _size(child, sizes, limit)
            if total > limit:
                break
        sizes[key] = total
    return sizes[key]


def _children(value: dict[Any, Any] | list[Any]) -> Iterator[Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield item
    else:
        yield from value
