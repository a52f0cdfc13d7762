"""Ansible inventories, read with Ansible's own machinery (INI, YAML, scripts, group_vars/host_vars).

In: the inventory sources of reconciler.yml. Out: an Inventory with host and group names and lazily
computed host variables: at fleet scale a host's variables are computed only when a template or a
collector asks for them, once, and the layers shared by a group are merged once for the whole group.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from .errors import Problem, ReconcilerError


class HostVars(Mapping[str, Mapping[str, Any]]):
    """`hostvars` for templates: a read-only mapping that computes each host's variables on first use."""

    def __init__(self, inventory: Inventory):
        self._inventory = inventory
        self._named: dict[str, HostVariables] = {}

    def __getitem__(self, host: str) -> Mapping[str, Any]:
        if host not in self._inventory.host_names:
            raise KeyError(host)
        if host not in self._named:
            self._named[host] = HostVariables(host, self._inventory.host_vars(host))
        return self._named[host]

    def __iter__(self) -> Iterator[str]:
        return iter(self._inventory.hosts)

    def __len__(self) -> int:
        return len(self._inventory.hosts)


class HostVariables(dict[str, Any]):
    """One host's variables as templates see them: a dict that knows its host, so that a variable the
    template asks for and the host lacks is reported by name and host."""

    def __init__(self, host: str, variables: Mapping[str, Any]):
        super().__init__(variables)
        self.host = host


class InventoryGroups(dict[str, list[str]]):
    """`groups` for templates: a dict, recognised when a template asks for a group there is not."""


class HostVarsError(ReconcilerError):
    """A host's variables cannot be computed (a broken host_vars/ or group_vars/ file): carries the Problem."""

    def __init__(self, problem: Problem, reported: bool = False):
        super().__init__(str(problem))
        self.problem = problem
        self.reported = reported  # already among the inventory's own problems


class Inventory:
    def __init__(self, sources: list[str]):
        from ansible.parsing.dataloader import DataLoader

        from .inventory_check import check_sources
        from .inventory_ini import manager_class

        self.sources = sources
        self.problems: list[Problem] = []

        parsed: dict[str, Any] = {}
        checked, usable = check_sources([s for s in sources if Path(s).exists()], parsed)
        loader = _inventory_loader(DataLoader, parsed)
        # a broken group_vars file is not handed to Ansible's vars plugins (an alias bomb would hang them)
        self._broken_vars = [p for p in checked if "group_vars" in Path(p.file).parts]
        with _ansible_messages() as failures:
            self._manager = manager_class()(loader=loader, sources=usable)
        self.problems = checked + [Problem(file=src, line=line, message=msg) for src, line, msg in failures
                                   if not any(p.file == src for p in checked)]
        self.problems += [Problem(file=s, message="inventory source does not exist") for s in sources
                          if not Path(s).exists()]
        self._loader = loader
        self._cache: dict[str, dict[str, Any]] = {}
        self._group_cache: dict[tuple[str, ...], dict[str, Any]] = {}
        self.hosts: list[str] = [host.name for host in self._manager.get_hosts()]
        self.host_names = frozenset(self.hosts)
        self.hostvars = HostVars(self)

    @cached_property
    def groups(self) -> dict[str, list[str]]:
        return {name: list(members) for name, members in self._manager.get_groups_dict().items()}

    def host_vars(self, name: str) -> dict[str, Any]:
        """Inventory, group_vars and host_vars variables of one host, in Ansible's precedence order:
        the `all` group, the host's groups (inventory, then group_vars/), the host (inventory, then
        host_vars/). VariableManager.get_vars does the same plus play and fact-cache layers we have no
        use for, at ~1 ms a host; here the group layers are merged once per set of groups."""
        if self._broken_vars:
            raise HostVarsError(self._broken_vars[0], reported=True)
        if name not in self._cache:
            from ansible.errors import AnsibleError
            from ansible.inventory.helpers import sort_groups
            from ansible.utils.vars import combine_vars

            host = self._manager.get_host(name)
            groups = tuple(sort_groups([g for g in host.get_groups() if g.name != "all"]))
            try:
                found = combine_vars(self._group_layers(groups), host.get_vars())
                self._cache[name] = combine_vars(found, self._plugin_vars([host]))
            except AnsibleError as exc:  # a broken host_vars/ file: name it, not the template that asked
                source, line = _origin_in_chain(exc)
                raise HostVarsError(Problem(source or "inventory", f"variables of host '{name}' cannot be "
                                            f"read: {_first_line(exc)}", line)) from None
        return self._cache[name]

    def _group_layers(self, groups: tuple[Any, ...]) -> dict[str, Any]:
        key = tuple(group.name for group in groups)
        if key not in self._group_cache:
            from ansible.inventory.helpers import get_group_vars
            from ansible.utils.vars import combine_vars

            everyone = self._manager.groups["all"]
            layers = [everyone.get_vars(), get_group_vars(list(groups)), self._plugin_vars([everyone]),
                      self._plugin_vars(list(groups))]
            merged: dict[str, Any] = {}
            for layer in layers:
                merged = combine_vars(merged, layer)
            self._group_cache[key] = merged
        return self._group_cache[key]

    def _plugin_vars(self, entities: list[Any]) -> dict[str, Any]:
        """group_vars/ and host_vars/ files beside the inventory sources (Ansible's vars plugins)."""
        from ansible.vars.plugins import get_vars_from_inventory_sources

        return get_vars_from_inventory_sources(self._loader, self._manager._sources, entities, "task")


def _inventory_loader(base: type, parsed: dict[str, Any]) -> Any:
    """Ansible's DataLoader, reading each YAML/JSON inventory or vars file once with libyaml.

    Ansible's own path costs ~10 s on a 10,000-host YAML inventory: its Python constructor tags every
    value with its origin, the `auto` plugin and then the `yaml` plugin parse the same file, and each
    parse is deep-copied out of the DataLoader cache. Here a file is parsed once (userdata's libyaml
    loader) and the same object handed to every plugin that asks: they read it, never change it. Whatever
    that loader refuses (a duplicate key, a `!vault` or `!unsafe` tag, a vault-encrypted file, bad YAML)
    goes through Ansible's own loader, so its behaviour and error messages are unchanged. `parsed`: files
    inventory_check already loaded, by resolved path."""

    class InventoryLoader(base):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            super().__init__()
            self._parsed: dict[str, Any] = dict(parsed)

        def load_from_file(self, file_name: str, cache: str = "all", unsafe: bool = False,
                           json_only: bool = False, trusted_as_template: bool = False) -> Any:
            path = str(Path(self.path_dwim(file_name)).resolve())
            if path not in self._parsed:
                data = None if json_only else _plain_yaml(path)
                if data is None:
                    return super().load_from_file(file_name, cache, unsafe, json_only, trusted_as_template)
                self._parsed[path] = data
            return self._parsed[path]

    return InventoryLoader()


def _plain_yaml(path: str) -> Any:
    """The file's data when it is plain YAML (or JSON) libyaml reads without complaint, else None."""
    import yaml

    from .userdata import load

    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        if text.lstrip().startswith("$ANSIBLE_VAULT"):  # a !vault tag inside makes libyaml refuse
            return None
        return load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return None


_PLUGIN_FOR_SUFFIX = {".yml": "yaml", ".yaml": "yaml", ".ini": "ini", ".toml": "toml", "": "ini"}


@contextlib.contextmanager
def _ansible_messages() -> Iterator[list[tuple[str, int | None, str]]]:
    """Capture inventory parse failures (Ansible only shows them as warnings) and silence Ansible's chatter."""
    from ansible.utils.display import Display

    display = Display()
    failures: list[tuple[str, int | None, str]] = []
    by_source: dict[str, dict[str, str]] = {}
    lines: dict[str, int] = {}

    def error_as_warning(msg: str, exception: BaseException, **_: Any) -> None:
        source, line = _origin_of(exception)
        by_source.setdefault(source, {})[msg] = _first_line(exception)
        if line:
            lines[source] = line

    saved = display.error_as_warning, display.warning, display.deprecated
    display.error_as_warning, display.warning = error_as_warning, lambda *a, **k: None  # type: ignore[method-assign]
    display.deprecated = lambda *a, **k: None  # type: ignore[method-assign]  # e.g. a non-UTF-8 file: ours to report
    try:
        yield failures
    finally:
        display.error_as_warning, display.warning, display.deprecated = saved  # type: ignore[method-assign]
    for source, messages in by_source.items():
        failures.append((source, lines.get(source), _best_message(source, messages)))


def _origin_of(exception: BaseException) -> tuple[str, int | None]:
    """Ansible's error origin, "<inventory plugin 'x' with source '/p'>" or "/p:4:1", as (path, line)."""
    text = str(getattr(exception, "obj", "") or "")
    if "source " in text:
        return text.split("source ")[-1].strip("'<>"), None
    path, _, rest = text.partition(":")
    line = rest.split(":")[0]
    return path, int(line) if line.isdigit() else None


def _origin_in_chain(exception: BaseException) -> tuple[str, int | None]:
    """The file and line Ansible 2.19 attaches (an Origin) to an error or to one of its causes."""
    seen: BaseException | None = exception
    while seen is not None:
        origin = getattr(seen, "obj", None)
        path = getattr(origin, "path", None)
        if path:
            return str(path), getattr(origin, "line_num", None)
        seen = seen.__cause__ or seen.__context__
    return _origin_of(exception)


def _first_line(exception: BaseException) -> str:
    message = getattr(exception, "message", None) or str(exception)
    return str(message).strip().splitlines()[0]


def _best_message(source: str, messages: dict[str, str]) -> str:
    """Of each plugin's complaint, the one from the plugin the file's suffix points at."""
    wanted = _PLUGIN_FOR_SUFFIX.get(Path(source).suffix, "")
    for plugin_msg, detail in messages.items():
        if f"'{wanted}' plugin" in plugin_msg:
            return f"not a valid {wanted.upper()} inventory: {detail}"
    return "cannot be parsed as an inventory: " + "; ".join(messages.values())


def load_inventory(root: Path, sources: tuple[str, ...]) -> Inventory:
    inventory = Inventory([str((root / source).resolve()) for source in sources])
    inventory.problems = [_relative(problem, root) for problem in inventory.problems]
    return inventory


def _relative(problem: Problem, root: Path) -> Problem:
    path = Path(problem.file)
    if path.is_relative_to(root):
        return Problem(str(path.relative_to(root)), problem.message, problem.line)
    return problem
