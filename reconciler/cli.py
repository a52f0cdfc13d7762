"""Command line: argument parsing and output only. Exit codes are mapped here and nowhere else.

0 clean, 2 drift/flags at or above --fail-on, 3 nothing found but some CIs unknown, 1 the command itself
could not be done (one line on stderr, never a traceback) — a command line argparse refuses included, so
that a scheduler never reads a typo as "drift found".

Start-up is kept short: this module imports only the standard library and the light shared modules; each
handler imports what its command needs (the pipeline, the register, Ansible, boto3) when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from .errors import Problem, ProjectError, ReconcilerError, UsageError
from .model import FLAG_SEVERITY, SEVERITIES

if TYPE_CHECKING:
    from .model import Project, RunResult
    from .register.store import Register

KIND_HELP = "only this CI kind (glob: server, 'aws.*'): its CIs, and the undeclared resources of that kind"
_RAW = argparse.RawDescriptionHelpFormatter
_TEXT_OR_JSON = "output format (default: text)"


# Report renderers by format, each importing its module when a report is written.
def _text(result: RunResult, colour: bool, verbose: bool) -> str:
    from .report.text import render_text
    return render_text(result, colour, verbose)


def _json(result: RunResult, colour: bool, verbose: bool) -> str:
    from .report.json import render_json
    return render_json(result)


def _markdown(result: RunResult, colour: bool, verbose: bool) -> str:
    from .report.markdown import render_markdown
    return render_markdown(result)


def _junit(result: RunResult, colour: bool, verbose: bool) -> str:
    from .report.junit import render_junit
    return render_junit(result)


def _html(result: RunResult, colour: bool, verbose: bool) -> str:
    from .report.html import render_html
    return render_html(result)



PROJECT_PARTS = ("reconciler.yml", "desired", "inventories", "plugins")  # a directory with none is no project
MESSAGE_LIMIT = 1000  # characters of one error line: user values inside are quoted short already
FORMATS: dict[str, Callable[[RunResult, bool, bool], str]] = {
    "text": _text, "json": _json, "markdown": _markdown, "junit": _junit, "html": _html,
}


class CommandLineError(Exception):
    """A command line argparse refused; `hint` names the help to read."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.hint = hint


class Parser(argparse.ArgumentParser):
    """argparse, except that a refused command line exits 1 with one line and a hint (not 2, which
    means "drift found" to a scheduler)."""

    def error(self, message: str) -> NoReturn:
        raise CommandLineError(message, f"see '{self.prog} --help'")

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        """As argparse, except that an unknown option names the help of the command it was given to, not
        the top-level help (argparse leaves the extras to the top parser)."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            prog = getattr(parsed, "command_prog", self.prog)
            raise CommandLineError(f"unrecognized arguments: {' '.join(extras)}", f"see '{prog} --help'")
        return parsed


def _global_options(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """--project and --register, accepted before the command and after it (the later one wins)."""
    default: Any = os.environ.get("RECONCILER_PROJECT", ".") if top else argparse.SUPPRESS
    parser.add_argument("--project", metavar="DIR", default=default,
                        help="the project directory (default: $RECONCILER_PROJECT, then the current "
                             "directory)")
    parser.add_argument("--register", metavar="DSN", default=None if top else argparse.SUPPRESS,
                        help="register database, e.g. sqlite:///reg.db or postgresql://user@host/db "
                             "(default: $RECONCILER_REGISTER, then reconciler.yml's register:, then "
                             ".reconciler/register.db in the project)")


def _command(commands: Any, name: str, help: str, example: str | None = None, **kwargs: Any) -> Parser:
    epilog = f"example:\n  {example}" if example else None
    parser: Parser = commands.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".",
                                         epilog=epilog, formatter_class=_RAW, **kwargs)
    parser.set_defaults(command_prog=parser.prog)
    _global_options(parser)
    return parser


def build_parser() -> Parser:
    parser = Parser(prog="reconcile", formatter_class=_RAW,
                    description="Reconcile desired configuration, observed facts and the asset register.",
                    epilog="exit codes: 0 clean; 2 drift or flags at or above --fail-on; 3 nothing found but "
                           "some CIs unknown;\n            1 the command could not be done (one line on "
                           "stderr).\ndocs: docs/reference.md in the reconciler repository; "
                           "'reconcile COMMAND --help'.")
    _global_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = _command(commands, "init", "scaffold a new project (reconciler.yml, a baseline, one server CI, an "
                    "inventory, an assets.csv)", "reconcile init my-project && cd my-project")
    init.add_argument("dir", nargs="?", metavar="DIR",
                      help="where to create it (default: --project, else the current directory); existing "
                           "files are never overwritten")
    init.set_defaults(handler=cmd_init)

    validate = _command(commands, "validate", "render and check desired/, inventories/ and reconciler.yml; "
                        "collect nothing; list every problem", "reconcile validate --project ops/")
    validate.set_defaults(handler=cmd_validate)

    run = _command(commands, "run", "collect, diff, classify against the register, record the run, report",
                   "reconcile run --kind 'aws.*' --format json --output report.json --fail-on high")
    _run_options(run, verbose_help="also list every CI in sync, and each collector's figures")
    run.add_argument("--notify", action="append", default=[], metavar="URL",
                     help="Apprise URL told about new, changed and resolved findings (repeatable; "
                          "also notify: in reconciler.yml)")
    run.set_defaults(handler=cmd_run)

    untracked = _command(commands, "untracked", "observed resources neither declared nor registered (the "
                         "cloud account owner's view; not recorded as a run)",
                         "reconcile untracked --kind 'aws.*' --strict")
    _run_options(untracked, verbose_help="also show each collector's figures")
    untracked.add_argument("--strict", action="store_true",
                           help="include provider defaults (default VPC, its security group, ...)")
    untracked.set_defaults(handler=cmd_untracked)

    show = _command(commands, "show", "one CI or asset: register record, desired, last facts, open drift and "
                    "flags, relations, changes", "reconcile show web-01")
    show.add_argument("id", metavar="ID", help="a CI id or an asset tag")
    show.add_argument("--format", choices=["text", "json"], default="text", help=_TEXT_OR_JSON)
    show.set_defaults(handler=_with_register("show", needs_project=True))

    history = _command(commands, "history", "past runs, or one CI's configuration timeline",
                       "reconcile history web-01 --limit 5")
    history.add_argument("id", nargs="?", metavar="CI", help="a CI id: its configuration timeline (default: "
                                                             "the list of recorded runs)")
    history.add_argument("--limit", type=_positive_int, default=20, metavar="N",
                         help="show at most N runs or versions, the newest (default: 20)")
    history.add_argument("--format", choices=["text", "json"], default="text", help=_TEXT_OR_JSON)
    history.set_defaults(handler=_with_register("history"))

    _waive_command(commands)
    report = _command(commands, "report", "re-render a recorded run in any format",
                      "reconcile report 0b6f… --format markdown --output run.md")
    report.add_argument("run_id", metavar="RUN", help="a run id, as printed by run and listed by history")
    _format_options(report, verbose_help="also list every CI in sync, and each collector's figures")
    report.set_defaults(handler=cmd_report)

    _change_commands(commands)
    _register_commands(_command(commands, "register", "the asset register: import, export, list, show"))
    return parser


def _waive_command(commands: Any) -> None:
    waive = _command(commands, "waive", "accept a known drift until a date (it stays in reports, marked "
                     "waived, and no longer counts for the exit code)",
                     "reconcile waive web-02 'packages.nginx' --reason 'upgrade in CHG-1234' "
                     "--until 2030-12-31")
    waive.add_argument("ci", metavar="CI", help="CI id (glob: 'web-*')")
    waive.add_argument("path", metavar="PATH", help="drift path as the report shows it (glob; a prefix "
                                                    "covers what is below it: 'packages')")
    waive.add_argument("--reason", required=True, help="why it is accepted (kept with the waiver)")
    waive.add_argument("--until", required=True, metavar="YYYY-MM-DD", help="last day the waiver holds")
    waive.add_argument("--by", help="who accepts it (default: your login name)")
    waive.set_defaults(handler=_with_register("waive", needs_project=True, strict=True))


def _change_commands(commands: Any) -> None:
    """`plan` and `apply`: change review (cli_change.py, docs/plan-apply.md)."""
    from .cli_change import add_change_commands

    add_change_commands(commands)


def _register_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="register_command", required=True, metavar="COMMAND")
    imports = _command(commands, "import", "upsert assets from a CSV or JSON export",
                       "reconcile register import assets.csv --dry-run")
    imports.add_argument("file", metavar="FILE", help="CSV (header row) or JSON (a list of objects)")
    imports.add_argument("--match-on", choices=["asset_tag", "serial"], default="asset_tag",
                         help="which column finds the existing asset to update (default: asset_tag)")
    imports.add_argument("--dry-run", action="store_true",
                         help="show creates/updates/unchanged, write nothing")
    imports.add_argument("--format", choices=["csv", "json"],
                         help="file format (default: by the file's extension)")
    imports.set_defaults(handler=_with_register("register_import"))
    exports = _command(commands, "export", "every asset, as CSV or JSON (round-trips with import)",
                       "reconcile register export --output assets.json")
    exports.add_argument("--format", choices=["csv", "json"],
                         help="output format (default: by --output's extension, else csv)")
    exports.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    exports.set_defaults(handler=_with_register("register_export"))
    listing = _command(commands, "list", "assets, with their linked CI and open flags, filtered",
                       "reconcile register list --kind server --flag unseen")
    listing.add_argument("--flag", choices=sorted(FLAG_SEVERITY), metavar="FLAG",
                         help=f"only assets with this open flag: {', '.join(sorted(FLAG_SEVERITY))}")
    listing.add_argument("--owner", help="only assets of this owner (team)")
    listing.add_argument("--status", help="only assets in this lifecycle status (deployed, in_stock, "
                                          "retired, ...)")
    listing.add_argument("--kind", metavar="KIND", help="only assets of this CI kind (glob): the kind of the "
                         "CI or resource it is linked to, else the kind its identifiers imply (hostname: "
                         "server, instance_id: aws.ec2.instance, bucket: aws.s3.bucket, arn: by its service)")
    listing.add_argument("--category", help="only assets of this category (hardware, software_licence, "
                                            "cloud, other)")
    listing.add_argument("--format", choices=["text", "json"], default="text", help=_TEXT_OR_JSON)
    listing.set_defaults(handler=_with_register("register_list"))
    showing = _command(commands, "show", "one asset, with its link, last facts and open findings",
                       "reconcile register show ASSET-0042")
    showing.add_argument("tag", metavar="TAG", help="asset tag")
    showing.add_argument("--format", choices=["text", "json"], default="text", help=_TEXT_OR_JSON)
    showing.set_defaults(handler=_with_register("register_show"))


def _run_options(parser: argparse.ArgumentParser, verbose_help: str) -> None:
    parser.add_argument("--limit", metavar="GLOB", help="only CIs whose id matches (glob: 'web-*')")
    parser.add_argument("--kind", metavar="KIND", help=KIND_HELP)
    _format_options(parser, verbose_help)
    parser.add_argument("--fail-on", choices=SEVERITIES, default="low",
                        help="lowest severity that makes the exit code 2 (default: low; ownership "
                             "flags weigh info)")
    parser.add_argument("--facts-dir", metavar="DIR", help="read server facts from files instead of Ansible")
    _executor_option(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output on the terminal")


def _executor_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--executor", metavar="WHERE", type=_executor,
                        help="where collection jobs run: local (default), processes (this machine's cores) "
                             "or "
                             "dask://HOST:PORT (a Dask scheduler's workers; docs/scale-out.md); default: "
                             "reconciler.yml's executor:")


def _executor(text: str) -> str:
    if text in ("local", "processes") or (text.startswith("dask://") and text.rpartition(":")[2].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"'{text}' is not local, processes or dask://HOST:PORT")


def _format_options(parser: argparse.ArgumentParser, verbose_help: str) -> None:
    parser.add_argument("--format", choices=sorted(FORMATS), default="text",
                        help="report format (default: text)")
    parser.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")
    parser.add_argument("-v", "--verbose", action="store_true", help=verbose_help)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def _with_register(name: str, needs_project: bool = False,
                   strict: bool = False) -> Callable[[argparse.Namespace, TextIO], int]:
    """A register command (register/commands.py `name`): the register is opened from --register,
    RECONCILER_REGISTER or reconciler.yml. `strict`: the command is about the project (waive names its
    CIs), so the project must load."""

    def call(args: argparse.Namespace, out: TextIO) -> int:
        from .project import load_project
        from .register import commands as commands_

        handler = getattr(commands_, name)
        project = None
        if needs_project:
            project = load_project(args.project) if strict else _project_or_none(args.project)
        with open_register_for(args) as register:
            return handler(args, register, out, project) if needs_project else handler(args, register, out)

    return call


def _project_or_none(root: str) -> Project | None:
    from .project import load_project

    try:
        return load_project(root)
    except ProjectError as exc:
        sys.stderr.write(_one_line(f"warning: the project does not load, showing the register only: {exc}")
                         + "\n")
        return None


def open_register_for(args: argparse.Namespace) -> Register:
    from .project import load_settings
    from .register.store import open_register, resolve_dsn

    root = Path(args.project)
    problems: list[Problem] = []
    settings = load_settings(root.resolve(), problems)
    if problems:  # never fall back to the default register when the configured one cannot be read
        raise ProjectError(problems)
    return open_register(resolve_dsn(args.register, settings.register), root)


def cmd_init(args: argparse.Namespace, out: TextIO) -> int:
    from . import scaffold

    where = args.dir or args.project
    target = scaffold.create_project(Path(where))
    go_there = "" if target == Path.cwd().resolve() else f"cd {where} && "
    out.write(f"created a reconcile project in {target}\nnext: {go_there}reconcile validate\n")
    return 0


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    from .project import load_project
    from .report.text import plural

    root = Path(args.project)
    if not any((root / part).exists() for part in PROJECT_PARTS):  # the wrong directory, most likely: say so
        raise UsageError(f"{root.resolve()} has no reconciler.yml and no desired/, nothing to validate (create "
                         "a project with 'reconcile init DIR', or point at one with --project DIR)")
    try:
        project = load_project(args.project)
    except ProjectError as exc:
        for problem in exc.problems:
            sys.stderr.write(_one_line(f"error: {problem}") + "\n")
        sys.stderr.write(f"{plural(len(exc.problems), 'problem')} found\n")
        return 1
    kinds = sorted({ci.kind for ci in project.cis})
    out.write(f"ok: {plural(len(project.cis), 'CI')} ({', '.join(kinds) or 'none'}), "
              f"{plural(len(project.inventory.hosts), 'inventory host')}\n")
    for ci in _servers_outside_the_inventory(project):
        sys.stderr.write(_one_line(f"warning: {ci.origin}: CI '{ci.id}': host '{ci.match.get('host') or ci.id}' is "
                                   "not in the inventories, so a run reports it unknown (add the host to an "
                                   "inventory, or set match: {host: NAME})") + "\n")
    return 0


def _servers_outside_the_inventory(project: Project) -> list[Any]:
    """Server CIs no inventory host stands behind (host: match.host, else the CI id, as collectors/ansible.py
    and facts_dir.py read it): knowable before anything is collected."""
    hosts = project.inventory.host_names
    return [ci for ci in project.cis if ci.kind == "server" and str(ci.match.get("host") or ci.id) not in hosts]


def _checked_project(args: argparse.Namespace) -> tuple[Project, str | None]:
    """The project of a collecting command, after every check that needs no collection: the output path
    and facts directory first, then a selection that matches nothing (exit 1 before any host is touched)."""
    from . import preflight
    from .project import load_project

    preflight.check_output(args.output)
    preflight.check_facts_dir(args.facts_dir)
    facts_dir = str(Path(args.facts_dir).resolve()) if args.facts_dir else None
    project = load_project(args.project, facts_dir=facts_dir)
    preflight.check_selection(project, args.limit, args.kind)
    return project, facts_dir


def _run(args: argparse.Namespace, record: bool) -> RunResult:
    from . import pipeline
    from .progress import progress_for
    from .register.store import open_register, resolve_dsn

    project, facts_dir = _checked_project(args)
    quiet = args.quiet or args.format != "text"
    options = pipeline.RunOptions(limit=args.limit, kind=args.kind, fail_on=args.fail_on, facts_dir=facts_dir,
                                  strict=getattr(args, "strict", False), executor=args.executor,
                                  progress=progress_for(sys.stderr, quiet),
                                  notify=notify_urls(args, project) if record else ())
    with open_register(resolve_dsn(args.register, project.settings.register), project.root) as register:
        return pipeline.run(project, options, register, record=record)


def notify_urls(args: argparse.Namespace, project: Project) -> tuple[str, ...]:
    configured = project.settings.raw.get("notify") or []
    return tuple(args.notify) + tuple([configured] if isinstance(configured, str) else configured)


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    result = _run(args, record=True)
    for source in result.sources:
        if source.collector == "notify" and source.status != "ok":
            sys.stderr.write(f"reconcile: warning: notification to {source.scope} failed: {source.error}\n")
    _write_report(args, result, out)
    return result.exit_code


def cmd_untracked(args: argparse.Namespace, out: TextIO) -> int:
    """The cloud account owner's view: a run (recorded nowhere) reduced to its untracked resources."""
    from . import pipeline
    from .report.text import render_untracked

    result = pipeline.untracked_only(_run(args, record=False), args.fail_on)
    if args.format == "text":  # its own wording, and no run id: nothing was recorded under one
        _write(args, out, lambda colour: render_untracked(result, colour, args.verbose))
    else:
        _write_report(args, result, out)
    return result.exit_code


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    from .register.recording import load_report
    from .report.json import result_from_report

    with open_register_for(args) as register:
        row = load_report(register, args.run_id)
    if row is None:
        raise UsageError(f"no recorded run '{args.run_id}' (see 'reconcile history')")
    report = row["report"]  # the run's JSON report, as recorded
    _write_report(args, result_from_report(report), out)
    return int(report["run"]["exit_code"])


def _write_report(args: argparse.Namespace, result: RunResult, out: TextIO) -> None:
    if args.format == "html":  # the page carries the trend of the last recorded runs
        from .register.findings import recent_runs
        from .report.html import render_html

        with open_register_for(args) as register:
            trend = recent_runs(register, until=result.id)
        _write(args, out, lambda colour: render_html(result, trend))
    else:
        _write(args, out, lambda colour: FORMATS[args.format](result, colour, args.verbose))


def _write(args: argparse.Namespace, out: TextIO, render: Callable[[bool], str]) -> None:
    if args.output:
        Path(args.output).write_text(render(False), encoding="utf-8")
    else:
        out.write(render(out.isatty()))


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except CommandLineError as exc:
        sys.stderr.write(f"reconcile: error: {exc} ({exc.hint})\n")
        return 1
    except SystemExit as exc:  # --help: argparse printed it and wants to stop
        return int(exc.code or 0)
    try:
        if args.command != "init":
            from .preflight import check_project_dir

            check_project_dir(args.project)
        return int(args.handler(args, out or sys.stdout))
    except ReconcilerError as exc:
        sys.stderr.write(_one_line(f"reconcile: error: {exc}") + "\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("reconcile: interrupted\n")
        return 130
    except BrokenPipeError:  # `reconcile show X | head`: the reader left, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        sys.stderr.write(_one_line(f"reconcile: error: {exc}") + "\n")
        return 1
    except Exception as exc:  # a bug of ours: still one line, the traceback on demand
        if os.environ.get("RECONCILER_DEBUG"):
            raise
        sys.stderr.write(_one_line(f"reconcile: internal error: {type(exc).__name__}: {exc} "
                                   "(set RECONCILER_DEBUG=1 for the traceback)") + "\n")
        return 1


def _one_line(message: str) -> str:
    """An error line as shown: credentials masked, bounded in length (user values inside are quoted short
    already)."""
    from .secrets import mask
    from .userdata import clip

    return clip(mask(message), MESSAGE_LIMIT)


if __name__ == "__main__":
    sys.exit(main())
