"""Server fixers: a drift of a `server` CI → Ansible builtin tasks (the playbook is built in server_play).

Actions (each a task of the generated playbook): `package` (present, absent, one exact version),
`service` (state, enabled), `file` (mode, owner, group, exists), `lineinfile` (one missing `contains`
line), `sysctl` (a line in a file under /etc/sysctl.d/ and `sysctl -p` of that file, so the fix survives a
reboot), `user` and `group`. Listening ports, OS and hardware facts are manual.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..matchers import compare_versions
from . import NOT_EXACT, Fix, Need, disruptive, manual

SYSCTL_FILE = "/etc/sysctl.d/90-reconciler.conf"
SYSCTL_FILE_VAR = "reconciler_sysctl_file"  # host var: where the persistent sysctl line is written
_AUTH_PATHS = (
    "/etc/ssh/",
    "/etc/sudoers",
    "/etc/pam.d/",
    "/etc/shadow",
    "/etc/passwd",
    "/etc/group",
    "/root/.ssh/",
    "/etc/security/",
)


def fix(need: Need) -> Sequence[Fix]:
    section = str(need.parts[0]) if need.parts else ""
    handler = _SECTIONS.get(section)
    if handler is None:
        return [manual(f"'{section}' is not something a fixer changes; fix it on the host")]
    if need.exact is NOT_EXACT:
        return [manual(f"{need.why_not_exact}: choose the value to set, or fix it by hand")]
    return handler(need)


# --- packages -------------------------------------------------------------------------------------


def _packages(need: Need) -> list[Fix]:
    name, want, have = need.parts[1], need.exact, need.actual
    if want == "absent":
        return [Fix("package", {"name": name, "state": "absent"}, "medium", "removes an installed package")]
    if want == "present":
        return [Fix("package", {"name": name, "state": "present"}, "low", "installs a package")]
    family = (need.facts.get("os") or {}).get("family") or ""
    versioned = {"Debian": f"{name}={want}", "RedHat": f"{name}-{want}"}.get(family)
    if versioned is None:
        return [
            manual(f"no known package manager for OS family '{family or 'unknown'}' to pin {name} {want}")
        ]
    step = Fix(
        "package",
        {"name": versioned, "state": "present"},
        "medium",
        f"installs {name} {want}" + (f" in place of {have}" if have else ""),
    )
    if isinstance(have, str) and compare_versions(str(want), have) < 0:
        return [disruptive(step, need, f"downgrades {name} from {have} to {want}")]
    return [step]


# --- services -------------------------------------------------------------------------------------


# The service module to use, from the manager the fact module saw: without it, Ansible's `service` runs a
# `setup` on the host first to find out (a second module run per host). Unknown (facts files): Ansible's own.
_SERVICE_MODULES: dict[Any, dict[str, str]] = {"systemd": {"use": "systemd"}, "sysv": {"use": "service"}}


def _services(need: Need) -> list[Fix]:
    name = need.parts[1]
    services = need.facts.get("services") or {}
    if name not in services:
        return [manual(f"service {name} is not installed on the host: install its package first")]
    if len(need.parts) < 3:
        return [manual(f"service {name}: declare state and enabled to have them fixed")]
    attribute, want = need.parts[2], need.exact
    use = _SERVICE_MODULES.get(need.facts.get("service_manager"), {})
    if attribute == "state":
        state = "started" if want == "running" else "stopped"
        return [
            Fix(
                "service",
                {"name": name, "state": state, **use},
                "medium",
                f"{'starts' if state == 'started' else 'stops'} service {name}",
            )
        ]
    if attribute == "enabled":
        return [
            Fix(
                "service",
                {"name": name, "enabled": bool(want), **use},
                "low",
                f"{'enables' if want else 'disables'} {name} at boot",
            )
        ]
    return [manual(f"service attribute '{attribute}' has no fixer")]


# --- files ----------------------------------------------------------------------------------------


def _file_risk(path: str) -> tuple[str, str]:
    if any(path.startswith(prefix) for prefix in _AUTH_PATHS):
        return "high", "touches authentication"
    return "low", ""


def _files(need: Need) -> list[Fix]:
    path = str(need.parts[1])
    attribute = need.parts[2] if len(need.parts) > 2 else "exists"
    found = (need.facts.get("files") or {}).get(path) or {}
    risk, auth = _file_risk(path)
    if attribute == "exists":
        if need.exact in (False, "false", "absent"):
            return [Fix("file", {"path": path, "state": "absent"}, "medium", _why(f"deletes {path}", auth))]
        return [Fix("file", {"path": path, "state": "touch"}, risk, _why(f"creates {path} empty", auth))]
    # a file the CI declares `exists: true` is created by the step that sets its attribute or line
    created = not found.get("exists")
    if created and not _declared_to_exist(need, path):
        return [manual(f"{path} does not exist on the host: declare exists: true or create it first")]
    if attribute in ("mode", "owner", "group"):
        return [
            Fix(
                "file",
                {"path": path, attribute: need.exact, **({"state": "touch"} if created else {})},
                risk,
                _why(f"sets {attribute} of {path} to {need.exact}", auth),
            )
        ]
    if attribute == "contains":
        have = set(need.actual or ())
        return [
            Fix(
                "lineinfile",
                {"path": path, "line": line, **({"create": True} if created else {})},
                risk,
                _why(f"appends a line to {path}" + (" (creating it)" if created else ""), auth),
                desired=line,
                element="add",
            )
            for line in need.exact
            if line not in have
        ]
    return [manual(f"file attribute '{attribute}' has no fixer")]


def _declared_to_exist(need: Need, path: str) -> bool:
    declared = ((need.declared.get("files") or {}).get(path)) or {}
    return isinstance(declared, dict) and declared.get("exists") in (True, "true", "yes", "present")


def _why(text: str, extra: str) -> str:
    return f"{text}; {extra}" if extra else text


# --- sysctl ---------------------------------------------------------------------------------------


def _sysctl(need: Need) -> list[Fix]:
    key, value = str(need.parts[1]), need.exact
    target = str(need.host_vars.get(SYSCTL_FILE_VAR) or SYSCTL_FILE)
    return [
        Fix(
            "sysctl",
            {"key": key, "value": _text(value), "file": target},
            "medium",
            f"sets kernel parameter {key} now and at boot (in {target})",
        )
    ]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


# --- users and groups -----------------------------------------------------------------------------

_USER_ATTRS = ("uid", "gid", "home", "shell", "groups")


def _users(need: Need) -> list[Fix]:
    name = need.parts[1]
    exists = name in (need.facts.get("users") or {})
    if need.exact == "absent" or (len(need.parts) == 2 and need.exact == "absent"):
        return [
            disruptive(
                Fix(
                    "user",
                    {"name": name, "state": "absent"},
                    "high",
                    "removes an account; touches authentication",
                ),
                need,
                f"removes account {name}",
            )
        ]
    if not exists:
        wanted = need.exact if isinstance(need.exact, dict) else {}
        args = {"name": name, **{k: v for k, v in wanted.items() if k in _USER_ATTRS}}
        return [Fix("user", _user_args(args), "high", f"creates account {name}; touches authentication")]
    attribute = need.parts[2] if len(need.parts) > 2 else None
    if attribute not in _USER_ATTRS:
        return [manual(f"user attribute '{attribute}' has no fixer")]
    return [
        Fix(
            "user",
            _user_args({"name": name, attribute: need.exact}),
            "high",
            f"sets {attribute} of account {name}; touches authentication",
        )
    ]


def _user_args(args: dict[str, Any]) -> dict[str, Any]:
    if isinstance(args.get("groups"), dict):  # {ordered: [...]}
        args["groups"] = args["groups"].get("ordered", [])
    if "groups" in args:
        args["append"] = False
    return args


def _groups(need: Need) -> list[Fix]:
    name = need.parts[1]
    if need.exact == "absent":
        return [
            disruptive(
                Fix("group", {"name": name, "state": "absent"}, "high", "removes a group"),
                need,
                f"removes group {name}",
            )
        ]
    if name not in (need.facts.get("groups") or {}):
        gid = need.exact.get("gid") if isinstance(need.exact, dict) else None
        args = {"name": name, **({"gid": gid} if gid is not None else {})}
        return [Fix("group", args, "medium", f"creates group {name}")]
    attribute = need.parts[2] if len(need.parts) > 2 else None
    if attribute == "gid":
        return [Fix("group", {"name": name, "gid": need.exact}, "medium", f"changes the gid of group {name}")]
    return [manual(f"group {attribute or name}: membership is fixed through each user's groups")]


def _ports(need: Need) -> list[Fix]:
    want, have = set(map(str, need.exact or ())), set(map(str, need.actual or ()))
    extra, missing = sorted(have - want), sorted(want - have)
    text = "; ".join(
        filter(
            None,
            [
                f"listening but not declared: {', '.join(extra)} (stop or reconfigure the "
                "process that listens: `ss -ltnp`)"
                if extra
                else "",
                f"declared but not listening: {', '.join(missing)} (start the service that should listen)"
                if missing
                else "",
            ],
        )
    )
    return [manual(text or "listening ports differ", "medium", "opens or closes network access")]


_SECTIONS = {
    "packages": _packages,
    "services": _services,
    "files": _files,
    "sysctl": _sysctl,
    "users": _users,
    "groups": _groups,
    "listening_ports": _ports,
}
