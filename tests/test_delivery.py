"""The one-standard-error rule: which of a tenant's models the lab delivers (engine/delivery.py)."""

from __future__ import annotations

import math

import pytest

from easeml_gui.engine.delivery import Run, delivered, standard_error
from easeml_gui.training.network_task import should_refit
from easeml_gui.training.wire import TaskRequest


def test_a_one_image_lead_on_200_validation_images_does_not_beat_a_model_half_the_price() -> None:
    # digits, colourised, 1,000 images: mobilenet_v3_small then mobilenet_v3_large, 200 validation images
    runs = [Run(0.485, 17.0), Run(0.730, 197.0), Run(0.735, 397.0)]
    assert standard_error(0.735, 200) == pytest.approx(math.sqrt(0.735 * 0.265 / 200))  # 0.031
    assert delivered(runs, 200) == 1


def test_a_lead_beyond_one_standard_error_wins_whatever_it_costs() -> None:
    runs = [Run(0.90, 5.0), Run(0.95, 900.0)]
    assert standard_error(0.95, 400) < 0.05
    assert delivered(runs, 400) == 1
    # on 16 images the same lead is within the noise (se 0.054): the cheap one
    assert delivered(runs, 16) == 0


def test_exactly_one_standard_error_below_is_still_within() -> None:
    se = standard_error(0.96, 100)
    assert delivered([Run(0.96, 50.0), Run(0.96 - se, 10.0)], 100) == 1


def test_without_an_image_count_it_is_the_best_accuracy_ties_to_the_cheaper() -> None:
    assert delivered([Run(0.9, 233.0), Run(0.9, 4.0), Run(0.8, 1.0)], None) == 1
    assert delivered([Run(0.8, 1.0), Run(0.9, 233.0)], None) == 1


def test_equal_seconds_go_to_the_more_accurate_then_the_earlier() -> None:
    assert delivered([Run(0.70, 10.0), Run(0.72, 10.0)], 200) == 1
    assert delivered([Run(0.72, 10.0), Run(0.72, 10.0)], 200) == 0


def test_a_perfect_score_has_no_noise_to_hide_behind_and_no_runs_deliver_nothing() -> None:
    assert delivered([Run(0.99, 1.0), Run(1.0, 100.0)], 200) == 1  # se at 1.0 is 0
    assert delivered([], 200) is None


def request_with(runs: list[list[float]] | None) -> TaskRequest:
    raw = {"task_id": "t", "arm": "mobilenet_v3_large", "dataset": "/d", "output_dir": "/o"}
    return TaskRequest.from_mapping(raw if runs is None else {**raw, "tenant_runs": runs})


def test_the_worker_refits_exactly_the_run_the_lab_would_deliver() -> None:
    earlier = [[0.485, 17.0], [0.730, 197.0]]
    assert not should_refit(request_with(earlier), 0.735, 200, 397.0)  # a one-image lead, twice the price
    assert should_refit(request_with(earlier), 0.725, 200, 150.0)  # within the noise and cheaper
    assert should_refit(request_with(earlier), 0.800, 200, 900.0)  # clear of the noise: whatever it cost
    assert should_refit(request_with([]), 0.10, 200, 5.0)  # a tenant's first model
    assert not should_refit(request_with(None), 0.99, 200, 5.0)  # a task run by hand: never
