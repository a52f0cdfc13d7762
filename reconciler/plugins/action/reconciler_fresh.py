"""reconciler_fresh: apply's freshness barrier, an Ansible action plugin run on the controller.

Place in the pipeline: the first play of apply's one ansible-runner run (fixers/server_play.py). Per host it
runs the read-only `reconciler_facts` module with the host's spec, then compares each planned CI's facts,
cut to what the CI declares, with the `facts_digest` its steps were planned from — with reconciler's own
digest code (reconciler/digests.py). A mismatch fails the task; the play is `any_errors_fatal`, so one
stale (or unreachable) host stops every host before any fix runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ansible.plugins.action import ActionBase

try:
    from reconciler.digests import cut_facts, sha256
except ImportError:  # an ansible-playbook of another interpreter: our package is three levels up
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from reconciler.digests import cut_facts, sha256
from reconciler.plugins.action.reconciler_facts import FACTS, run_facts


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        found = run_facts(self, {"spec": self._task.args.get("spec")}, task_vars or {})
        if found.get("failed") or not isinstance(found.get(FACTS), dict):
            return dict(found, failed=True)
        facts = found[FACTS]
        stale = sorted(one["ci"] for one in self._task.args.get("expect") or ()
                       if sha256(cut_facts(one["shape"], facts)) != one["digest"])
        result.update(changed=False, reconciler_stale=stale)
        if stale:
            result.update(failed=True, msg=f"stale: the facts of {', '.join(stale)} changed since the plan")
        return result
