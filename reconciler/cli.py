"""Command line: argument parsing and output only. Exit codes are mapped here and nowhere else.

0 clean, 2 drift/flags at or above --fail-on, 3 nothing found but some CIs unknown, 1 the command itself
could not be done (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable, TextIO

from . import apply as applying
from . import pipeline, review, scaffold
from . import plan as plans
from .errors import ProjectError, ReconcilerError, UsageError
from .model import SEVERITIES, Project, RunResult
from .progress import progress_for
from .project import load_project, load_settings
from .register import commands as commands_
from .register.recording import load_report
from .register.store import Register, open_register, resolve_dsn
from .report.json import render_json, result_from_report
from .report.junit import render_junit
from .report.markdown import render_markdown
from .report.text import render_text

FORMATS: dict[str, Callable[[RunResult, bool, bool], str]] = {
    "text": lambda result, colour, verbose: render_text(result, colour, verbose),
    "json": lambda result, colour, verbose: render_json(result),
    "markdown": lambda result, colour, verbose: render_markdown(result),
    "junit": lambda result, colour, verbose: render_junit(result),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reconcile", description="Reconcile desired configuration, "
                                     "observed facts and the asset register.")
    parser.add_argument("--project", default=os.environ.get("RECONCILER_PROJECT", "."), help="project directory")
    parser.add_argument("--register", help="register DSN (default: reconciler.yml, then sqlite in .reconciler/)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", help="scaffold a new project")
    init.add_argument("dir", nargs="?", default=".")
    init.set_defaults(handler=cmd_init)

    validate = commands.add_parser("validate", help="render and check desired/, inventories/, reconciler.yml")
    validate.set_defaults(handler=cmd_validate)

    run = commands.add_parser("run", help="collect, diff, classify, record the run in the register, report")
    _run_options(run)
    run.set_defaults(handler=cmd_run)

    untracked = commands.add_parser("untracked", help="observed resources neither declared nor registered")
    _run_options(untracked)
    untracked.add_argument("--strict", action="store_true", help="include provider defaults")
    untracked.set_defaults(handler=cmd_untracked)

    show = commands.add_parser("show", help="one CI or asset: register record, desired, facts, drift, history")
    show.add_argument("id")
    show.add_argument("--format", choices=["text", "json"], default="text")
    show.set_defaults(handler=_with_register(commands_.show, needs_project=True))

    history = commands.add_parser("history", help="past runs, or one CI's configuration timeline")
    history.add_argument("id", nargs="?")
    history.add_argument("--limit", type=int, default=20)
    history.add_argument("--format", choices=["text", "json"], default="text")
    history.set_defaults(handler=_with_register(commands_.history))

    waive = commands.add_parser("waive", help="accept a known drift until a date")
    waive.add_argument("ci", help="CI id (glob)")
    waive.add_argument("path", help="drift path (glob)")
    waive.add_argument("--reason", required=True)
    waive.add_argument("--until", required=True, metavar="YYYY-MM-DD")
    waive.add_argument("--by", help="who accepts it (default: your login name)")
    waive.set_defaults(handler=_with_register(commands_.waive))

    report = commands.add_parser("report", help="re-render a recorded run")
    report.add_argument("run_id", metavar="RUN")
    report.add_argument("--format", choices=sorted(FORMATS), default="text")
    report.add_argument("--output", metavar="FILE")
    report.add_argument("--verbose", action="store_true")
    report.set_defaults(handler=cmd_report)

    _change_commands(commands)
    _register_commands(commands.add_parser("register", help="the asset register: import, export, list, show"))
    return parser


def _change_commands(commands: Any) -> None:
    """`plan` and `apply` (SPEC §6): change review."""
    plan = commands.add_parser("plan", help="as run, then write a remediation plan for change review")
    plan.add_argument("--out", metavar="PLAN", help="write the plan file here")
    plan.add_argument("--limit", metavar="GLOB", help="only CIs whose id matches")
    plan.add_argument("--kind", metavar="GLOB", help="only CIs of this kind (glob)")
    plan.add_argument("--format", choices=sorted(review.RENDERERS), default="text",
                      help="the review's format")
    plan.add_argument("--output", metavar="FILE", help="write the review here instead of stdout")
    plan.add_argument("--allow-disruptive", action="store_true", help="make disruptive fixes automatic")
    plan.add_argument("--no-preview", action="store_true", help="skip the Ansible check-mode preview")
    plan.add_argument("--facts-dir", metavar="DIR", help="read server facts from files instead of Ansible")
    plan.add_argument("--quiet", action="store_true", help="no progress output")
    plan.set_defaults(handler=cmd_plan)
    apply = commands.add_parser("apply", help="re-verify and apply a reviewed plan")
    apply.add_argument("plan", metavar="PLAN")
    apply.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    apply.add_argument("--max-changes", type=int, default=50, metavar="N",
                       help="refuse plans with more automatic steps (default 50)")
    apply.add_argument("--stop-on-error", action="store_true", help="stop at the first failing step")
    apply.set_defaults(handler=cmd_apply)


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    facts_dir = str(Path(args.facts_dir).resolve()) if args.facts_dir else None
    project = load_project(args.project, facts_dir=facts_dir)
    options = pipeline.RunOptions(limit=args.limit, kind=args.kind, facts_dir=facts_dir,
                                  progress=progress_for(sys.stderr, args.quiet or args.format != "text"))
    facts: dict[str, Any] = {}
    with open_register(resolve_dsn(args.register, project.settings.register), project.root) as register:
        result = pipeline.run(project, options, register, record=True, facts_out=facts)
    made = plans.build_plan(plans.PlanInput(project, result.items, facts, result.id, args.allow_disruptive))
    previews = {} if args.no_preview or facts_dir else applying.preview(project, made)
    if args.out:
        plans.write_plan(made, args.out)
    text = review.RENDERERS[args.format](made, previews)
    Path(args.output).write_text(text, encoding="utf-8") if args.output else out.write(text)
    return plans.plan_exit_code(made, result.items)


def cmd_apply(args: argparse.Namespace, out: TextIO) -> int:
    if not args.yes and not sys.stdin.isatty():
        raise applying.Refused("refused: not on a terminal and no --yes; nothing was changed")
    project = load_project(args.project)
    made = plans.read_plan(args.plan)
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


def _register_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="register_command", required=True, metavar="COMMAND")
    imports = commands.add_parser("import", help="upsert assets from CSV or JSON")
    imports.add_argument("file")
    imports.add_argument("--match-on", choices=["asset_tag", "serial"], default="asset_tag")
    imports.add_argument("--dry-run", action="store_true", help="show creates/updates/unchanged, write nothing")
    imports.add_argument("--format", choices=["csv", "json"], help="default: by the file's extension")
    imports.set_defaults(handler=_with_register(commands_.register_import))
    exports = commands.add_parser("export", help="every asset, as CSV or JSON (round-trips with import)")
    exports.add_argument("--format", choices=["csv", "json"])
    exports.add_argument("--output", metavar="FILE")
    exports.set_defaults(handler=_with_register(commands_.register_export))
    listing = commands.add_parser("list", help="assets, filtered")
    for name in ("flag", "owner", "status", "kind"):
        listing.add_argument(f"--{name}")
    listing.add_argument("--format", choices=["text", "json"], default="text")
    listing.set_defaults(handler=_with_register(commands_.register_list))
    showing = commands.add_parser("show", help="one asset")
    showing.add_argument("tag")
    showing.add_argument("--format", choices=["text", "json"], default="text")
    showing.set_defaults(handler=_with_register(commands_.register_show))


def _with_register(handler: Callable[..., int], needs_project: bool = False) -> Callable[[argparse.Namespace, TextIO], int]:
    """A register command: the register is opened from --register, RECONCILER_REGISTER or reconciler.yml."""

    def call(args: argparse.Namespace, out: TextIO) -> int:
        project = _project_or_none(args.project) if needs_project else None
        with open_register_for(args) as register:
            return handler(args, register, out, project) if needs_project else handler(args, register, out)

    return call


def _project_or_none(root: str) -> Project | None:
    try:
        return load_project(root)
    except ProjectError as exc:
        sys.stderr.write(f"warning: the project does not load, showing the register only: {exc}\n")
        return None


def open_register_for(args: argparse.Namespace) -> Register:
    root = Path(args.project)
    settings = load_settings(root.resolve(), [])
    return open_register(resolve_dsn(args.register, settings.register), root)


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", metavar="GLOB", help="only CIs whose id matches")
    parser.add_argument("--kind", metavar="KIND", help="only CIs of this kind (glob)")
    parser.add_argument("--format", choices=sorted(FORMATS), default="text")
    parser.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")
    parser.add_argument("--fail-on", choices=SEVERITIES, default="low",
                        help="lowest severity that makes the exit code 2 (default: low)")
    parser.add_argument("--facts-dir", metavar="DIR", help="read server facts from files instead of Ansible")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--verbose", action="store_true", help="list every CI in sync")


def cmd_init(args: argparse.Namespace, out: TextIO) -> int:
    target = scaffold.create_project(Path(args.dir))
    out.write(f"created a reconcile project in {target}\nnext: cd {args.dir} && reconcile validate\n")
    return 0


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    try:
        project = load_project(args.project)
    except ProjectError as exc:
        for problem in exc.problems:
            sys.stderr.write(f"error: {problem}\n")
        sys.stderr.write(f"{len(exc.problems)} problem(s) found\n")
        return 1
    kinds = sorted({ci.kind for ci in project.cis})
    out.write(f"ok: {len(project.cis)} CIs ({', '.join(kinds) or 'none'}), "
              f"{len(project.inventory.hosts)} inventory hosts\n")
    return 0


def _run(args: argparse.Namespace, record: bool) -> RunResult:
    facts_dir = str(Path(args.facts_dir).resolve()) if args.facts_dir else None
    project = load_project(args.project, facts_dir=facts_dir)
    quiet = args.quiet or args.format != "text"
    options = pipeline.RunOptions(limit=args.limit, kind=args.kind, fail_on=args.fail_on, facts_dir=facts_dir,
                                  strict=getattr(args, "strict", False), progress=progress_for(sys.stderr, quiet))
    with open_register(resolve_dsn(args.register, project.settings.register), project.root) as register:
        return pipeline.run(project, options, register, record=record)


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    result = _run(args, record=True)
    _write_report(args, result, out)
    return result.exit_code


def cmd_untracked(args: argparse.Namespace, out: TextIO) -> int:
    """The cloud account owner's view: a run (recorded nowhere) reduced to its untracked resources."""
    result = pipeline.untracked_only(_run(args, record=False), args.fail_on)
    _write_report(args, result, out)
    return result.exit_code


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    with open_register_for(args) as register:
        stored = load_report(register, args.run_id)
    if stored is None:
        raise UsageError(f"no recorded run '{args.run_id}' (see 'reconcile history')")
    _write_report(args, result_from_report(stored), out)
    return int(stored["run"]["exit_code"])


def _write_report(args: argparse.Namespace, result: RunResult, out: TextIO) -> None:
    if args.output:
        text = FORMATS[args.format](result, False, args.verbose)
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        out.write(FORMATS[args.format](result, out.isatty(), args.verbose))


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args, out or sys.stdout))
    except ReconcilerError as exc:
        sys.stderr.write(f"reconcile: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("reconcile: interrupted\n")
        return 130
    except BrokenPipeError:  # `reconcile show X | head`: the reader left, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        sys.stderr.write(f"reconcile: error: {exc}\n")
        return 1
    except Exception as exc:  # a bug of ours: still one line, the traceback on demand
        if os.environ.get("RECONCILER_DEBUG"):
            raise
        sys.stderr.write(f"reconcile: internal error: {type(exc).__name__}: {exc} "
                         "(set RECONCILER_DEBUG=1 for the traceback)\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
