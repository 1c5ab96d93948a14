"""The reference prior: its figures are the published ones, a fresh lab's first guesses follow them, and the
lab's own results take over as they accumulate."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from easeml_gui.engine.prior import FALLBACK_MEAN, fit_prior
from easeml_gui.engine.reference_prior import (
    IMAGENET, REFERENCE_KIND, REFERENCE_WEIGHT, combined_prior, published_figures, reference, reference_history,
)
from easeml_gui.training.arms import all_arm_names
from easeml_gui.training.catalogue import CATALOGUE

SFDA = Path(__file__).resolve().parents[2] / "shared" / "data" / "quality" / "sfda_cnn_finetune_11x11.csv"
NAMES = tuple(all_arm_names())


def column(name: str) -> int:
    return NAMES.index(name)


def lab_rows(n: int, values: dict[str, float], seed: int = 0) -> np.ndarray:
    """n lab datasets on which the named arms reached about `values` (the other arms never ran)."""
    rng = np.random.default_rng(seed)
    rows = np.full((n, len(NAMES)), np.nan)
    for name, value in values.items():
        rows[:, column(name)] = np.clip(value + rng.normal(0, 0.02, n), 0, 1)
    return rows


# --- the figures are the published ones ------------------------------------------------------------------------


@pytest.mark.skipif(not SFDA.exists(), reason="the shared quality matrices are not checked out beside the project")
def test_fine_tuning_figures_are_sfdas_table() -> None:
    with open(SFDA) as f:
        table = {row["dataset"]: row for row in csv.DictReader(f)}
    fine_tuning = [f for f in published_figures() if f.dataset != IMAGENET]
    assert len(fine_tuning) == 11 * 11 and {f.source for f in fine_tuning} == {"sfda"}
    for figure in fine_tuning:
        assert figure.top1 == float(table[figure.dataset][figure.architecture])
        assert figure.weights == "IMAGENET1K_V1"


def test_imagenet_figures_are_torchvisions() -> None:
    models = pytest.importorskip("torchvision.models")
    imagenet = [f for f in published_figures() if f.dataset == IMAGENET]
    assert {f.source for f in imagenet} == {"torchvision"}
    for figure in imagenet:
        weights = models.get_model_weights(figure.architecture)
        published = weights[figure.weights].meta["_metrics"]["ImageNet-1K"]["acc@1"] / 100
        assert figure.top1 == pytest.approx(published, abs=1e-9)
        assert figure.default == (weights.DEFAULT.name == figure.weights)


def test_every_fine_tuning_figure_has_the_imagenet_figure_of_its_weights() -> None:
    imagenet = {(f.architecture, f.weights) for f in published_figures() if f.dataset == IMAGENET}
    assert {(f.architecture, f.weights) for f in published_figures()} <= imagenet
    defaults = {f.architecture for f in published_figures() if f.dataset == IMAGENET and f.default}
    assert set(CATALOGUE) <= defaults  # every catalogue network's fine-tuned arm has a column


# --- the pseudo-history ----------------------------------------------------------------------------------------


def test_reference_history_has_published_derived_and_unknown_columns() -> None:
    quality, datasets = reference_history(NAMES)
    assert quality.shape == (11, len(NAMES)) and len(datasets) == 11 and IMAGENET not in datasets
    published = {(f.dataset, f.architecture): f.top1 for f in published_figures()}
    for arch in ("resnet34", "resnet50", "densenet121", "mobilenet_v2"):
        assert list(quality[:, column(f"{arch}@imagenet")]) == [published[(d, arch)] for d in datasets]
    for arch in CATALOGUE:
        assert np.all((quality[:, column(f"{arch}@imagenet")] > 0) & (quality[:, column(f"{arch}@imagenet")] < 1))
        assert np.isnan(quality[:, column(arch)]).all()  # from scratch: nothing published in a comparable regime
        assert np.isnan(quality[:, column(f"{arch}@imagenet-probe")]).all()
    assert np.isnan(quality[:, column("svc")]).all()


def test_derived_figures_follow_imagenet_accuracy_and_are_less_certain_far_from_the_fitted_range() -> None:
    ref = reference()
    assert 0.5 < ref.transfer.slope < 2  # better ImageNet nets transfer better (Kornblith et al.)
    quality, _ = reference_history(NAMES)
    means = {arch: quality[:, column(f"{arch}@imagenet")].mean() for arch in CATALOGUE}
    assert means["convnext_tiny"] > means["efficientnet_b0"] > means["resnet18"] > means["alexnet"]
    variance = {arch: ref.column(f"{arch}@imagenet")[1] for arch in ("alexnet", "resnet18", "efficientnet_b0")}
    assert variance["alexnet"] > variance["resnet18"] > variance["efficientnet_b0"] >= ref.transfer.error_var > 0
    assert ref.column("resnet50@imagenet")[1] == 0.0  # a published column carries no derivation error


def test_fit_prior_on_the_reference_rows_is_fitted_not_the_flat_fallback() -> None:
    quality, _ = reference_history(NAMES)
    prior = fit_prior(quality, NAMES)
    assert prior.kind != "fallback" and prior.rows == 11
    assert prior.mean[column("convnext_tiny@imagenet")] > prior.mean[column("resnet50@imagenet")] \
        > prior.mean[column("mobilenet_v2@imagenet")] > prior.mean[column("alexnet@imagenet")]


def test_cross_validation_picks_the_kind_the_reference_names() -> None:
    arms = reference().arms
    quality, _ = reference_history(arms)
    assert fit_prior(quality, arms, "auto").kind == REFERENCE_KIND


# --- combined with the lab's own history -----------------------------------------------------------------------


def test_a_fresh_lab_ranks_fine_tuned_arms_first_and_better_imagenet_nets_ahead() -> None:
    prior = combined_prior(np.empty((0, len(NAMES))), NAMES)
    mean = dict(zip(NAMES, prior.mean))
    assert mean["resnet50@imagenet"] > mean["resnet50"] + 0.2
    assert mean["convnext_tiny@imagenet"] > mean["resnet18@imagenet"] > mean["squeezenet1_1@imagenet"]
    assert np.ptp(prior.mean) > 0.3 and prior.kind.endswith("+reference")  # not today's flat 0.5 for every arm
    assert np.linalg.eigvalsh(prior.cov).min() > 0
    # Arms the reference does not cover keep exactly what the lab would have without it.
    alone = fit_prior(np.empty((0, len(NAMES))), NAMES)
    uncovered = np.isnan(reference_history(NAMES)[0][0])
    assert np.all(prior.mean[uncovered] == FALLBACK_MEAN)
    np.testing.assert_array_equal(prior.cov[np.ix_(uncovered, uncovered)], alone.cov[np.ix_(uncovered, uncovered)])
    assert np.all(prior.cov[np.ix_(uncovered, ~uncovered)] == 0)


def test_the_labs_own_results_take_over_as_they_accumulate() -> None:
    arm = column("resnet50@imagenet")
    fresh = combined_prior(np.empty((0, len(NAMES))), NAMES).mean[arm]
    distances = []
    for n in (1, 4, 12, 36):
        # A lab whose data is unlike the benchmarks: fine-tuned resnet50 reaches only about 0.6.
        history = lab_rows(n, {"resnet50@imagenet": 0.6, "resnet50": 0.5, "svc": 0.4})
        prior = combined_prior(history, NAMES)
        lab = fit_prior(history, NAMES)
        share = REFERENCE_WEIGHT / (REFERENCE_WEIGHT + n)
        assert prior.mean[arm] == pytest.approx((1 - share) * lab.mean[arm] + share * fresh)
        distances.append(abs(prior.mean[arm] - np.mean(history[:, arm])))
    assert distances == sorted(distances, reverse=True) and distances[-1] < 0.05
    assert fresh - 0.6 > 0.2  # so the pull was real


def test_arms_the_reference_does_not_cover_are_the_labs_prior_exactly() -> None:
    history = lab_rows(6, {"resnet50@imagenet": 0.9, "resnet50": 0.7, "resnet18": 0.65, "svc": 0.5})
    prior, lab = combined_prior(history, NAMES), fit_prior(history, NAMES)
    uncovered = np.isnan(reference_history(NAMES)[0][0])
    np.testing.assert_array_equal(prior.mean[uncovered], lab.mean[uncovered])
    np.testing.assert_array_equal(prior.cov[np.ix_(uncovered, uncovered)], lab.cov[np.ix_(uncovered, uncovered)])
    assert prior.noise == lab.noise
    assert np.linalg.eigvalsh(prior.cov).min() > -1e-12


def test_arms_outside_the_catalogue_get_the_lab_prior_unchanged() -> None:
    history = np.random.default_rng(1).uniform(0.5, 0.9, (8, 5))
    names = [f"m{i}" for i in range(5)]  # a simulator's matrix columns
    prior, lab = combined_prior(history, names), fit_prior(history, names)
    assert prior.kind == lab.kind and np.array_equal(prior.mean, lab.mean) and np.array_equal(prior.cov, lab.cov)
