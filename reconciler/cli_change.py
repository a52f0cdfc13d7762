"""Command line of change review: `reconcile plan` and `reconcile apply` (SPEC §6, docs/plan-apply.md).

Place in the pipeline: argument parsing and output of the two change-review commands, registered by
cli.py (the entry point, which maps exit codes and errors); the work is in plan.py, apply.py, review.py.
Like cli.py, imports only the standard library at load time; each handler imports what it needs.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from .cli import _checked_project, _command, _executor_option, _positive_int, _write


def add_change_commands(commands: Any) -> None:
    """Register `plan` and `apply` on the command parser's subcommands."""
    plan = _command(commands, "plan", "as run, then write a remediation plan for change review",
                    "reconcile plan --out fix.plan --format markdown --output review.md")
    plan.add_argument("--out", metavar="PLAN", help="write the plan file here (what apply takes)")
    plan.add_argument("--limit", metavar="GLOB", help="only CIs whose id matches (glob: 'web-*')")
    plan.add_argument("--kind", metavar="KIND", help="only CIs of this kind (glob: server, 'aws.*')")
    plan.add_argument("--format", choices=["json", "markdown", "text"], default="text",
                      help="the review's format (default: text; markdown for a ticket or pull request)")
    plan.add_argument("--output", metavar="FILE", help="write the review here instead of stdout")
    plan.add_argument("--allow-disruptive", action="store_true",
                      help="make disruptive fixes (instance type, IMDSv2, downgrades...) automatic steps")
    plan.add_argument("--no-preview", action="store_true", help="skip the Ansible check-mode preview")
    plan.add_argument("--facts-dir", metavar="DIR", help="read server facts from files instead of Ansible")
    _executor_option(plan)
    plan.add_argument("-q", "--quiet", action="store_true", help="no progress output on the terminal")
    plan.set_defaults(handler=cmd_plan)
    apply = _command(commands, "apply", "re-verify and apply a reviewed plan, then verify and record it",
                     "reconcile apply fix.plan --yes --max-changes 20")
    apply.add_argument("plan", metavar="PLAN", help="a plan file written by 'reconcile plan --out'")
    apply.add_argument("--yes", action="store_true", help="do not ask for confirmation (required off a "
                                                          "terminal)")
    apply.add_argument("--max-changes", type=_positive_int, default=50, metavar="N",
                       help="refuse plans with more automatic steps than N (default: 50)")
    apply.add_argument("--stop-on-error", action="store_true", help="stop at the first failing step")
    apply.set_defaults(handler=cmd_apply)


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    from . import apply as applying
    from . import pipeline, review
    from . import plan as plans
    from .model import Status
    from .progress import progress_for
    from .register.store import open_register, resolve_dsn

    project, facts_dir = _checked_project(args)
    options = pipeline.RunOptions(limit=args.limit, kind=args.kind, facts_dir=facts_dir,
                                  executor=args.executor,
                                  progress=progress_for(sys.stderr, args.quiet or args.format != "text"))
    facts: dict[str, Any] = {}
    began = time.perf_counter()
    with open_register(resolve_dsn(args.register, project.settings.register), project.root) as register:
        result = pipeline.run(project, options, register, record=True, facts_out=facts)
    made = plans.build_plan(plans.PlanInput(project, result.items, facts, result.id, args.allow_disruptive))
    timings = {"run": time.perf_counter() - began}
    began = time.perf_counter()
    # facts from files (--facts-dir or facts_dir:): the hosts they describe need not be reachable from here
    previews = {} if args.no_preview or project.settings.facts_dir else applying.preview(project, made)
    timings["preview"] = time.perf_counter() - began
    if args.out:
        plans.write_plan(made, args.out)
    unchecked = [(item.ci, item.error) for item in result.items if item.ci and item.status == Status.UNKNOWN]
    text = review.RENDERERS[args.format](made, previews, unchecked)
    _write(args, out, lambda colour: text)
    if not args.quiet:  # where the time went, as apply reports it (collection, diff and record: "run")
        spent = ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in timings.items())
        sys.stderr.write(f"plan: {len(made['steps'])} step(s); {spent}\n")
    return plans.plan_exit_code(made, result.items)


def cmd_apply(args: argparse.Namespace, out: TextIO) -> int:
    from . import apply as applying
    from . import plan as plans
    from . import review
    from .project import load_project
    from .register.store import open_register, resolve_dsn

    made = plans.read_plan(args.plan)  # a missing or unreadable plan is said first: --yes would not help
    if not args.yes and not sys.stdin.isatty():
        raise applying.Refused("refused: not on a terminal and no --yes (review the plan, then run again "
                               "with --yes); nothing was changed")
    project = load_project(args.project)
    options = applying.ApplyOptions(max_changes=args.max_changes, stop_on_error=args.stop_on_error,
                                    who=plans.current_user())

    def confirm(steps: Any) -> bool:
        if args.yes:
            return True
        sys.stderr.write(review.render_text({**made, "steps": steps}, {}))
        return input(f"apply these {len(steps)} step(s)? [y/N] ").strip().lower() in ("y", "yes")

    with open_register(resolve_dsn(args.register, project.settings.register), project.root) as register:
        done = applying.apply_plan(project, made, register, options, confirm)
    for step in made["steps"]:
        result, detail = done.results.get(step["id"], ("skipped", None))
        out.write(f"{step['id']} {step['ci']} {step['path']}: {result}{': ' + detail if detail else ''}\n")
    spent = ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in done.timings.items())
    sys.stderr.write(f"apply: {len(done.results)} step(s); {spent}\n")
    return done.exit_code
