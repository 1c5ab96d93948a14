"""`easeml-gui host ...`: the lab's remote GPU hosts: add, trust (pin the host key), probe, list, set, remove."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
import time
from pathlib import Path

from ..lab import hosts
from ..remote.address import DEFAULT_SSH_CONFIG
from ..remote.connection import TIMEOUT_S, AskPassphrase
from ..remote.errors import RemoteError
from ..store import KeySource
from . import CommandError, UsageError, add_json_flag, bounded_float, bounded_int, print_json_rows
from ..lab.read_model import host_json
from ..lab.stores import open_reader, open_writer

_log = logging.getLogger(__name__)

_ADD_HELP = """Register an SSH host. It does not connect: run `easeml-gui host trust NAME` next (it shows the host's
key fingerprint to compare and pins it), then `easeml-gui host probe NAME`. ADDRESS is [user@]host[:port]
(IPv6 in brackets: [fe80::1]:22) or an alias from ~/.ssh/config, whose HostName, User, Port and IdentityFile
are recorded. An alias with ProxyJump is reached through that jump host (one; read from ~/.ssh/config at each
connection, with its own HostName, User, Port and IdentityFile); ProxyCommand is refused."""

_TRUST_HELP = """Connect (no login) and show the host key's SHA256 fingerprint as `ssh-keygen -lf` prints it; once you
accept it, it is pinned in the store (~/.ssh/known_hosts is never written). A key your known_hosts already holds
counts as trusted. A changed key is refused loudly; replacing it needs a confirmation (or --yes --replace).
Behind a jump host, the jump host's key is shown and accepted first (before logging in to it), then the host's,
reached through it; both are pinned together."""

_PROBE_HELP = """Log in and report what the host offers: Python, torch, torchvision, CUDA as that Python sees it, each
GPU with its free memory and other users' processes, free disk, load; one status for the host and one per GPU.
Exit status 0 when the host is ready for tasks, 1 otherwise (the status says what to do)."""


_gpu_number = bounded_int(0, 1023)  # as nvidia-smi counts them
_seconds = bounded_float("timeout (seconds)", 3600)


def _gpu_list(text: str) -> list[int]:
    try:
        gpus = [_gpu_number(part) for part in text.split(",")]
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of GPU numbers, e.g. 0,2: {error}") from None
    if len(set(gpus)) != len(gpus):
        raise argparse.ArgumentTypeError(f"{text!r}: give distinct GPU numbers from 0, as nvidia-smi counts them")
    return gpus


def add_parsers(sub: argparse._SubParsersAction) -> None:
    host = sub.add_parser("host", help="remote GPU hosts reached over SSH: add, trust, probe, list, set, remove")
    actions = host.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="register a host (then: host trust NAME)", description=_ADD_HELP)
    add.add_argument("name")
    add.add_argument("--address", required=True, help="[user@]host[:port] or a ~/.ssh/config alias")
    add.add_argument("--key", type=Path, help="the private key to log in with (default: ssh-agent, ~/.ssh/id_*)")
    add.add_argument("--python", help="the Python on the host that runs tasks (default: python3 on its PATH)")
    add.add_argument("--ssh-config", type=Path, default=DEFAULT_SSH_CONFIG, help="default: ~/.ssh/config")
    add.set_defaults(handler=run_host_add)

    trust = actions.add_parser("trust", help="show the host key's fingerprint and pin it", description=_TRUST_HELP)
    trust.add_argument("name")
    trust.add_argument("--yes", action="store_true", help="accept a new host's key without asking (for scripts)")
    trust.add_argument("--replace", action="store_true", help="with --yes: also replace a changed key (after "
                       "checking the new fingerprint out of band)")
    trust.add_argument("--timeout", type=_seconds, default=TIMEOUT_S, help=f"seconds (default {TIMEOUT_S:g})")
    trust.set_defaults(handler=run_host_trust)

    probe = actions.add_parser("probe", help="python/torch/CUDA, GPUs, disk: a status per host and GPU",
                               description=_PROBE_HELP)
    probe.add_argument("name")
    probe.add_argument("--json", action="store_true", help="print the stored probe as JSON")
    probe.add_argument("--timeout", type=_seconds, default=TIMEOUT_S, help=f"connect seconds (default {TIMEOUT_S:g})")
    probe.set_defaults(handler=run_host_probe)

    listing = actions.add_parser("list", help="hosts, their settings, trust and last probe")
    add_json_flag(listing)
    listing.set_defaults(handler=run_host_list)

    remove = actions.add_parser("remove", help="remove a host (archived instead when tasks ran on it)")
    remove.add_argument("name")
    remove.set_defaults(handler=run_host_remove)

    change = actions.add_parser("set", help="which GPUs to use, GPU sharing, the host's python")
    change.add_argument("name")
    gpus = change.add_mutually_exclusive_group()
    gpus.add_argument("--gpus", type=_gpu_list, help="GPUs tasks may use, in the order to fill them, e.g. 2,0")
    gpus.add_argument("--all-gpus", action="store_true", help="every GPU of the host again")
    change.add_argument("--share-busy-gpus", action=argparse.BooleanOptionalAction, default=None,
                        help="whether a GPU that other users' processes hold may still get a task (default: no)")
    change.add_argument("--python", help="the Python on the host that runs tasks")
    change.set_defaults(handler=run_host_set)


def run_host_add(args: argparse.Namespace) -> int:
    with open_writer(args.db) as store:
        try:
            host = hosts.add(store, args.name, args.address, key=args.key, python=args.python,
                             ssh_config=args.ssh_config)
        except RemoteError as error:
            raise CommandError(str(error)) from None
    alias = f" (~/.ssh/config alias {host.ssh_alias})" if host.ssh_alias else ""
    print(f"added host {host.name}: {hosts.address_of(host)}{alias}, python {host.python}")
    print(f"next: easeml-gui host trust {host.name}   (shows its host key fingerprint to check)")
    return 0


def run_host_trust(args: argparse.Namespace) -> int:
    with open_writer(args.db) as store:
        try:
            # A jump host's key is judged before anything logs in to it, as ssh asks for it first.
            jump = hosts.check_jump_key(store, args.name, timeout=args.timeout)
            if jump is not None:
                _judge(args, jump)
            check = hosts.check_key(store, args.name, jump=jump.scan if jump else None,
                                    ask_passphrase=terminal_passphrase(), timeout=args.timeout)
        except RemoteError as error:
            raise CommandError(str(error)) from None
        _judge(args, check)
        checks = [c for c in (jump, check) if c is not None]
        if all(c.source is KeySource.ACCEPTED for c in checks):
            return 0
        hosts.accept(store, args.name, check.scan)
    print(f"trusted host {args.name}: {'; '.join(c.line for c in checks)}\nnext: easeml-gui host probe {args.name}")
    return 0


def _judge(args: argparse.Namespace, check: hosts.KeyCheck) -> None:
    """Show one server's key; ask (or take --yes) where nobody vouches for it yet. Raises CommandError if refused."""
    if check.source is KeySource.ACCEPTED:
        print(f"{check.server} is already trusted: {check.line}")
    elif check.source is KeySource.KNOWN_HOSTS:
        print(f"{check.server}: your ~/.ssh/known_hosts already trusts this key, so it counts as trusted; it is "
              f"pinned in the store too: {check.line}")
    elif check.changed is not None:
        _log.warning(check.changed)
        _confirm_replace(args)
    else:
        print(f"{check.server} presents this key:\n  {check.line}\nCompare it with what its admin reads on that "
              "server itself: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub")
        _confirm_new(args)


def _confirm_new(args: argparse.Namespace) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise CommandError(f"not trusted: no terminal to ask. After comparing the fingerprint, run "
                           f"`easeml-gui host trust {args.name} --yes`")
    if input("Trust this key? [y/N] ").strip().lower() not in ("y", "yes"):
        raise CommandError("not trusted; nothing changed")


def _confirm_replace(args: argparse.Namespace) -> None:
    if args.yes and args.replace:
        return
    if not sys.stdin.isatty():
        raise CommandError(f"the changed key was NOT trusted. Only after checking the new fingerprint out of band, "
                           f"run `easeml-gui host trust {args.name} --yes --replace`")
    if input("Type 'replace' to trust the NEW key instead of the old one: ").strip() != "replace":
        raise CommandError("the changed key was NOT trusted; nothing changed")


def terminal_passphrase() -> AskPassphrase | None:
    """Who asks for an encrypted key's passphrase: the terminal, when there is one."""
    return _ask_passphrase if sys.stdin.isatty() else None


def _ask_passphrase(path: Path) -> str:
    # Only ever held in memory while the key is decrypted (never stored, never logged).
    return getpass.getpass(f"passphrase for {path}: ")


def run_host_probe(args: argparse.Namespace) -> int:
    with open_writer(args.db) as store:
        result = hosts.probe(store, args.name, timeout=args.timeout,
                             ask_passphrase=terminal_passphrase())
    if args.json:
        print(json.dumps(result, indent=2))
    elif result["report"] is None:
        failure, *notes = result["notes"]
        _print_notes(notes)
        raise CommandError(failure)
    else:
        report = result["report"]
        torch = f"torch {report['torch']}, torchvision {report.get('torchvision')}" if report["torch"] else "no torch"
        cuda = "CUDA available" if report.get("cuda", {}).get("available") else "CUDA not available"
        print(f"{args.name}: {result['status']}")
        print(f"  python {report['python']} ({report['executable']}), {torch}, {cuda}")
        for gpu in result["gpus"]:
            print(f"  {gpu['status']}: {gpu['name']}")
        print(f"  disk: {report['disk']['free_mib'] / 1024:.1f} GiB free for {report['disk']['work_dir']}; "
              f"load {report['load'][0]:.2f} on {report['cpus']} CPUs")
        if result["devices"]:
            print(f"  devices for tasks: {', '.join(result['devices'])}")
        _print_notes(result["notes"])
    return 0 if result["ready"] else 1


def _print_notes(notes: list[str]) -> None:
    """What the probe noticed beside its report (a GPU not found, a key others may read): warnings, as ssh
    warns."""
    for note in notes:
        _log.warning("note: %s", note)


def run_host_list(args: argparse.Namespace) -> int:
    with open_reader(args.db) as store:
        listed = store.hosts()
    if args.json:
        print_json_rows(host_json(h) for h in listed)
        return 0
    if not listed:
        print("no hosts yet; add one with `easeml-gui host add NAME --address [user@]host[:port]`")
        return 0
    now = time.time()
    for h in listed:
        gpus = "all GPUs" if h.gpus is None else "GPUs " + ",".join(map(str, h.gpus))
        shared = ", shares busy GPUs" if h.share_busy_gpus else ""
        trusted = f"key {h.host_key_fingerprint}" if h.host_key_fingerprint else f"NOT TRUSTED (host trust {h.name})"
        status = (f"{h.last_probe['status']} ({_age(now - h.probed)} ago)" if h.last_probe and h.probed
                  else f"never probed (host probe {h.name})")
        alias = f" (alias {h.ssh_alias})" if h.ssh_alias else ""
        print(f"{h.name}: {hosts.address_of(h)}{alias}, python {h.python}, {gpus}{shared}\n  {trusted}\n  {status}")
    return 0


def run_host_remove(args: argparse.Namespace) -> int:
    with open_writer(args.db) as store:
        kept = store.remove_host(args.name)
    if kept:
        history = ", ".join(f"{n} {table}" for table, n in kept.items())
        print(f"archived host {args.name}: it no longer appears or gets tasks, and its history ({history}) keeps "
              "naming it")
    else:
        print(f"removed host {args.name} and its pinned host keys")
    return 0


def run_host_set(args: argparse.Namespace) -> int:
    if args.gpus is None and not args.all_gpus and args.share_busy_gpus is None and args.python is None:
        raise UsageError("say what to change: --gpus 0,2, --all-gpus, --share-busy-gpus / --no-share-busy-gpus "
                         "or --python PATH")
    with open_writer(args.db) as store:
        host = store.set_host(args.name, gpus=args.gpus, all_gpus=args.all_gpus,
                              share_busy_gpus=args.share_busy_gpus, python=args.python)
    gpus = "all GPUs" if host.gpus is None else "GPUs " + ",".join(map(str, host.gpus)) + " in that order"
    sharing = "shares GPUs other users' processes hold" if host.share_busy_gpus else "skips GPUs other users hold"
    print(f"host {host.name}: {gpus}, {sharing}, python {host.python}")
    return 0


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.0f} h"
