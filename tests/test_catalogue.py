"""The model catalogue: torchvision's figures, schema matching, and every model built for grey and colour data."""

from __future__ import annotations

import pytest
import torch

from easeml_gui.training import torchvision_meta
from easeml_gui.training.catalogue import CATALOGUE, MIN_BATCH, Schema, candidates, default_image_size, plan
from easeml_gui.training.models import build_model, torchvision_meta as read_meta

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
    # below 64 px the small-input stem makes every later layer see 4x the side: 16x the FLOPs
    assert spec.predicted_gflops(32) == pytest.approx(spec.gflops_224 * (4 * 32 / 224) ** 2)


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
def test_every_model_builds_for_grey_input_and_n_classes_at_its_minimum_size(name: str) -> None:
    spec = CATALOGUE[name]
    # shapes only, on the meta device: the same code path without paying for weights (vgg11_bn has 133 M);
    # regnet computes its layer widths from tensor values while it is built, so it is built for real
    device = torch.device("cpu" if spec.family == "regnet" else "meta")
    with device:
        model = build_model(spec, Schema(channels=1, image_size=spec.min_size, num_classes=7))
        imagenet_stem = build_model(spec, Schema(channels=1, image_size=spec.min_size, num_classes=7),
                                    small_stem=False)
    assert model.to("meta")(torch.empty(2, 1, spec.min_size, spec.min_size, device="meta")).shape == (2, 7)
    if spec.min_size > 1:
        with pytest.raises(RuntimeError):  # the published minimum is the ImageNet stem's real one
            imagenet_stem.to("meta")(torch.empty(2, 1, spec.min_size - 1, spec.min_size - 1, device="meta"))


def test_small_data_gets_smaller_batches_and_a_floor_on_steps() -> None:
    recipe = CATALOGUE["resnet18"].recipe  # batch 64, 10 epochs, at least 1,000 steps and 30 steps an epoch
    assert (recipe.batch_size, recipe.epochs, recipe.min_steps, recipe.min_epoch_steps) == (64, 10, 1000, 30)
    assert plan(recipe, 50_000, 10, 64) == (64, 10)  # enough data: the recipe as it is
    assert plan(recipe, 1000, 10, 64) == (32, 33)  # 31 steps an epoch, 1,023 in all
    assert plan(recipe, 800, 10, 64) == (32, 40) == (MIN_BATCH, 40)  # 25 steps an epoch: no smaller batch
    assert plan(recipe, 120, 10, 64) == (32, 50)  # 3 steps an epoch: the floor's epochs capped at 5x the recipe's
    assert plan(recipe, 1000, 40, 64) == (32, 40)  # more epochs than the floor needs: all of them
    assert plan(recipe, 1000, 10, 8) == (8, 10)  # a batch halved for memory is never raised: 125 steps an epoch
    assert plan(recipe, 1000, 10, 48) == (48, 50)  # nor halved below MIN_BATCH: 20 steps an epoch
    assert plan(recipe, 1000, 2, 64) == (32, 2)  # fewer epochs than the recipe: a short run on purpose
    assert plan(recipe, 10, 10, 64) == (10, 50)  # smaller than a batch: one step an epoch, capped
