"""Exports a user can trust (issue 22): the model card's recipe refuses a tampered random forest as the app's loader
does (a segfault before), and `export` never mixes two exports in one folder nor writes where it was not asked to.
A real lab: digits, a random forest trained by `easeml-gui run`, exported by `easeml-gui export`."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli  # noqa: F401 (a fixture)
from window_fixtures import open_window  # noqa: F401 (a fixture)

from easeml_gui.training.digits import export_digits

REPO = Path(__file__).resolve().parents[1]
EXPORTED = {"model.skops", "model_card.json", "load_model.py"}


def cli(db: Path, *args: str | Path) -> None:
    done = subprocess.run([sys.executable, "-m", "easeml_gui", "--db", str(db), *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lab whose tenant alice has a trained random forest."""
    folder = tmp_path_factory.mktemp("lab")
    db = folder / "lab.sqlite"
    cli(db, "tenant", "add", "alice")
    cli(db, "dataset", "add", export_digits(folder / "source", per_class=20), "--name", "digits")
    cli(db, "job", "add", "--tenant", "alice", "--dataset", "digits", "--models", "random_forest")
    cli(db, "run")
    return db


def export(run_cli, lab: Path, out: Path | str, *flags: str):  # noqa: F811 (the fixture)
    return run_cli("--db", lab, "export", "alice", "--out", out, *flags)


def contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def run_recipe(folder: Path) -> subprocess.CompletedProcess:
    """The card's usage line as written, in a fresh interpreter in the export folder (-I: no easeml-gui on its
    path), on a few blank images; a crash shows as a negative return code instead of killing pytest."""
    card = json.loads((folder / "model_card.json").read_text())
    side = card["preprocessing"]["image_size"]
    script = f"import numpy as np; images = np.zeros((3, 1, {side}, {side}), np.uint8); {card['usage']}; print(labels)"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-I", "-c", script], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)


def point_a_root_outside_its_tree(model_file: Path) -> None:
    """Rewrite the skops file (a zip of JSON and .npy arrays) with the first tree's root's left child far past the
    tree's end: the tampering scikit-learn's predict follows unchecked."""
    with zipfile.ZipFile(model_file) as zf:
        members = {info.filename: zf.read(info) for info in zf.infolist()}
    for name, data in members.items():
        if name.endswith(".npy"):
            nodes = np.load(io.BytesIO(data))
            if nodes.dtype.names and "left_child" in nodes.dtype.names:
                nodes["left_child"][0] = 10**9
                buffer = io.BytesIO()
                np.save(buffer, nodes)
                members[name] = buffer.getvalue()
                break
    else:
        raise AssertionError("no tree nodes in the model file")
    with zipfile.ZipFile(model_file, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_the_cards_recipe_refuses_a_forest_whose_nodes_point_outside_the_tree(lab: Path, tmp_path: Path,
                                                                            run_cli) -> None:  # noqa: F811
    out = tmp_path / "model"
    assert export(run_cli, lab, out).returncode == 0
    assert set(os.listdir(out)) == EXPORTED
    intact = run_recipe(out)
    assert intact.returncode == 0 and intact.stdout.startswith("["), intact.stderr
    point_a_root_outside_its_tree(out / "model.skops")
    tampered = run_recipe(out)
    assert tampered.returncode == 1, f"exit {tampered.returncode}: {tampered.stderr}"  # not a signal
    assert "holds a tree whose nodes point outside it" in tampered.stderr


def test_a_folder_that_is_not_empty_is_refused_and_left_alone(lab: Path, tmp_path: Path, run_cli) -> None:  # noqa
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    refused = export(run_cli, lab, mine)
    assert refused.returncode == 1 and f"{mine} is not empty" in refused.stderr and "--force" in refused.stderr
    assert contents(mine) == {"notes.txt": b"my notes"}
    out = tmp_path / "model"
    assert export(run_cli, lab, out).returncode == 0
    before = contents(out)
    again = export(run_cli, lab, out)
    assert again.returncode == 1 and "--force" in again.stderr and contents(out) == before
    afile = tmp_path / "a-file"
    afile.write_text("x")
    assert "is a file" in export(run_cli, lab, afile).stderr and afile.read_text() == "x"


def test_force_replaces_the_previous_export_and_leaves_nothing_stale(lab: Path, tmp_path: Path, run_cli) -> None:  # noqa
    out = tmp_path / "model"
    out.mkdir()
    (out / "model.pt").write_bytes(b"a network exported here before")
    (out / "model_card.json").write_text('{"architecture": "resnet18"}')
    (out / "notes.txt").write_text("my notes")
    forced = export(run_cli, lab, out, "--force")
    assert forced.returncode == 0, forced.stderr
    assert set(os.listdir(out)) == EXPORTED | {"notes.txt"}  # no stale model.pt beside the new model.skops
    assert json.loads((out / "model_card.json").read_text())["architecture"] == "random_forest"
    assert run_recipe(out).returncode == 0


def test_an_empty_out_is_refused_rather_than_the_current_folder(lab: Path, tmp_path: Path, run_cli,  # noqa: F811
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for flags in ((), ("--force",)):
        refused = export(run_cli, lab, "", *flags)
        assert refused.returncode != 0 and "--out" in refused.stderr and "a folder" in refused.stderr
    assert os.listdir(tmp_path) == []


def test_the_window_asks_before_it_replaces_an_export(lab: Path, tmp_path: Path, open_window, qtbot) -> None:  # noqa
    out = tmp_path / "model"
    out.mkdir()
    (out / "model.pt").write_bytes(b"a network exported here before")
    window = open_window(lab)
    asked: list[str] = []
    window.confirm = lambda title, question, yes: asked.append(question) or False
    window.export_to("alice", out)
    assert f"{out} is not empty. Replace the export in it?" in asked[0] and os.listdir(out) == ["model.pt"]
    window.confirm = lambda title, question, yes: True
    window.export_to("alice", out)
    qtbot.waitUntil(lambda: window.notice.text().startswith("Exported") or bool(window.last_error), timeout=120_000)
    assert not window.last_error and set(os.listdir(out)) == EXPORTED
