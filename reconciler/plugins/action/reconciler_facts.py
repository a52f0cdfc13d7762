"""reconciler_facts (action): how every run of the fact module reaches the host.

Place in the pipeline: the collector's ad-hoc task, apply's re-collection and its freshness barrier
(reconciler_fresh.py) all come here. When Ansible pipelines modules, the module file is sent as one plain
Python script on the same command Ansible would use (interpreter discovery, become and environment
included), without the AnsiballZ wrapper: the host then never imports Ansible's module_utils, most of a
module run's time there. Otherwise it runs as the ordinary module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ansible.module_utils.common.json import Direction, get_module_encoder
from ansible.module_utils.common.validation import check_type_dict
from ansible.plugins.action import ActionBase

FACTS = "reconciler_facts"
_SOURCE = (Path(__file__).resolve().parents[1] / "modules" / f"{FACTS}.py").read_text()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result.update(run_facts(self, dict(self._task.args), task_vars or {}))
        return result


def run_facts(action: ActionBase, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
    """The fact module's result for this host, as `_execute_module` would return it."""
    built, _ = action._configure_module(module_name=FACTS, module_args=args, task_vars=task_vars)
    if not action._is_pipelining_enabled(built.module_style):
        return action._execute_module(module_name=FACTS, module_args=args, task_vars=task_vars)
    action._used_interpreter = built.shebang
    command = action._connection._shell.build_module_command(
        action._compute_environment_string(), built.shebang, ""
    ).strip()
    spec = check_type_dict(args.get("spec") or {})  # as the module's `type: dict` takes it (JSON text too)
    encoder = get_module_encoder(built.serialization_profile, Direction.CONTROLLER_TO_MODULE)
    params = json.dumps({"spec": spec}, cls=encoder)
    script = (
        f"import json\nplain = {{'__name__': {FACTS!r}}}\n"
        f"exec(compile({_SOURCE!r}, {FACTS + '.py'!r}, 'exec'), plain)\n"
        f"plain['run_plain'](json.loads({params!r}))\n"
    )
    found = action._parse_returned_data(
        action._low_level_execute_command(command, sudoable=True, in_data=script.encode()),
        built.serialization_profile,
    )
    if action._discovered_interpreter_key:  # as _execute_module does: later tasks skip the discovery
        found.setdefault("ansible_facts", {})[action._discovered_interpreter_key] = action._discovered_interpreter
    return found
