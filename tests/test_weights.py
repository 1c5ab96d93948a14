"""Pretrained ImageNet weights: `weights fetch|import|list`, the torch-free registry and the real loading path,
with real state dicts saved by torch into a private torch hub cache (TORCH_HOME), never the user's."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from cli_runner import run_cli  # noqa: F401 (a fixture)
from torchvision.models import get_model, get_model_weights

from easeml_gui.training import weights
from easeml_gui.training.catalogue import CATALOGUE
from easeml_gui.training.weights_registry import (FOUND_IN_CACHE, REGISTRY_NAME, WeightsEntry, WeightsError,
                                                  hub_checkpoints_dir, hub_dir, pretrained_available, record,
                                                  weights_for)


@pytest.fixture(scope="module")
def state_files(tmp_path_factory) -> dict[str, Path]:
    """A freshly initialised ImageNet-headed state dict per small architecture, saved by torch (any name)."""
    folder = tmp_path_factory.mktemp("weights")
    files = {}
    for arch in ("mobilenet_v3_small", "squeezenet1_1", "resnet18"):
        torch.manual_seed(0)
        files[arch] = folder / f"{arch}_lab.pth"
        torch.save(get_model(arch, weights=None).state_dict(), files[arch])
    return files


@pytest.fixture(autouse=True)
def torch_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return tmp_path / "torch-home"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_same_tensors(state: dict[str, torch.Tensor], file: Path) -> None:
    saved = torch.load(file, weights_only=True)
    assert list(state) == list(saved)
    assert all(torch.equal(state[key], saved[key]) for key in saved)


def assert_nothing_kept() -> None:
    """A refused file leaves no copy (nor a temporary one) and no record."""
    files = [p for p in hub_checkpoints_dir().rglob("*") if p.is_file()]  # rglob of a missing folder: none
    assert [p for p in files if not p.name.endswith(".lock")] == [] and pretrained_available() == {}


# --- where the weights live ---

@pytest.mark.parametrize("env", [{"TORCH_HOME": "/x/torch"}, {"XDG_CACHE_HOME": "/y/cache"}, {"HOME": "/z/home"},
                                 {"TORCH_HOME": "~/th", "HOME": "/w"}])
def test_the_hub_folder_is_found_without_torch_by_torchs_own_rule(monkeypatch, env):
    for name in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert hub_dir() == Path(torch.hub.get_dir())
    assert hub_checkpoints_dir() == Path(torch.hub.get_dir()) / "checkpoints"


def test_the_torch_free_registry_and_weights_list_work_with_torch_blocked(torch_home):
    ours = hub_checkpoints_dir() / "easeml" / "resnet18-0123456789ab.pth"
    ours.parent.mkdir(parents=True)
    ours.write_bytes(b"x" * 10)
    record(WeightsEntry("resnet18", ours, "0123456789ab" + "0" * 52, "imported from /lab/r18.pth", 10, "t"))
    (hub_checkpoints_dir() / CATALOGUE["squeezenet1_1"].weights_file).write_bytes(b"y" * 7)
    code = ("import sys\nsys.modules['torch'] = sys.modules['torchvision'] = None\n"
            "from easeml_gui.training.weights_registry import pretrained_available, weights_for\n"
            "print(sorted(pretrained_available()), weights_for('alexnet'))\n"
            "from easeml_gui.cli import main\nsys.exit(main(['weights', 'list', '--json']))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "TORCH_HOME": str(torch_home)})
    assert out.returncode == 0, out.stderr
    first, listing = out.stdout.split("\n", 1)
    assert first == "['resnet18', 'squeezenet1_1'] None"
    entries = {e["architecture"]: e for e in json.loads(listing)}
    assert entries["resnet18"]["source"] == "imported from /lab/r18.pth" and entries["resnet18"]["size"] == 10
    assert entries["squeezenet1_1"]["source"] == FOUND_IN_CACHE and entries["squeezenet1_1"]["sha256"] is None


def test_a_damaged_registry_is_reported_with_what_to_do(run_cli):
    hub_checkpoints_dir().mkdir(parents=True)
    (hub_checkpoints_dir() / REGISTRY_NAME).write_text("{not json")
    with pytest.raises(WeightsError, match="damaged.*delete it"):
        pretrained_available()
    out = run_cli("weights", "list")
    assert out.returncode == 1 and "damaged" in out.stderr


# --- the real loading path ---

def test_no_weights_is_a_clear_file_not_found():
    with pytest.raises(FileNotFoundError, match=r"no ImageNet weights for resnet18.*weights fetch resnet18.*"
                                                r"weights import FILE --model resnet18"):
        weights.load_pretrained_state("resnet18")


def test_torchvisions_file_found_in_the_cache_is_used_unrecorded(state_files):
    cached = hub_checkpoints_dir() / CATALOGUE["resnet18"].weights_file
    cached.parent.mkdir(parents=True)
    cached.write_bytes(state_files["resnet18"].read_bytes())
    entry = weights_for("resnet18")
    assert (entry.file, entry.source, entry.sha256) == (cached, FOUND_IN_CACHE, None)
    assert list(pretrained_available()) == ["resnet18"]
    state = weights.load_pretrained_state("resnet18")
    assert_same_tensors(state, state_files["resnet18"])
    get_model("resnet18", weights=None).load_state_dict(state)  # what build_model will do with it


def test_torchvision_named_file_with_the_right_hash_is_accepted_and_loaded(state_files, tmp_path, monkeypatch):
    # No file can be forged to torchvision's real hash prefix, so this file gets a torchvision name made from its
    # own hash; the real names are checked in test_torchvisions_name_with_a_wrong_hash_is_refused.
    digest = sha256(state_files["resnet18"])
    name = f"resnet18-{digest[:8]}.pth"
    (tmp_path / name).write_bytes(state_files["resnet18"].read_bytes())
    monkeypatch.setattr(weights, "torchvision_files", lambda: {name: "resnet18"})
    entry = weights.import_file(tmp_path / name, "resnet18")
    assert entry.file == hub_checkpoints_dir() / name  # under its own name, where torchvision looks
    assert (entry.sha256, entry.size) == (digest, state_files["resnet18"].stat().st_size)
    assert entry.source == f"torchvision file imported from {tmp_path / name}"
    assert weights_for("resnet18") == entry
    assert_same_tensors(weights.load_pretrained_state("resnet18"), state_files["resnet18"])


def test_the_real_torchvision_names_are_known():
    files = weights.torchvision_files()
    assert all(files[CATALOGUE[arch].weights_file] == arch for arch in CATALOGUE)


def test_densenets_old_key_names_are_renamed_by_torchvisions_loader(tmp_path):
    current = get_model("densenet121", weights=None).state_dict()
    # torchvision's densenet files: "denselayer1.norm.1.weight" for "denselayer1.norm1.weight", no batch counters
    legacy = {re.sub(r"(denselayer\d+\.(?:norm|relu|conv))(\d)\.", r"\1.\2.", key): value
              for key, value in current.items() if not key.endswith("num_batches_tracked")}
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    torch.save(legacy, tmp_path / "densenet121_old_keys.pth")
    weights.import_file(tmp_path / "densenet121_old_keys.pth", "densenet121")
    state = weights.load_pretrained_state("densenet121")
    assert set(state) == {key for key in current if not key.endswith("num_batches_tracked")}
    assert torch.equal(state["features.denseblock1.denselayer1.norm1.weight"],
                       current["features.denseblock1.denselayer1.norm1.weight"])
    get_model("densenet121", weights=None).load_state_dict(state)


def test_a_file_with_another_head_is_refused_naming_the_shapes(state_files, tmp_path):
    state = torch.load(state_files["resnet18"], weights_only=True)
    state["fc.weight"], state["fc.bias"] = torch.zeros(10, 512), torch.zeros(10)
    torch.save(state, tmp_path / "r18_10_classes.pth")
    with pytest.raises(WeightsError, match=r"2 with another shape: fc\.weight \(10, 512\) where resnet18 has "
                                           r"\(1000, 512\), fc\.bias \(10,\)"):
        weights.verify(tmp_path / "r18_10_classes.pth", "resnet18")


def test_a_training_checkpoint_is_refused_saying_what_to_save(state_files, tmp_path):
    torch.save({"model": torch.load(state_files["resnet18"], weights_only=True), "epoch": 3}, tmp_path / "ck.pth")
    with pytest.raises(WeightsError, match="model, epoch are not tensors.*state_dict"):
        weights.import_file(tmp_path / "ck.pth", "resnet18")
    assert_nothing_kept()


def test_a_damaged_file_in_the_cache_is_not_taken_by_fetch(state_files):
    cached = hub_checkpoints_dir() / CATALOGUE["resnet18"].weights_file
    cached.parent.mkdir(parents=True)
    cached.write_bytes(state_files["resnet18"].read_bytes())  # not torchvision's bytes: the hash in the name fails
    with pytest.raises(WeightsError, match=r"sha256 starts with .* not f37072fd.*already in the torch hub cache: "
                                           r"delete it"):
        weights.fetch("resnet18")
    assert pretrained_available()["resnet18"].source == FOUND_IN_CACHE  # still there, still unrecorded


def test_a_truncated_file_is_refused(state_files, tmp_path):
    data = state_files["squeezenet1_1"].read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[:len(data) // 2])
    with pytest.raises(WeightsError, match=r"cut\.pth cannot be read as torch weights \(RuntimeError: .*\): it is "
                                           r"truncated, damaged or no file saved by torch.save; copy it again"):
        weights.import_file(tmp_path / "cut.pth", "squeezenet1_1")
    assert_nothing_kept()


def test_another_architectures_state_dict_is_refused_listing_the_keys(state_files):
    with pytest.raises(WeightsError, match="does not load into mobilenet_v3_small") as refused:
        weights.import_file(state_files["squeezenet1_1"], "mobilenet_v3_small")
    assert re.search(r"\d+ missing: features\.0\.0\.weight", str(refused.value))
    assert re.search(r"\d+ unexpected: features\.0\.weight", str(refused.value))
    assert_nothing_kept()


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A folder served over local HTTP, and its address."""
    folder = tmp_path / "served"
    folder.mkdir()
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_fetch_downloads_with_torch_hubs_hash_check_and_records_it(state_files, served, monkeypatch):
    # torchvision's server is out of reach here, so torchvision's own weights entry gets a local address
    folder, address = served
    published = get_model_weights("squeezenet1_1").DEFAULT.value
    digest = sha256(state_files["squeezenet1_1"])
    good, bad = f"squeezenet1_1-{digest[:8]}.pth", "squeezenet1_1-00000000.pth"
    for name in (good, bad):
        (folder / name).write_bytes(state_files["squeezenet1_1"].read_bytes())
    monkeypatch.setattr(published, "url", f"{address}/{bad}")
    with pytest.raises(WeightsError, match=f"the download of {address}/{bad} is damaged .*invalid hash value"):
        weights.fetch("squeezenet1_1")
    assert_nothing_kept()
    monkeypatch.setattr(published, "url", f"{address}/{good}")
    entry = weights.fetch("squeezenet1_1")
    assert (entry.file, entry.sha256, entry.source) == (hub_checkpoints_dir() / good, digest, "torchvision download")
    assert weights_for("squeezenet1_1") == entry
    assert_same_tensors(weights.load_pretrained_state("squeezenet1_1"), state_files["squeezenet1_1"])


# --- the command line (the torch work runs in `python -m easeml_gui.training.weights`) ---

def test_import_a_labs_own_checkpoint_records_sha256_and_source(run_cli, state_files):
    source = state_files["mobilenet_v3_small"]
    out = run_cli("weights", "import", source, "--model", "mobilenet_v3_small")
    assert out.returncode == 0, out.stderr
    digest = sha256(source)
    assert f"sha256 {digest[:12]}" in out.stdout and f"imported from {source}" in out.stdout
    listed = run_cli("weights", "list", "--json")
    [entry] = json.loads(listed.stdout)
    assert entry == {"architecture": "mobilenet_v3_small", "sha256": digest, "size": source.stat().st_size,
                     "file": str(hub_checkpoints_dir() / "easeml" / f"mobilenet_v3_small-{digest[:12]}.pth"),
                     "source": f"imported from {source}", "recorded": entry["recorded"]}
    table = run_cli("weights", "list").stdout
    assert re.search(rf"mobilenet_v3_small +easeml/mobilenet_v3_small-{digest[:12]}\.pth +{digest[:12]} +\d", table)
    assert "none for: alexnet" in table
    assert_same_tensors(weights.load_pretrained_state("mobilenet_v3_small"), source)


def test_torchvisions_name_with_a_wrong_hash_is_refused(run_cli, state_files, tmp_path):
    name = CATALOGUE["squeezenet1_1"].weights_file  # squeezenet1_1-b8a52dc0.pth
    (tmp_path / name).write_bytes(state_files["squeezenet1_1"].read_bytes())
    out = run_cli("weights", "import", tmp_path / name, "--model", "squeezenet1_1")
    assert out.returncode == 1
    assert f"has the name of torchvision's squeezenet1_1 weights, but its sha256 starts with " \
           f"{sha256(tmp_path / name)[:8]}, not b8a52dc0" in out.stderr
    assert_nothing_kept()


def test_unknown_architectures_are_usage_errors_listing_the_catalogue(run_cli, state_files):
    for args in (("import", state_files["resnet18"], "--model", "resnet7"), ("fetch", "resnet18", "vit_h_14")):
        out = run_cli("weights", *args)
        assert out.returncode == 2
        assert "unknown architecture" in out.stderr and "squeezenet1_1, vgg11_bn" in out.stderr


def test_fetch_without_network_says_how_to_import_and_records_nothing(run_cli, monkeypatch):
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there: the real download fails fast
    out = run_cli("weights", "fetch")  # every catalogue architecture; the first failure stops the rest
    assert out.returncode == 1
    file = CATALOGUE["alexnet"].weights_file
    assert "could not download https://download.pytorch.org/models/" + file in out.stderr
    assert "no network?" in out.stderr
    assert f"`easeml-gui weights import {file} --model alexnet`" in out.stderr
    assert "not fetched either: convnext_tiny, densenet121" in out.stderr
    assert_nothing_kept()
