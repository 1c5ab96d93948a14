"""Peak memory and time of `easeml-gui dataset add` on hostile and large inputs, beside a plain copy.

Cases, each a fresh `dataset add` process (peak RSS of that process alone, through a small helper):
  zip bomb         a zip of two small classes plus one member of --member-gib GiB of zeros (a few MB on disk):
                   refused; how long it takes and how much memory it holds before saying so
  sparse file      the same member as a sparse file in a plain folder: refused
  50,000 files     --files small PNGs in 10 class folders: registered; beside `cp -r` and shutil.copytree of the
                   same folder, timed in the same run (wall time ratio: below 1 is faster)
  50,000 + 1 bad   the same folder plus one sparse 100 MiB "png": refused after checking the others

    python bench/dataset_intake_memory.py [--member-gib 2] [--files 50000]

Run against another copy of the package with PYTHONPATH=that/copy (e.g. `git archive` of an older commit).
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

_MIB = 1024**2
_TIMEOUT = 900


# A child's peak RSS counts the memory of the process it was forked from: each command is started by this small
# fresh helper (no site, no numpy), which reports its child's peak through getrusage(RUSAGE_CHILDREN).
_HELPER = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
           "print(f'PEAK_KIB {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}'); sys.exit(code)")


@dataclass
class Measured:
    seconds: float
    peak_mib: float
    returncode: int
    output: str


def measure(command: list[str], cwd: Path) -> Measured:
    """Wall time, peak RSS and the last line of output of one command."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-S", "-c", _HELPER, *command], capture_output=True, text=True,
                          timeout=_TIMEOUT, cwd=cwd)
    seconds = time.perf_counter() - start
    lines = (done.stderr + done.stdout).strip().splitlines()
    peak = next(int(line.split()[1]) for line in lines if line.startswith("PEAK_KIB "))
    said = [line for line in lines if not line.startswith("PEAK_KIB ")]
    return Measured(seconds, peak / 1024, done.returncode, said[-1] if said else "")


def png_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8), dtype=np.uint8)
    Image.fromarray(pixels, "L").save(buffer, format="PNG")
    return buffer.getvalue()


def small_classes(root: Path, classes: int, per_class: int) -> Path:
    pngs = [png_bytes(seed) for seed in range(256)]
    for c in range(classes):
        folder = root / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            (folder / f"{i:05d}.png").write_bytes(pngs[(c * per_class + i) % len(pngs)])
    return root


def zip_bomb(path: Path, member_bytes: int) -> Path:
    """Two classes of 12 PNGs and one member of zeros, written streaming (the test's memory stays small)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for c in ("cat", "dog"):
            for i in range(12):
                zf.writestr(f"{c}/{i}.png", png_bytes(i))
        with zf.open("cat/huge.png", "w", force_zip64=True) as member:
            zeros = bytes(16 * _MIB)
            for _ in range(member_bytes // len(zeros)):
                member.write(zeros)
    return path


def sparse(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        out.truncate(size)


def dataset_add(db: Path, source: Path, name: str) -> list[str]:
    return [sys.executable, "-m", "easeml_gui", "--db", str(db), "dataset", "add", str(source), "--name", name]


def report(case: str, m: Measured, extra: str = "") -> None:
    print(f"{case:<34} {m.seconds:8.2f} s  peak RSS {m.peak_mib:8.1f} MiB  exit {m.returncode}{extra}")
    if m.output:
        print(f"{'':<36}{m.output[:160]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--member-gib", type=float, default=2.0)
    parser.add_argument("--files", type=int, default=50_000)
    args = parser.parse_args()
    member = int(args.member_gib * 1024**3)
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
        work = Path(tmp)
        db = work / "lab" / "lab.sqlite"
        db.parent.mkdir()
        python = measure([sys.executable, "-c", "import easeml_gui.lab.datasets"], work)
        report("python + imports (floor)", python)

        bomb = zip_bomb(work / "bomb.zip", member)
        report(f"zip bomb ({bomb.stat().st_size / _MIB:.1f} MiB zip, {args.member_gib:g} GiB member)",
               measure(dataset_add(db, bomb, "bomb"), work))

        folder = small_classes(work / "sparse", 2, 12)
        sparse(folder / "class0" / "huge.png", member)
        report(f"sparse {args.member_gib:g} GiB file in a folder", measure(dataset_add(db, folder, "sparse"), work))

        many = small_classes(work / "many", 10, args.files // 10)
        cp = measure(["cp", "-r", str(many), str(work / "cp-copy")], work)
        tree = measure([sys.executable, "-c", "import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2])",
                        str(many), str(work / "copytree-copy")], work)
        added = measure(dataset_add(db, many, "many"), work)
        report("cp -r (baseline)", cp)
        report("shutil.copytree (baseline)", tree)
        report(f"{args.files:,} files registered", added,
               f"  ({added.seconds / cp.seconds:.1f}x cp -r, {added.seconds / tree.seconds:.1f}x copytree)")

        shutil.rmtree(work / "cp-copy")
        sparse(many / "class9" / "zz-bad.png", 100 * _MIB)
        report(f"{args.files:,} files + one 100 MiB file", measure(dataset_add(db, many, "many-bad"), work))


if __name__ == "__main__":
    main()
