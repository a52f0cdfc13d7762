"""Ansible's INI inventory plugin, with its per-line work done once per distinct text.

Used by inventory.py when it builds Ansible's InventoryManager. Ansible's `ini` plugin spends most of a
10,000-host file in two pure steps per host line: `shlex.split` of the line (a Python tokenizer, ~0.1 ms
a line) and `_parse_value` of each `key=value` (an `ast.literal_eval` compile per value). Here a line
without quotes, escapes or comments is split on its whitespace (what shlex gives for such a line), and
a value text is parsed once per file (immutable results only: a list or dict literal is parsed anew, as
Ansible does, so no host shares a mutable value with another). Everything else — sections, children,
group vars, host ranges, ports, errors and their messages — is Ansible's own code, unchanged.
"""

from __future__ import annotations

import functools
import re
from typing import Any

# shlex (posix, comments=True) treats these specially; str.split also splits on \v \f \x1c-\x1f, which
# shlex does not: a line holding any of them goes through shlex.
_SHLEX_SPECIAL = re.compile(r"['\"\\#\x0b\x0c\x1c-\x1f]")
_IMMUTABLE = (str, int, float, type(None))


@functools.cache
def fast_ini_class(base: type) -> type:
    """A subclass of Ansible's ini InventoryModule `base` (imported lazily by the caller: Ansible's
    import is costly and only needed when an inventory is read)."""

    class FastIniInventory(base):  # type: ignore[misc,valid-type]
        def _parse_host_definition(self, line: str) -> Any:
            if not line.isascii() or _SHLEX_SPECIAL.search(line):
                return super()._parse_host_definition(line)
            tokens = line.split()
            if any("=" not in token for token in tokens[1:]):  # Ansible's own error message
                return super()._parse_host_definition(line)
            hostnames, port = self._expand_hostpattern(tokens[0])
            variables = {}
            for token in tokens[1:]:
                key, value = token.split("=", 1)
                variables[self._origin.tag(key)] = self._parse_value(value)
            return hostnames, port, variables

        def _parse_value(self, v: str) -> Any:
            values: dict[str, Any] = self.__dict__.setdefault("_reconciler_values", {})
            found = values.get(v)
            if found is None:
                found = super()._parse_value(v)
                if isinstance(found, _IMMUTABLE) and found is not None:
                    values[v] = found
            return found

    return FastIniInventory


@functools.cache
def manager_class() -> type:
    """Ansible's InventoryManager, its `ini` plugin given the methods above. The plugin object is the one
    Ansible's plugin loader made (its name, path and options set), only its class is the subclass."""
    from ansible.inventory.manager import InventoryManager
    from ansible.plugins.inventory.ini import InventoryModule

    fast = fast_ini_class(InventoryModule)

    class Manager(InventoryManager):  # type: ignore[misc]
        def _fetch_inventory_plugins(self) -> list[Any]:
            plugins = super()._fetch_inventory_plugins()
            for plugin in plugins:
                if type(plugin) is InventoryModule:
                    plugin.__class__ = fast
            return plugins

    return Manager
