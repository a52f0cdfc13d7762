"""JSON-Schema validation of what users write (reconciler.yml, CI and baseline documents) into Problems.

In: a schema, the parsed data, and where it came from (file, rendered text, document index). Out: one
Problem per leaf error, naming the file, line, key path and what was expected — or nothing for valid data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import fastjsonschema

from .errors import Problem
from .render import line_of
from .userdata import clip, short

if TYPE_CHECKING:
    import jsonschema

# Valid documents are the common case: a compiled check (fastjsonschema, ~50x faster) clears them; only a
# document that fails it goes through jsonschema, which lists every error with its path.
_CHECKS: dict[int, Any] = {}


def _check(schema: Mapping[str, Any]) -> Any:
    key = id(schema)
    if key not in _CHECKS:
        _CHECKS[key] = fastjsonschema.compile(dict(schema))
    return _CHECKS[key]


def schema_problems(schema: Mapping[str, Any], data: Any, file: str, text: str, index: int,
                    prefix: tuple[Any, ...] = ()) -> list[Problem]:
    try:
        _check(schema)(data)
        return []
    except fastjsonschema.JsonSchemaException:
        pass
    import jsonschema  # only for a document that failed the check: ~0.1 s of imports spared otherwise

    problems = []
    errors = [leaf for error in jsonschema.Draft7Validator(schema).iter_errors(data) for leaf in _leaf_errors(error)]
    for error in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        path = prefix + tuple(error.absolute_path)
        unknown = _unknown_keys(error)[:1]  # the misspelt key's own line, not its value's
        problems.append(Problem(file, _explain(error), line_of(text, index, path + unknown, key_line=bool(unknown)),
                                index, ".".join(map(str, path)) or None))
    return problems


def _leaf_errors(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """For "one of these shapes" errors, the complaints of the shape that matched as far as a nested key."""
    if error.validator == "anyOf" and error.context:
        nested = [sub for sub in error.context if sub.relative_path]
        if nested:
            return [leaf for sub in nested for leaf in _leaf_errors(sub)]
        # a mapping that fails only the mapping shape's key check: name the key, not the whole value
        keyed = [sub for sub in error.context if sub.validator == "additionalProperties"]
        if keyed and isinstance(error.instance, dict):
            return keyed
    return [error]


def _unknown_keys(error: jsonschema.ValidationError) -> tuple[str, ...]:
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return ()
    known = error.schema.get("properties", {})
    return tuple(key for key in error.instance if key not in known)


def _known(error: jsonschema.ValidationError, unknown: tuple[str, ...]) -> str:
    """'; did you mean X?' for a near miss of a known key, else the known keys (a few)."""
    import difflib

    known = [str(key) for key in error.schema.get("properties", {})]
    if not known:
        return ""
    close = [difflib.get_close_matches(str(key), known, n=1, cutoff=0.6) for key in unknown[:5]]
    if any(close):
        return "; did you mean " + ", ".join(repr(match[0]) for match in close if match) + "?"
    return "; known: " + ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")


def _explain(error: jsonschema.ValidationError) -> str:
    """jsonschema's own messages quote the whole offending value: say it again with a short rendering."""
    value = short(error.instance)
    if error.validator == "additionalProperties":
        keys = _unknown_keys(error)
        named = ", ".join(short(k, 40) for k in keys[:5]) + (", ..." if len(keys) > 5 else "")
        return f"unknown key(s) ({named} {'was' if len(keys) == 1 else 'were'} unexpected{_known(error, keys)})"
    if error.validator == "anyOf":
        return f"{value} is not a valid value here (expected {_expected(error.validator_value)})"
    if error.validator == "required":
        return f"missing required key: {error.message.split(' ')[0]}"
    if error.validator == "type":
        return f"{value} is not of type {' or '.join(map(repr, _as_list(error.validator_value)))}"
    if error.validator == "enum":
        return f"{value} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "pattern":
        return f"{value} does not match {error.validator_value!r}"
    return clip(error.message)


def _expected(options: list[Mapping[str, Any]]) -> str:
    names: list[str] = []
    for option in options:
        if "enum" in option:
            names.append("one of " + ", ".join(map(str, option["enum"])))
        elif "required" in option:
            names.append("{" + option["required"][0] + ": ...}")
        else:
            names += [str(t) for t in _as_list(option.get("type"))]
    return " or ".join(dict.fromkeys(names)) or "see the kind's schema"


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)
