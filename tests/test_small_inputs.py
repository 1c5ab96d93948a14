"""Small images and small data: the small-input stem, pretrained states, linear probes and the step budget, with
real torch on real digits (scikit-learn's)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import get_model
from training_fixtures import digits_dataset, digits_dir, small_digits  # noqa: F401 (fixtures)

from easeml_gui.training.catalogue import CATALOGUE, SMALL_INPUT_BELOW, ModelSpec, Schema
from easeml_gui.training.datasets import DatasetInfo, load_dataset
from easeml_gui.training.decoded import decoded_images
from easeml_gui.training.models import build_model
from easeml_gui.training.trainer import (RECALIBRATION_IMAGES, Budget, EpochReport, Retrace, TensorData, TrainOutcome,
                                        recalibrate_batch_norm, train)

NAMES = sorted(CATALOGUE)
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def flush_denormals() -> Iterator[None]:
    """As the worker does: tiny weights late in a run slow CPU arithmetic (a squeezenet run here took 300 s, not 40)."""
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)


def shapes_only(spec: ModelSpec, schema: Schema, **options: object) -> nn.Module:
    """The model on the meta device: real shapes without paying for weights (vgg11_bn has 133 M). regnet computes
    its layer widths from tensor values while it is built, so it is built for real."""
    with torch.device("cpu" if spec.family == "regnet" else "meta"):
        return build_model(spec, schema, **options).to("meta").eval()


def last_feature_map(model: nn.Module, size: int, channels: int) -> tuple[int, int]:
    """The spatial size the global pooling sees: the input of the last adaptive pool (torchvision's avgpool), or
    for nets that pool functionally (densenet, shufflenet) the last 4-D output of a layer."""
    pooled: list[tuple[int, int]] = []
    maps: list[tuple[int, int]] = []

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if isinstance(module, nn.AdaptiveAvgPool2d):
            pooled.append(tuple(inputs[0].shape[-2:]))
        elif output.ndim == 4:
            maps.append(tuple(output.shape[-2:]))

    hooks = [m.register_forward_hook(record) for m in model.modules() if not list(m.children())]
    with torch.no_grad():
        model(torch.empty(1, channels, size, size, device="meta"))
    for hook in hooks:
        hook.remove()
    return (pooled or maps)[-1]


def forward_gflop(model: nn.Module, size: int) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty(1, 1, size, size, device="meta"))
    return counter.get_total_flops() / 2e9  # multiply-adds, as torchvision's figures count them


@pytest.mark.parametrize("name", NAMES)
def test_the_small_input_stem_keeps_a_feature_map_at_32_px(name: str) -> None:
    spec = CATALOGUE[name]
    size = max(32, spec.min_size)  # alexnet: 63 px, its published minimum
    assert size < SMALL_INPUT_BELOW
    height, width = last_feature_map(shapes_only(spec, Schema(1, size, 10)), size, 1)
    assert height > 1 and width > 1
    assert last_feature_map(shapes_only(spec, Schema(1, size, 10), small_stem=False), size, 1) == (1, 1)


@pytest.mark.parametrize("name", NAMES)
def test_predicted_cost_follows_the_stem(name: str) -> None:
    spec = CATALOGUE[name]
    size = max(32, spec.min_size)
    at_224 = forward_gflop(shapes_only(spec, Schema(1, 224, 10)), 224)
    small = forward_gflop(shapes_only(spec, Schema(1, size, 10)), size)
    # relative to the 224 px figure (torchvision's, not counted here), within 25% of what the layers really cost:
    # 4x to 16x more than the pixels alone, (size / 224) ** 2, would predict
    assert spec.predicted_gflops(size) / spec.gflops_224 == pytest.approx(small / at_224, rel=0.25)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", NAMES)
def test_every_model_runs_at_its_minimum_size_and_at_32_px(name: str, channels: int) -> None:
    spec = CATALOGUE[name]
    for size in sorted({spec.min_size, max(32, spec.min_size)}):
        model = shapes_only(spec, Schema(channels, size, 7))
        assert model(torch.empty(2, channels, size, size, device="meta")).shape == (2, 7)


def perturbed_imagenet_state(arch: str) -> dict[str, torch.Tensor]:
    """A stand-in for ImageNet weights, unlike any fresh initialisation: every tensor shifted a little (a lot
    would make the features overflow)."""
    torch.manual_seed(1)
    state = get_model(arch, weights=None).state_dict()
    return {key: value + 0.01 * torch.rand_like(value) if value.is_floating_point() else value + 3
            for key, value in state.items()}


STEMS = {"resnet18": "conv1.weight", "densenet121": "features.conv0.weight",
         "mobilenet_v3_small": "features.0.0.weight", "squeezenet1_1": "features.0.weight"}
HEADS = {"resnet18": "fc.", "densenet121": "classifier.", "mobilenet_v3_small": "classifier.3.",
         "squeezenet1_1": "classifier.1."}


@pytest.mark.parametrize("arch", sorted(STEMS))
def test_a_pretrained_state_is_loaded_into_the_body(arch: str) -> None:
    state = perturbed_imagenet_state(arch)
    model = build_model(CATALOGUE[arch], Schema(1, 32, 4), pretrained_state=state)
    built = model.state_dict()
    stem, head = STEMS[arch], HEADS[arch]
    body = [key for key in state if key != stem and not key.startswith(head)]
    assert body and all(torch.equal(built[key], state[key]) for key in body)
    assert torch.allclose(built[stem], state[stem].sum(dim=1, keepdim=True))  # the same response to grey
    assert built[f"{head}weight"].shape[0] == 4 and set(built) == set(state)


def test_a_state_for_another_architecture_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="does not fit resnet34: missing .*layer1.2"):
        build_model(CATALOGUE["resnet34"], Schema(3, 32, 4), pretrained_state=perturbed_imagenet_state("resnet18"))
    with pytest.raises(ValueError, match="linear probe of resnet18 needs its ImageNet weights"):
        build_model(CATALOGUE["resnet18"], Schema(3, 32, 4), probe=True)


def tensor_data(info: DatasetInfo, size: int) -> TensorData:
    images = torch.from_numpy(decoded_images(info, size))
    index = {entry.path: i for i, entry in enumerate(info.manifest)}

    def rows(paths: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        return images[[index[p] for p in paths]], torch.tensor(info.labels(paths))

    (x_train, y_train), (x_val, y_val) = rows(info.train), rows(info.val)
    pixels = x_train.float() / 255
    return TensorData(x_train, y_train, x_val, y_val, pixels.mean().view(1, 1, 1, 1), pixels.std().view(1, 1, 1, 1))


def test_a_probe_trains_only_its_head_on_a_frozen_body(small_digits: Path) -> None:
    data = tensor_data(load_dataset(small_digits), 16)
    state = perturbed_imagenet_state("resnet18")
    model = build_model(CATALOGUE["resnet18"], Schema(1, 16, 10), pretrained_state=state, probe=True)
    assert [name for name, p in model.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]
    before = {key: value.clone() for key, value in model.state_dict().items()}
    outcome = train(model, data, CATALOGUE["resnet18"].recipe, Budget(2), batch_size=64, device=CPU, seed=0,
                    pretrained=True, augment=("crop",))
    after = model.state_dict()
    # batch norm statistics included: the body ran in eval mode and recalibration left it alone
    assert all(torch.equal(after[key], value) for key, value in before.items() if not key.startswith("fc."))
    assert not torch.equal(after["fc.weight"], before["fc.weight"])
    assert outcome.epochs_run == 2


def test_squeezenet_learns_digits(digits_dataset: Path) -> None:
    data = tensor_data(load_dataset(digits_dataset), 32)
    torch.manual_seed(0)
    # the ImageNet stem, ten times cheaper here: the fix is the head, which both stems share
    model = build_model(CATALOGUE["squeezenet1_1"], Schema(1, 32, 10), small_stem=False)
    outcome = train(model, data, CATALOGUE["squeezenet1_1"].recipe, Budget(3), batch_size=64, device=CPU, seed=0,
                    pretrained=False, augment=("crop",))
    assert outcome.best_accuracy >= 0.3  # 3x chance; with its ReLU-clamped head it stayed at 0.1 for 10 epochs


def test_the_budget_adds_epochs_to_reach_the_floor_on_steps_and_reports_them(small_digits: Path) -> None:
    data = tensor_data(load_dataset(small_digits), 16)
    recipe = replace(CATALOGUE["mobilenet_v3_small"].recipe, epochs=2, min_steps=15)
    torch.manual_seed(0)
    model = build_model(CATALOGUE["mobilenet_v3_small"], Schema(1, 16, 10))
    reports: list[EpochReport] = []
    outcome = train(model, data, recipe, Budget(2), batch_size=64, device=CPU, seed=0, pretrained=False,
                    augment=("crop",), on_epoch=reports.append)
    # 180 images: batch 32 (MIN_BATCH: 5 steps an epoch), and 3 epochs to reach the floor of 15 steps
    assert (outcome.batch_size, outcome.epochs_run) == (32, 3)
    assert [(r.epoch, r.epochs) for r in reports] == [(1, 3), (2, 3), (3, 3)]


def test_a_retrace_retrains_the_selected_epoch_exactly(small_digits: Path) -> None:
    """The refit's mechanism: the same seed along the same course reproduces the kept epoch's weights bit for bit
    (resnet18 has no dropout, so validation between epochs draws no random numbers the retrace would not)."""
    data = tensor_data(load_dataset(small_digits), 16)
    recipe = CATALOGUE["resnet18"].recipe

    def run(retrace: Retrace | None) -> TrainOutcome:
        torch.manual_seed(0)
        model = build_model(CATALOGUE["resnet18"], Schema(1, 16, 10))
        return train(model, data, recipe, Budget(3), batch_size=64, device=CPU, seed=0, pretrained=False,
                     augment=("crop",), retrace=retrace)

    selected = run(None)
    course = replace(Retrace.of(selected), stop_after=2)  # an early epoch: the schedule must still be the full one
    partial = run(course)
    assert (partial.epochs_run, partial.best_epoch, partial.planned_epochs) == (2, 2, selected.planned_epochs)
    assert math.isnan(partial.best_accuracy) and math.isnan(partial.final_accuracy)  # nothing validated
    full = run(Retrace.of(selected))
    kept = selected.best_state
    assert full.epochs_run == selected.best_epoch
    assert all(torch.equal(full.best_state[key], kept[key]) for key in kept)


@pytest.mark.parametrize("n", [RECALIBRATION_IMAGES // 2, 2 * RECALIBRATION_IMAGES])
def test_batch_norm_statistics_are_those_of_mixed_batches_over_every_class(n: int) -> None:
    """A split lists its images class by class; of two classes (black, then white) the recalibrated statistics are
    those of training batches, which mix them: mean 0.5, variance 0.25. In the split's order they were the first
    class's alone past RECALIBRATION_IMAGES (mean 0) and within-class below it (variance near 0)."""
    x_train = torch.cat([torch.zeros(n // 2, 1, 4, 4, dtype=torch.uint8), torch.full((n // 2, 1, 4, 4), 255,
                                                                                     dtype=torch.uint8)])
    y_train = torch.cat([torch.zeros(n // 2, dtype=torch.int64), torch.ones(n // 2, dtype=torch.int64)])
    data = TensorData(x_train, y_train, x_train[:2], y_train[:2], torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1))
    norm = nn.BatchNorm2d(1)
    recalibrate_batch_norm(norm, data, batch_size=128, amp_dtype=None)
    assert norm.running_mean.item() == pytest.approx(0.5, abs=0.05)
    assert norm.running_var.item() == pytest.approx(0.25, abs=0.02)
