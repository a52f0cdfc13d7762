"""The one playbook that carries out (or, in check mode, previews) every server step of a plan.

Place in the pipeline: apply.py and the plan preview hand the server steps here; each host gets its steps
as a host variable (`reconciler_steps`: action → [{id, args}]) and one fixed playbook loops over them, one
task per action, in a safe order (packages, files, lines, kernel parameters, groups, users, services).
User text reaches Ansible marked `!unsafe` (never templated). `StepEvents` turns ansible-runner's
per-item events back into one result per step id, with its check-mode diff.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

STEPS_VAR = "reconciler_steps"
SPEC_VAR = "reconciler_spec"  # the collector's fact spec of the host (collectors/ansible.py)
FACTS = "reconciler_facts"
EXPECT_VAR = "reconciler_expect"  # apply: [{ci, shape, digest}] of the host's planned CIs
FRESH = "fresh"  # the freshness barrier's task (plugins/action/reconciler_fresh.py)
NO_RESULT = "no result from Ansible for this step"
_ATTRIBUTES_DIFF = "(file attributes)"  # the header of a file module's diff of mode, owner and group
# what a file step may hand to lineinfile: a mode in octal digits, which cannot fail on its own (an unknown
# owner or group, or a bad mode, would fail the line step it rides on: those stay steps of their own)
_OCTAL_MODE = re.compile(r"0?[0-7]{3,4}")
_FINAL = ("runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_on_skipped")
SYSCTL_ROOT_VAR = "reconciler_sysctl_root"  # hidden host var (tests): kernel parameters live under it


def _task(name: str, module: str, params: Mapping[str, str], extra: str = "") -> str:
    lines = [f"    - name: {name}", f"      {module}:"]
    lines += [f"        {key}: {value}" for key, value in params.items()]
    lines += [
        f'      loop: "{{{{ {STEPS_VAR}.{name.split()[0]} | default([]) }}}}"',
        '      loop_control: {label: "{{ item.id }}"}',
    ]
    return "\n".join(lines + ([extra] if extra else []))


def _arg(name: str) -> str:
    return f'"{{{{ item.args.{name} | default(omit) }}}}"'


# reading facts is bounded by the Ansible timeout, as in collection (a host that hangs after connecting must
# not hold the run until its deadline); the fixes are not (a package install may rightly take longer)
_FRESH_PLAY = f"""- hosts: _reconciler_targets
  gather_facts: false
  any_errors_fatal: true
  tasks:
    - name: {FRESH}
      reconciler_fresh:
        spec: "{{{{ {SPEC_VAR} }}}}"
        expect: "{{{{ {EXPECT_VAR} }}}}"
"""
# apply: hosts whose planned CIs have only manual steps were checked for freshness; they have nothing to do
_NOTHING_TO_DO = f"""    - meta: end_host
      when: {STEPS_VAR} is not defined
"""


def playbook(
    stop_on_error: bool,
    gather: bool = False,
    actions: Iterable[str] | None = None,
    fresh: bool = False,
    omit: Iterable[str] = (),
    timeout: int = 30,
) -> str:
    """The fixed playbook (only the tasks of `actions`, when given, less the tasks named in `omit`: an empty
    loop or a false `when` still costs a worker per host); without --stop-on-error a failing item never
    stops the host's other steps. `gather`: end with the read-only fact module, so that apply re-collects
    in the same run. `fresh` (apply): a first play, the freshness barrier — any stale or unreachable host
    stops every host before a single fix runs. `timeout` bounds the barrier's and the closing fact
    task's run on a host (seconds). The strategy is linear: measured on the apply benchmark,
    `free` cost the controller ~30 % more CPU for no gain in wall time. With `stop_on_error` the first
    failure stops every host."""
    wanted = set(actions) if actions is not None else None
    tasks = [
        _task("package", "ansible.builtin.package", {"name": _arg("name"), "state": _arg("state")}),
        _task(
            "file", "ansible.builtin.file", {k: _arg(k) for k in ("path", "state", "mode", "owner", "group")}
        ),
        _task(
            "lineinfile",
            "ansible.builtin.lineinfile",
            {k: _arg(k) for k in ("path", "line", "create", "mode", "owner", "group")},
        ),
        _task(
            "sysctl persist",
            "ansible.builtin.lineinfile",
            {
                "path": _arg("file"),
                "create": "true",
                "mode": '"0644"',
                "line": '"{{ item.args.key }} = {{ item.args.value }}"',
                "regexp": '"^\\\\s*{{ item.args.key | regex_escape }}\\\\s*="',
            },
        ),
        _task(
            "sysctl load",
            "ansible.builtin.command",
            {"argv": '[sysctl, -p, "{{ item.args.file }}"]'},
            f"      when: {SYSCTL_ROOT_VAR} is not defined",
        ),
        _task(
            "sysctl load-under-root",
            "ansible.builtin.copy",
            {
                "dest": f"\"{{{{ {SYSCTL_ROOT_VAR} }}}}/{{{{ item.args.key | replace('.', '/') }}}}\"",
                "content": '"{{ item.args.value }}\\n"',
            },
            f"      when: {SYSCTL_ROOT_VAR} is defined",
        ),
        _task("group", "ansible.builtin.group", {k: _arg(k) for k in ("name", "gid", "state")}),
        _task(
            "user",
            "ansible.builtin.user",
            {k: _arg(k) for k in ("name", "uid", "group", "home", "shell", "groups", "append", "state")},
        ),
        _task(
            "service", "ansible.builtin.service", {k: _arg(k) for k in ("name", "state", "enabled", "use")}
        ),
    ]
    names = [task.split("- name: ", 1)[1].split("\n", 1)[0] for task in tasks]
    tasks = [task for task, name in zip(tasks, names, strict=True)
             if (wanted is None or name.split()[0] in wanted) and name not in set(omit)]
    errors = "" if stop_on_error else "\n      ignore_errors: true"
    body = (_NOTHING_TO_DO if fresh else "") + "\n".join(task + errors for task in tasks)
    if gather:
        body += f'\n    - name: facts\n      reconciler_facts:\n        spec: "{{{{ {SPEC_VAR} }}}}"\n      timeout: {timeout}'
    # --stop-on-error: the first failure stops every host (linear, so that no host runs ahead of it)
    pace = "  any_errors_fatal: true\n" if stop_on_error else ""
    fixes = f"- hosts: _reconciler_targets\n  gather_facts: false\n{pace}  tasks:\n{body}\n"
    return (_FRESH_PLAY + f"      timeout: {timeout}\n" if fresh else "") + fixes


def host_steps(steps: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """host → {action: [{id, args}]}: the host variable each host's loops read. A file's mode step rides
    on the first `lineinfile` step of the same path (`also`: its id), since lineinfile sets it too: one
    module run on the host instead of two."""
    hosts: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for step in steps:
        host = step["target"]["host"]
        hosts.setdefault(host, {}).setdefault(step["action"], []).append(
            {"id": step["id"], "args": dict(step["args"])}
        )
    for actions in hosts.values():
        _fold_attributes(actions)
    return hosts


def _fold_attributes(actions: dict[str, list[dict[str, Any]]]) -> None:
    lines: dict[Any, dict[str, Any]] = {}
    for item in actions.get("lineinfile", ()):
        lines.setdefault(item["args"]["path"], item)
    kept = []
    for item in actions.get("file", ()):
        attributes = {k: v for k, v in item["args"].items() if k != "path"}
        carrier = lines.get(item["args"]["path"])
        foldable = set(attributes) == {"mode"} and _OCTAL_MODE.fullmatch(str(attributes["mode"]))
        if carrier is None or not foldable or set(attributes) & set(carrier["args"]):
            kept.append(item)
            continue
        carrier["args"].update(attributes)
        carrier.setdefault("also", []).append(item["id"])
    if kept:
        actions["file"] = kept
    else:
        actions.pop("file", None)


class StepEvents:
    """ansible-runner event handler: per step id, whether it failed (and why), changed, and its diffs."""

    max_result = 20_000_000

    def __init__(self) -> None:
        self.failed: dict[str, str] = {}
        self.changed: set[str] = set()
        self.diffs: dict[str, list[str]] = {}
        self.unreachable: dict[str, str] = {}
        self.host_failed: dict[str, str] = {}
        self.tasks: list[tuple[str, str]] = []  # (host, module) of every task started
        self.facts: dict[str, dict[str, Any]] = {}  # host -> facts of the closing fact task
        self.seen: set[str] = set()  # step ids Ansible reported on
        self.fresh: dict[str, tuple[list[str], str | None]] = {}  # host -> (stale CIs, why it failed)

    def __call__(self, event: dict[str, Any]) -> bool:
        kind, data = event.get("event"), event.get("event_data") or {}
        res = data.get("res") or {}
        if data.get("task") == FRESH and kind in _FINAL:
            self._fresh(kind, data.get("host", ""), res)
        elif kind == "runner_on_start":
            self.tasks.append((data.get("host", ""), data.get("task_action", "")))
        elif kind in ("runner_item_on_ok", "runner_item_on_failed", "runner_item_on_skipped"):
            self._item(kind, res)
        elif kind == "runner_on_ok" and isinstance(res.get(FACTS), dict):
            self.facts[data.get("host", "")] = res[FACTS]
        elif kind == "runner_on_unreachable":
            self.unreachable[data.get("host", "")] = _message(res)
        elif kind == "runner_on_failed" and not res.get("results"):
            self.host_failed[data.get("host", "")] = _message(res)
        return False

    def _fresh(self, kind: str, host: str, res: Mapping[str, Any]) -> None:
        stale = [str(ci) for ci in res.get("reconciler_stale") or ()]
        failed = kind != "runner_on_ok" and not stale
        why = ("unreachable: " if kind == "runner_on_unreachable" else "") + _message(res) if failed else None
        self.fresh[host] = (stale, why)

    def _item(self, kind: str, res: Mapping[str, Any]) -> None:
        item = res.get("item") or {}
        diff = res.get("diff")
        diffs = diff if isinstance(diff, list) else [diff] if diff else []
        texts = [text for text in map(render_diff, diffs) if text]
        carrier, riders = str(item.get("id", "")), [str(step) for step in item.get("also") or ()]
        for step in [carrier, *riders]:
            self.seen.add(step)
            if kind == "runner_item_on_failed":
                self.failed.setdefault(step, _message(res))
            if res.get("changed"):
                self.changed.add(step)
        # lineinfile also reports its (unchanged) file attributes: render_diff drops those; a mode that rode
        # on the line step shows as the attributes' diff, which is the riding step's change, not the line's
        for text in texts:
            owners = riders if riders and _ATTRIBUTES_DIFF in text.split("\n", 1)[0] else [carrier]
            for step in owners:
                self.diffs.setdefault(step, []).append(text)

    def outcome(self, step: Mapping[str, Any]) -> str | None:
        """The reason a step failed, or None."""
        host = step["target"]["host"]
        if host in self.unreachable:
            return f"unreachable: {self.unreachable[host]}"
        if host in self.host_failed:
            return f"host failed: {self.host_failed[host]}"
        if step["id"] not in self.seen:
            return NO_RESULT
        return self.failed.get(step["id"])


def _message(res: Mapping[str, Any]) -> str:
    """The first line of why a task failed; for a loop, the first failing item's (the task's own message
    is Ansible's "All items completed")."""
    items = [item for item in res.get("results") or () if isinstance(item, Mapping)
             and (item.get("failed") or item.get("unreachable"))]
    if items:
        res = items[0]
    text = str(res.get("msg") or res.get("stderr") or "failed").strip()
    return text.splitlines()[0] if text else "failed"


def render_diff(diff: Mapping[str, Any]) -> str:
    """One module diff → unified-diff-like text (file modules give before/after strings or dicts); "" when
    it shows no change."""
    if diff.get("prepared"):
        return str(diff["prepared"]).rstrip()
    before, after = diff.get("before", ""), diff.get("after", "")
    if before == after:
        return ""
    name = diff.get("before_header", "before")  # copy's after_header is its temp file: name the target
    header = f"--- {name}\n+++ {diff.get('after_header', 'after') if name == 'before' else name}\n"
    if isinstance(before, dict) or isinstance(after, dict):
        keys = sorted(set(before or {}) | set(after or {}))
        lines = [
            f"-{k}: {(before or {}).get(k)}\n+{k}: {(after or {}).get(k)}"
            for k in keys
            if (before or {}).get(k) != (after or {}).get(k)
        ]
        return header + "\n".join(lines)
    import difflib

    body = difflib.unified_diff(str(before).splitlines(), str(after).splitlines(), lineterm="", n=1)
    return header + "\n".join(list(body)[2:])
