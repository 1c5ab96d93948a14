"""The model catalogue: torchvision's figures, schema matching, and every model built for grey and colour data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from easeml_gui.training import torchvision_meta
from easeml_gui.training.catalogue import CATALOGUE, Schema, candidates, default_image_size
from easeml_gui.training.models import build_model, torchvision_meta as read_meta, weights_path

REQUIRED = {"resnet18", "resnet34", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
            "shufflenet_v2_x1_0", "squeezenet1_1", "efficientnet_b0", "densenet121", "regnet_y_400mf", "vgg11_bn",
            "alexnet", "convnext_tiny"}


def test_the_catalogue_has_the_required_architectures() -> None:
    assert REQUIRED <= set(CATALOGUE)


def test_generated_figures_match_the_installed_torchvision() -> None:
    assert read_meta(sorted(CATALOGUE)) == torchvision_meta.TORCHVISION_META, \
        "regenerate with `python -m easeml_gui.training.models --write-meta`"


def test_costs_differ_and_scale_with_pixels() -> None:
    costs = {name: spec.gflops_224 for name, spec in CATALOGUE.items()}
    assert costs["mobilenet_v3_small"] < costs["resnet18"] < costs["resnet50"] < costs["vgg11_bn"]
    spec = CATALOGUE["resnet18"]
    assert spec.predicted_gflops(112) == pytest.approx(spec.gflops_224 / 4)


def test_schema_matching_respects_minimum_input_sizes() -> None:
    at_32 = {spec.name for spec in candidates(Schema(channels=1, image_size=32, num_classes=10))}
    assert at_32 == set(CATALOGUE) - {"alexnet"}  # alexnet needs 63 px
    at_16 = {spec.name for spec in candidates(Schema(channels=3, image_size=16, num_classes=10))}
    assert at_16 == set(CATALOGUE) - {"alexnet", "squeezenet1_1", "densenet121", "vgg11_bn", "convnext_tiny"}
    assert {s.name for s in candidates(Schema(channels=3, image_size=224, num_classes=5))} == set(CATALOGUE)
    assert candidates(Schema(channels=3, image_size=224, num_classes=1)) == ()  # one class: nothing to learn
    assert candidates(Schema(channels=4, image_size=224, num_classes=5)) == ()
    cheapest_first = [s.gflops_224 for s in candidates(Schema(channels=3, image_size=64, num_classes=3))]
    assert cheapest_first == sorted(cheapest_first)


def test_default_image_size_follows_the_data_within_bounds() -> None:
    assert (default_image_size(8), default_image_size(100.4), default_image_size(4000)) == (32, 100, 224)


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_model_builds_for_grey_input_and_n_classes_at_its_minimum_size(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache: from scratch, nothing downloaded
    spec = CATALOGUE[name]
    # shapes only, on the meta device: the same code path without paying for weights (vgg11_bn has 133 M);
    # regnet computes its layer widths from tensor values while it is built, so it is built for real
    device = torch.device("cpu" if spec.family == "regnet" else "meta")
    with device:
        model, pretrained = build_model(spec, Schema(channels=1, image_size=spec.min_size, num_classes=7))
    model = model.to("meta").eval()
    assert not pretrained
    assert model(torch.empty(2, 1, spec.min_size, spec.min_size, device="meta")).shape == (2, 7)
    if spec.min_size > 1:
        with pytest.raises(RuntimeError):  # the published minimum is the real one
            model(torch.empty(2, 1, spec.min_size - 1, spec.min_size - 1, device="meta"))


def test_cached_weights_are_used_and_missing_ones_never_downloaded(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    spec = CATALOGUE["resnet18"]
    with pytest.raises(FileNotFoundError, match="not in the local torch hub cache"):
        build_model(spec, Schema(3, 32, 4), pretrained=True)
    # a stand-in for ImageNet weights, placed where torch hub caches them
    torch.manual_seed(1)
    imagenet, _ = build_model(spec, Schema(3, 32, 1000), pretrained=False)
    weights_path(spec).parent.mkdir(parents=True)
    torch.save(imagenet.state_dict(), weights_path(spec))
    grey, pretrained = build_model(spec, Schema(1, 32, 4))
    assert pretrained
    assert torch.equal(grey.layer1[0].conv1.weight, imagenet.layer1[0].conv1.weight)
    assert torch.allclose(grey.conv1.weight, imagenet.conv1.weight.sum(dim=1, keepdim=True))  # same response to grey
    assert grey.fc.out_features == 4
    _, scratch = build_model(spec, Schema(3, 32, 4), pretrained=False)
    assert not scratch
