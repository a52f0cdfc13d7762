"""The `ansible` collector: server facts gathered over Ansible, one read-only task per host.

Place in the pipeline: Project + server CIs in, Collection out (FactSet per CI, Source per host, Observed
per host reached). Each CI's `match.host` names an inventory host; the declared `desired` of all CIs of a
host is merged into one spec, and ansible-runner runs our `reconciler_facts` module (shipped in
reconciler/plugins/modules) once per host, in parallel up to `ansible.forks`. Facts come back already in the
server vocabulary (collectors/server.py). Unreachable hosts, authentication failures, module failures and
timeouts are values: that host's CIs get a FactSet with the error and become `unknown`.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import CollectorError
from ..model import CI, Collection, FactSet, Failure, Observed, Project, Reason, Settings, Source
from .base import CollectOptions, Collector, Job, Target, merge_parts
from .server import SERVER

MODULE_DIR = Path(__file__).resolve().parent.parent / "plugins" / "modules"
ACTION_DIR = MODULE_DIR.parent / "action"  # our action plugins, found beside the (generated) playbook
MODULE = "reconciler_facts"
TARGETS = "_reconciler_targets"  # the group of hosts this run gathers, in our generated inventory
SPEC_VAR = "reconciler_spec"
SYSCTL_ROOT_VAR = "reconciler_sysctl_root"  # hidden host var: read kernel parameters elsewhere (tests)
REMOTE_PYTHON = "/usr/bin/python3"  # auto discovery is broken on our hosts (DESIGN pitfall 2)
DEFAULT_FORKS, DEFAULT_TIMEOUT = 25, 30
HOSTS_PER_FORK = 4  # a job's hosts: a few rounds of forks, so one Ansible start-up serves many hosts
# ansible-runner replaces a result bigger than MAX_EVENT_RES with {}; raise it, and still detect it.
DEFAULT_MAX_RESULT = 20_000_000
_FINAL_EVENTS = ("runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_on_skipped")
# Names of environment variables that may carry a credential: never handed to ansible-runner, which writes
# the environment it was given into its artifacts.
_SECRET_ENV = re.compile(
    r"^(AWS_|AZURE_|ARM_|GOOGLE_|GCP_|CLOUDSDK_|OS_|VAULT_|DIGITALOCEAN_|HCLOUD_|RECONCILER_REGISTER$|"
    r"DATABASE_URL$|PG)|SECRET|TOKEN|PASSW|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY|SESSION",
    re.IGNORECASE,
)


# --- what to gather -------------------------------------------------------------------------------

def host_of(ci: CI) -> str:
    return str(ci.match.get("host") or ci.id)


def spec_of(desired: Mapping[str, Any]) -> dict[str, Any]:
    """The module spec one CI's `desired` needs: only the sections and names it declares."""
    spec: dict[str, Any] = {}
    for section in SERVER.sections:
        if section.request is not None and section.name in desired:
            request = section.request(desired[section.name])
            if request is not None:
                spec[section.name] = request
    return spec


def merge_specs(specs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several CIs on one host: the union of what each of them needs, section by section."""
    merge = {section.name: section.merge for section in SERVER.sections}
    merged: dict[str, Any] = {}
    for spec in specs:
        for name, value in spec.items():
            combine = merge.get(name)
            if combine is not None:  # merging a request with itself normalises it (sorted, no duplicates)
                value = combine(merged.get(name, value), value)
            merged[name] = value
    return merged


def licence_spec(globs: Sequence[str]) -> dict[str, Any]:
    """Also gather the packages a licence in the register counts, so `licence_over` sees every installation.
    classify matches them lower-cased; the module matches case by case, so each letter becomes [xX]."""
    def any_case(glob: str) -> str:
        if "[" in glob:  # a glob with its own character classes is left to say what it means
            return glob
        return "".join(f"[{c.lower()}{c.upper()}]" if c.lower() != c.upper() else c for c in glob)
    return {"packages": sorted({any_case(str(glob)) for glob in globs})}


# --- how to run -----------------------------------------------------------------------------------

def ansible_timeout(project: Project) -> int:
    """reconciler.yml `ansible.timeout`: seconds to connect to a host, and to read its facts."""
    return int((project.settings.ansible or {}).get("timeout") or DEFAULT_TIMEOUT)


def safe_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment without credentials; Ansible's own *_FILE settings (paths, not secrets) stay."""
    return {key: value for key, value in environ.items()
            if not _SECRET_ENV.search(key) or (key.startswith("ANSIBLE_") and key.endswith("_FILE"))}


def _interpreter(host_vars: Mapping[str, Any]) -> str | None:
    """The interpreter to set for a host, or None when the inventory already sets one."""
    if host_vars.get("ansible_python_interpreter"):
        return None
    return sys.executable if host_vars.get("ansible_connection") == "local" else REMOTE_PYTHON


def _unsafe(text: str) -> str:
    # The spec holds user text (file lines may contain '{{'): mark it !unsafe so Ansible never templates it.
    # Only text with a '{' can hold a template ('{{', '{%', '{#'); any other is quoted without the tag,
    # because Ansible resolves an !unsafe scalar as if it were unquoted: "0x10" or "2750" would become ints.
    return "!unsafe " + json.dumps(text) if "{" in text else json.dumps(text)


def unsafe_flow(value: Any) -> str:
    """A value as a YAML flow node with every string marked !unsafe (never templated by Ansible)."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {unsafe_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(unsafe_flow(v) for v in value) + "]"
    return _unsafe(value) if isinstance(value, str) else json.dumps(value)


def write_inventory(path: Path, specs: Mapping[str, dict[str, Any]], host_vars: Callable[[str], Mapping],
                    extra: Mapping[str, Mapping[str, Any]] | None = None,
                    carried: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """A YAML inventory putting each target host in our group, with its spec and interpreter as host vars
    (and `extra` host vars: the steps of a plan, never templated; `carried`: a job's own copy of its hosts'
    inventory variables, templated by Ansible as in the inventory they came from)."""
    lines = ["all:", "  children:", f"    {TARGETS}:", "      hosts:"]
    for host, spec in specs.items():
        found = host_vars(host)
        spec = dict(spec, sysctl_root=found[SYSCTL_ROOT_VAR]) if found.get(SYSCTL_ROOT_VAR) else spec
        lines.append(f"        {json.dumps(host)}:")
        lines.append(f"          {SPEC_VAR}: {_unsafe(json.dumps(spec, sort_keys=True))}")
        more = (extra or {}).get(host, {})
        lines += [f"          {name}: {unsafe_flow(value)}" for name, value in more.items()]
        lines += [f"          {json.dumps(name)}: {json.dumps(value, default=str)}"
                  for name, value in (carried or {}).get(host, {}).items()]
        if (python := _interpreter(found)) is not None:
            lines.append(f"          ansible_python_interpreter: {json.dumps(python)}")
    path.write_text("\n".join(lines) + "\n")


def _beside_the_play(private: Path) -> Path:
    """The run's playbook directory, with our action plugins beside it (an ad-hoc run is given it with
    --playbook-dir)."""
    (private / "project").mkdir()
    (private / "project" / "action_plugins").symlink_to(ACTION_DIR, target_is_directory=True)
    return private / "project"


def _with_our_ansible(path: str) -> str:
    """PATH with the `ansible` installed beside the running interpreter first (a venv not on PATH)."""
    here = Path(sys.executable).parent
    return os.pathsep.join([str(here), path]) if (here / "ansible").exists() else path


def _our_ansible(marker: str) -> list[int]:
    """PIDs of the Ansible processes this run started (children of ours naming our private dir)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            if int(parent) == os.getpid() and marker in (entry / "cmdline").read_text(errors="replace"):
                found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            pass
    return found


class _Stop:
    """ansible-runner's cancel callback. On Ctrl-C, Ansible gets SIGTERM first — its workers run in their
    own sessions and only Ansible itself stops them — and runner kills what is left after a grace period."""

    GRACE = 3.0

    def __init__(self, marker: str):
        self.marker = marker
        self.signals: list[int] = []
        self.since: float | None = None

    def __call__(self) -> bool:
        if not self.signals:
            return False
        if self.since is None:
            self.since = time.monotonic()
            for pid in _our_ansible(self.marker):
                os.kill(pid, signal.SIGTERM)
        return time.monotonic() - self.since > self.GRACE


@contextmanager
def _interruptible(marker: str) -> Iterator[_Stop]:
    """Ctrl-C / SIGTERM during the run stop Ansible cleanly; the signal is re-raised once we cleaned up."""
    stop = _Stop(marker)
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, lambda number, _frame: stop.signals.append(number))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    if stop.signals and stop.signals[0] == signal.SIGTERM:
        raise SystemExit(128 + signal.SIGTERM)
    if stop.signals:
        raise KeyboardInterrupt


# --- what came back -------------------------------------------------------------------------------

def _message(res: Mapping[str, Any]) -> str:
    text = str(res.get("msg") or "").strip()
    detail = str(res.get("module_stderr") or res.get("stderr") or "").strip()
    if detail and detail not in text:
        text = f"{text}: {detail.splitlines()[-1]}" if text else detail.splitlines()[-1]
    return text or "no message"


def failure_reason(event: str, res: Mapping[str, Any]) -> Failure:
    """A one-line reason, classified: unreachable, authentication failed, timed out, module failed."""
    text = _message(res)
    if re.search(r"timed? ?out", text, re.IGNORECASE):
        return Failure(Reason.TIMEOUT, text)
    if event == "runner_on_unreachable":
        if re.search(r"permission denied|authentication|publickey", text, re.IGNORECASE):
            return Failure(Reason.AUTH, text)
        return Failure(Reason.UNREACHABLE, text)
    if event == "runner_on_skipped":
        return Failure(Reason.OTHER, "skipped by Ansible", labelled=False)
    return Failure(Reason.MODULE_FAILURE, text)


class _Events:
    """ansible-runner event handler: the final result of each host, as facts or a reason."""

    def __init__(self, progress: Any, max_result: int):
        self.facts: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, Failure] = {}
        self.module_seconds = 0.0
        self.output: list[str] = []
        self.progress = progress
        self.max_result = max_result

    def __call__(self, event: dict[str, Any]) -> bool:
        data = event.get("event_data") or {}
        host = data.get("host")
        if event.get("event") in _FINAL_EVENTS and host and host not in self.facts and host not in self.errors:
            self._record(event["event"], host, data.get("res") or {})
            self.progress.advance()
        elif event.get("stdout") and not host:  # Ansible's own complaints (bad inventory, usage errors)
            lines = [line for line in event["stdout"].splitlines() if re.search(r"error", line, re.IGNORECASE)]
            self.output = (self.output + lines)[-3:]
        return False  # nothing to keep on disk: the private data dir is removed after the run

    def _record(self, kind: str, host: str, res: Mapping[str, Any]) -> None:
        if kind != "runner_on_ok":
            self.errors[host] = failure_reason(kind, res)
        elif isinstance(res.get(MODULE), dict):
            self.facts[host] = res[MODULE]
            self.module_seconds += float(res.get("reconciler_seconds") or 0)
        elif not res:
            self.errors[host] = Failure(Reason.MALFORMED_FACTS,
                                        f"result larger than {self.max_result} characters, dropped by"
                                        " ansible-runner (declare fewer packages/files for this host)",
                                        labelled=False)
        else:
            self.errors[host] = Failure(Reason.MALFORMED_FACTS, f"module returned no {MODULE}", labelled=False)


# --- the collector --------------------------------------------------------------------------------

class _CarriedInventory:
    """A job's inventory: the variables of its own hosts, carried in the job (no estate to parse)."""

    def __init__(self, variables: Mapping[str, Mapping[str, Any]]):
        self.variables = variables
        self.hosts = list(variables)
        self.sources: tuple[str, ...] = ()

    def host_vars(self, host: str) -> Mapping[str, Any]:
        return self.variables[host]


class AnsibleCollector(Collector):
    name = "ansible"
    kinds = (SERVER,)

    def prepare(self, cis: Sequence[CI]) -> list[Job]:
        """Shards of hosts, each carrying its hosts' specs and inventory variables (a small inventory of its
        own: no worker re-parses the estate). CIs on hosts the inventory lacks are answered in `merge`."""
        by_host, _ = self._targets(cis)
        hosts, specs = list(by_host), self._specs(by_host)
        extra = self.options.extra or {}
        size = max(1, int(extra.get("shard_size") or HOSTS_PER_FORK * self._settings()[0]))
        jobs = []
        for start in range(0, len(hosts), size):
            shard = {host: by_host[host] for host in hosts[start:start + size]}
            payload = (str(self.project.root), dict(self.project.settings.ansible or {}), dict(extra),
                       {h: specs[h] for h in shard},
                       {h: dict(self.project.inventory.host_vars(h)) for h in shard},
                       {h: [ci.id for ci in group] for h, group in shard.items()})
            targets = tuple(Target(ci.id, h, {"host": h}) for h, group in shard.items() for ci in group)
            jobs.append(Job(self.name, f"ansible {hosts[start]} .. {hosts[start + len(shard) - 1]}", targets,
                            tuple(shard), payload))
        return jobs

    @classmethod
    def run_job(cls, job: Job) -> Collection:
        root, ansible, extra, specs, variables, ids = job.payload
        project = Project(root=Path(root), settings=Settings(ansible=ansible), cis=(),
                          inventory=_CarriedInventory(variables))
        collector = cls(project, CollectOptions(extra=extra))
        events, runner_stats = collector._gather(specs, carried=variables)
        facts, sources, observed = {}, [], []
        for host, group in ids.items():
            found, error = events.facts.get(host), events.errors.get(host)
            if found is None and error is None:
                error = cls._missing_reason(runner_stats, events)
            sources.append(Source(cls.name, host, "failed" if error else "ok", str(error) if error else None))
            for ci in group:
                facts[ci] = (FactSet.failed(ci, cls.name, host, error, {"host": host}) if error is not None
                             else FactSet(ci, cls.name, host, facts=found, identity={"host": host}))
            if found is not None:
                observed.append(collector._observed_ids(host, group, found))
        return Collection(facts=facts, sources=tuple(sources), observed=tuple(observed))

    def merge(self, cis: Sequence[CI], parts: Sequence[Collection]) -> Collection:
        _, unknown = self._targets(cis)  # CIs on hosts not in the inventory: unknown, as in `collect`
        merged = merge_parts(parts)
        return Collection(facts={**unknown, **merged.facts}, sources=merged.sources, observed=merged.observed,
                          stats={"hosts": len(merged.sources), "jobs": len(parts)})

    def collect(self, cis: Sequence[CI]) -> Collection:
        started = time.monotonic()
        by_host, facts = self._targets(cis)
        specs = self._specs(by_host)
        events, runner_stats = self._gather(specs) if specs else (_Events(self.options.progress, 0), {})
        sources, observed = [], []
        for host, group in by_host.items():
            found, error = events.facts.get(host), events.errors.get(host)
            if found is None and error is None:
                error = self._missing_reason(runner_stats, events)
            sources.append(Source(self.name, host, "failed" if error else "ok", str(error) if error else None))
            facts.update({ci.id: self._fact_set(ci, host, found, error) for ci in group})
            if found is not None:
                observed.append(self._observed(host, group, found))
        stats = dict(runner_stats, hosts=len(by_host), ok=len(events.facts), failed=len(by_host) - len(events.facts),
                     module_seconds=round(events.module_seconds, 3),
                     seconds=round(time.monotonic() - started, 3))
        return Collection(facts=facts, sources=tuple(sources), observed=tuple(observed), stats=stats)

    def _specs(self, by_host: Mapping[str, Sequence[CI]]) -> dict[str, dict[str, Any]]:
        """What the fact module gathers per host: what its CIs declare, and the packages licences count."""
        licences = [licence_spec(self.options.licence_globs)] if self.options.licence_globs else []
        return {host: merge_specs([spec_of(ci.desired) for ci in group] + licences) for host, group in by_host.items()}

    def _targets(self, cis: Sequence[CI]) -> tuple[dict[str, list[CI]], dict[str, FactSet]]:
        """CIs grouped by inventory host; a CI whose host is not in the inventory is unknown right away."""
        known = set(getattr(self.project.inventory, "hosts", None) or ())
        by_host: dict[str, list[CI]] = {}
        facts: dict[str, FactSet] = {}
        for ci in cis:
            host = host_of(ci)
            if host in known:
                by_host.setdefault(host, []).append(ci)
            else:
                sources = ", ".join(getattr(self.project.inventory, "sources", None) or ()) or "no inventory"
                facts[ci.id] = FactSet(ci.id, self.name, host, error=f"host '{host}' is not in the inventory"
                                       f" ({sources})", identity={"host": host})
        return by_host, facts

    def _fact_set(self, ci: CI, host: str, found: Mapping[str, Any] | None, error: Failure | None) -> FactSet:
        if error is not None:
            return FactSet.failed(ci.id, self.name, host, error, {"host": host})
        return FactSet(ci.id, self.name, host, facts=found, identity={"host": host})

    def _observed(self, host: str, group: Sequence[CI], found: Mapping[str, Any]) -> Observed:
        return self._observed_ids(host, [ci.id for ci in group], found)

    def _observed_ids(self, host: str, group: Sequence[str], found: Mapping[str, Any]) -> Observed:
        hardware = found.get("hardware") or {}
        identity = {"host": host, "hostname": found.get("hostname"), "serial": hardware.get("serial"),
                    "uuid": hardware.get("uuid")}
        # packages: the declared ones and those a licence counts (classify counts installations from them)
        summary = {key: found[key] for key in ("hostname", "os", "hardware", "packages") if key in found}
        return Observed(SERVER.name, identity, summary, source=host, ci=min(group))

    @staticmethod
    def _missing_reason(runner_stats: Mapping[str, Any], events: _Events) -> Failure:
        status = runner_stats.get("runner_status")
        if status == "timeout":
            return Failure(Reason.TIMEOUT, f"no result before the run's deadline ({runner_stats.get('deadline')} s)")
        tail = " | ".join(line.strip() for line in events.output if line.strip())
        return Failure(Reason.OTHER, f"no result from Ansible (runner {status}, rc {runner_stats.get('rc')})"
                                     f"{': ' + tail if tail else ''}", labelled=False)

    # --- running ansible-runner ---

    def _settings(self) -> tuple[int, int, int]:
        ansible = self.project.settings.ansible or {}
        extra = self.options.extra or {}
        forks = int(ansible.get("forks") or DEFAULT_FORKS)
        return forks, ansible_timeout(self.project), int(extra.get("ansible_max_result") or DEFAULT_MAX_RESULT)

    def _environment(self, prepared: Mapping[str, str], max_result: int) -> dict[str, str]:
        """ansible-runner's environment minus credentials, with our settings; host key checking untouched."""
        env = safe_environment(prepared)
        if "ANSIBLE_HOST_KEY_CHECKING" not in os.environ:
            env.pop("ANSIBLE_HOST_KEY_CHECKING", None)  # ansible-runner turns it off unless told otherwise
        env.update(ANSIBLE_PIPELINING="True", ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="False",
                   MAX_EVENT_RES=str(max_result), PATH=_with_our_ansible(env.get("PATH", os.defpath)))
        project_cfg = Path(self.project.root) / "ansible.cfg"
        if "ANSIBLE_CONFIG" not in env and project_cfg.is_file():
            env["ANSIBLE_CONFIG"] = str(project_cfg)
        return env

    def _gather(self, specs: Mapping[str, dict[str, Any]],
                carried: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[_Events, dict[str, Any]]:
        forks, timeout, max_result = self._settings()
        events = _Events(self.options.progress, max_result)
        private = Path(tempfile.mkdtemp(prefix="reconciler-ansible-"))
        self.options.progress.start(len(specs), "ansible")
        try:
            began = time.monotonic()
            inventory = private / "targets.yml"
            write_inventory(inventory, specs, self.project.inventory.host_vars, carried=carried)
            _beside_the_play(private)
            prepared = time.monotonic() - began
            with _interruptible(str(private)) as cancelled:
                stats = self._run(private, inventory, events, cancelled, forks, timeout,
                                  deadline=timeout * (math.ceil(len(specs) / forks) + 1) + 60)
            stats.update(prepare_seconds=round(prepared, 3), forks=forks, timeout=timeout)
            return events, stats
        finally:
            self.options.progress.finish()
            shutil.rmtree(private, ignore_errors=True)

    def run_playbook(self, specs: Mapping[str, dict[str, Any]], playbook: str, events: Any,
                     host_vars: Mapping[str, Mapping[str, Any]], check: bool = False) -> dict[str, Any]:
        """A generated playbook over the hosts of `specs` (apply, and the plan's check-mode preview), through
        the same set-up as the collection: fresh private dir, interpreter set, no credentials in the env."""
        forks, timeout, _ = self._settings()
        private = Path(tempfile.mkdtemp(prefix="reconciler-play-"))
        try:
            inventory = private / "targets.yml"
            write_inventory(inventory, specs, self.project.inventory.host_vars, host_vars)
            (_beside_the_play(private) / "play.yml").write_text(playbook)
            tasks = playbook.count("- name:")
            with _interruptible(str(private)) as cancelled:
                return self._run(private, inventory, events, cancelled, forks, timeout,
                                 deadline=timeout * tasks * (math.ceil(len(specs) / forks) + 1) + 60,
                                 playbook="play.yml", check=check)
        finally:
            shutil.rmtree(private, ignore_errors=True)

    def _run(self, private: Path, inventory: Path, events: Any, cancelled: Callable[[], bool],
             forks: int, timeout: int, deadline: int, playbook: str | None = None,
             check: bool = False) -> dict[str, Any]:
        from ansible_runner import Runner, RunnerConfig
        from ansible_runner.exceptions import AnsibleRunnerException

        sources = list(getattr(self.project.inventory, "sources", None) or ())
        what: dict[str, Any] = ({"playbook": playbook} if playbook else
                                {"host_pattern": TARGETS, "module": MODULE,
                                 "module_args": json.dumps({"spec": f"{{{{ {SPEC_VAR} }}}}"})})
        config = RunnerConfig(
            private_data_dir=str(private), **what, inventory=[str(inventory), *sources],
            forks=forks, timeout=deadline, quiet=True, suppress_env_files=True,
            suppress_output_file=True, settings={"pexpect_timeout": 0.5, "suppress_ansible_output": True},
            # ansible-playbook has no --task-timeout (and a package install may rightly take longer)
            cmdline=f"--module-path {shlex.quote(str(MODULE_DIR))} --timeout {timeout}"
            + (" --check --diff" if check else "" if playbook else
               f" --task-timeout {timeout} --playbook-dir {shlex.quote(str(private / 'project'))}"),
        )
        began = time.monotonic()
        try:
            config.prepare()
            config.env = self._environment(config.env, events.max_result)
            runner = Runner(config=config, event_handler=events, cancel_callback=cancelled)
            runner.run()
        except AnsibleRunnerException as exc:  # Ansible cannot be started at all: no host was tried
            raise CollectorError(f"ansible-runner could not run Ansible: {exc}") from exc
        return {"ansible_seconds": round(time.monotonic() - began, 3), "runner_status": runner.status,
                "rc": runner.rc, "deadline": deadline}
