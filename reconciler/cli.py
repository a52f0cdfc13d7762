"""Command line: argument parsing and output only. Exit codes are mapped here and nowhere else.

0 clean, 2 drift/flags at or above --fail-on, 3 nothing found but some CIs unknown, 1 the command itself
could not be done (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, TextIO

from . import pipeline, scaffold
from .errors import ProjectError, ReconcilerError
from .model import SEVERITIES, RunResult
from .progress import progress_for
from .project import load_project
from .report.json import render_json
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

    run = commands.add_parser("run", help="collect, diff, classify, report")
    _run_options(run)
    run.set_defaults(handler=cmd_run)
    return parser


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


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    facts_dir = str(Path(args.facts_dir).resolve()) if args.facts_dir else None
    project = load_project(args.project, facts_dir=facts_dir)
    quiet = args.quiet or args.format != "text"
    options = pipeline.RunOptions(limit=args.limit, kind=args.kind, fail_on=args.fail_on, facts_dir=facts_dir,
                                  progress=progress_for(sys.stderr, quiet))
    result = pipeline.run(project, options)
    _write_report(args, result, out)
    return result.exit_code


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
