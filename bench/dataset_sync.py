"""Sending a dataset to a GPU host: easeml-gui's content-hash sync against what a user would type instead.

A real OpenSSH sshd on 127.0.0.1 (tests/sshd.py) plays the host. The dataset: scikit-learn's digits, all 1,797
images as PNGs (many small files, as image datasets are). Three moments a lab lives through:
  first     the host has nothing
  again     a second task on the same data (nothing changed)
  grown     the tenant re-registered the data with 10 % more images (a new dataset sharing 90 % of its files)
Baselines, timed in the same run: `scp -r` of the registered folder (what a user types; it sends everything each
time and checks nothing) and `rsync -a` over ssh where installed (sends only changed files, by size and time).
Ratios are easeml / baseline wall time (below 1: faster). Our sync also verifies every file's sha256 on the host.

    python bench/dataset_sync.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the sshd the tests use

from sshd import Sshd, keygen  # noqa: E402

from easeml_gui.remote.address import Endpoint  # noqa: E402
from easeml_gui.remote.code_sync import ensure_code  # noqa: E402
from easeml_gui.remote.connection import Credentials, scan_host_key  # noqa: E402
from easeml_gui.remote.dataset_sync import sync_dataset  # noqa: E402
from easeml_gui.remote.session import HostLink  # noqa: E402
from easeml_gui.remote.trust import HostTrust, TrustedKey  # noqa: E402
from easeml_gui.store import KeySource  # noqa: E402
from easeml_gui.training.datasets import register_dataset  # noqa: E402
from easeml_gui.training.digits import export_digits  # noqa: E402


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def ssh_options(server: Sshd, key: Path) -> list[str]:
    return ["-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"]


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        key = keygen(work / "id_ed25519")
        (work / "sshd").mkdir()
        server = Sshd(work / "sshd", key).start()
        try:
            run(work, server, key)
        finally:
            server.stop()


def run(work: Path, server: Sshd, key: Path) -> None:
    source = export_digits(work / "source")
    everything = sorted(source.rglob("*.png"))
    smaller = work / "smaller"
    for path in everything[: len(everything) * 10 // 11]:  # the grown dataset adds the rest (about 10 %)
        target = smaller / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    first = register_dataset(smaller, work / "data" / "digits-v1")
    grown = register_dataset(source, work / "data" / "digits-v2")
    endpoint = Endpoint("127.0.0.1", server.port, server.user)
    trusted = TrustedKey(scan_host_key(HostTrust("box", endpoint, ())).key, KeySource.ACCEPTED)
    link = HostLink(HostTrust("box", endpoint, (trusted,)), Credentials(key_path=key, agent=False), timeout=10)
    remote = work / "host"
    code, _ = ensure_code(link, str(remote / "easeml"))

    def ours(folder: str) -> Callable[[], object]:
        return lambda: sync_dataset(link, sys.executable, code, str(remote / "easeml"), folder)

    def scp(folder: str) -> Callable[[], object]:
        target = f"{server.user}@127.0.0.1:{remote / 'scp' / Path(folder).name}"
        (remote / "scp").mkdir(parents=True, exist_ok=True)
        return lambda: subprocess.run(["scp", "-q", "-r", "-P", str(server.port), *ssh_options(server, key), folder,
                                       target], check=True)

    def rsync(folder: str) -> Callable[[], object]:
        (remote / "rsync").mkdir(parents=True, exist_ok=True)
        shell = " ".join(["ssh", "-p", str(server.port), *ssh_options(server, key)])
        target = f"{server.user}@127.0.0.1:{remote / 'rsync'}/"  # one folder, so the grown set reuses v1's files
        return lambda: subprocess.run(["rsync", "-a", "-e", shell, f"{folder}/", target], check=True)

    moments = (("first", first.root), ("again", first.root), ("grown", grown.root))
    baselines = {"scp -r": scp, **({"rsync -a": rsync} if shutil.which("rsync") else {})}
    print(f"dataset: digits, {first.num_images} then {grown.num_images} PNG files "
          f"({sum(e.size for e in grown.manifest) / 1e6:.1f} MB); host: sshd on 127.0.0.1")
    print(f"{'moment':8} {'easeml sync':>12} " + " ".join(f"{name:>10} {'ratio':>6}" for name in baselines))
    for moment, folder in moments:
        mine = timed(ours(folder))
        cells = []
        for make in baselines.values():
            theirs = timed(make(folder))
            cells.append(f"{theirs:9.2f}s {mine / theirs:6.2f}")
        print(f"{moment:8} {mine:11.2f}s " + " ".join(cells))
    if "rsync -a" not in baselines:
        print("(rsync is not installed here: only scp compared)")
    link.close()


if __name__ == "__main__":
    main()
