"""Small data at a small size: catalogue models on ~1,000 digits at 32 px, before and after the small-input stem
and the optimisation budget.

scikit-learn's digits (1,797 images, 8 px, upsampled) registered with the default split: about 1,080 train, 360
validation, 360 test images. Each model trains once per configuration, same seed and data:
  before   the ImageNet stem, batch 64 (the recipe's), the epochs given, no floor on steps, squeezenet1_1's head
           with its ReLU and its SGD recipe: what jobs ran before
  stem     the small-input stem, the old budget
  budget   the ImageNet stem, the new budget (catalogue.plan: smaller batches for small data, a floor on steps)
  after    both, and every fix: what jobs run now
A table gives validation and test accuracy, epochs, steps and training seconds, and the ratios to `before`; an
SVC on the raw pixels is the reference the issue compares against. One thread by default: on a small shared CPU
more threads mostly wait for each other.

    python bench/small_data_training.py [--models mobilenet_v3_small,shufflenet_v2_x1_0] [--configs before,after]
        [--epochs 10] [--min-steps 1000] [--threads 1] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.models import SqueezeNet

from easeml_gui.training.catalogue import CATALOGUE, SGD_NO_BN, Recipe
from easeml_gui.training.datasets import DatasetInfo, register_dataset
from easeml_gui.training.digits import export_digits
from easeml_gui.training.models import build_model
from easeml_gui.training.trainer import Budget, TensorData, evaluate, train
from easeml_gui.training.network_task import tensor_data

CONFIGS = {"before": (False, False), "stem": (True, False), "budget": (False, True), "after": (True, True)}
OLD_RECIPES = {"squeezenet1_1": SGD_NO_BN}  # where `before` trained with another recipe


@dataclass(frozen=True)
class Run:
    model: str
    config: str
    val: float
    test: float
    epochs: int
    steps: int
    seconds: float


def recipe_for(name: str, config: str, min_steps: int) -> Recipe:
    recipe = OLD_RECIPES.get(name, CATALOGUE[name].recipe) if config == "before" else CATALOGUE[name].recipe
    if not CONFIGS[config][1]:  # batch 64 whatever the data, exactly the epochs asked
        return replace(recipe, min_steps=0, min_epoch_steps=0)
    return replace(recipe, min_steps=min_steps)


def run_one(name: str, config: str, info: DatasetInfo, data: TensorData, test: TensorData, args: argparse.Namespace
            ) -> Run:
    recipe = recipe_for(name, config, args.min_steps)
    torch.manual_seed(0)
    model = build_model(CATALOGUE[name], info.schema(args.image_size), small_stem=CONFIGS[config][0])
    if config == "before" and isinstance(model, SqueezeNet):
        model.classifier[2] = nn.ReLU()  # the head as torchvision builds it (models.build_model drops the ReLU)
    outcome = train(model, data, recipe, Budget(args.epochs), batch_size=recipe.batch_size,
                    device=torch.device("cpu"), seed=0, pretrained=False, augment=("crop",))
    model.load_state_dict(outcome.best_state)  # the selected epoch, as the worker reports it
    return Run(name, config, outcome.best_accuracy, evaluate(model, test, 256, None), outcome.epochs_run,
               outcome.epochs_run * (len(data.x_train) // outcome.batch_size), outcome.train_seconds)


def split_tensors(info: DatasetInfo, size: int) -> tuple[TensorData, TensorData]:
    """The worker's training tensors, and the same with the test split in place of validation."""
    data = tensor_data(info, size, torch.device("cpu"), use_imagenet_stats=False)
    test_info = replace(info, val=info.test)
    test = tensor_data(test_info, size, torch.device("cpu"), use_imagenet_stats=False)
    return data, replace(data, x_val=test.x_val, y_val=test.y_val)


def svc_reference(data: TensorData, test: TensorData) -> tuple[float, float]:
    from sklearn.svm import SVC  # slow to import; only the reference needs it

    def flat(x: torch.Tensor) -> np.ndarray:
        return x.reshape(len(x), -1).float().numpy() / 255.0

    svc = SVC().fit(flat(data.x_train), data.y_train.numpy())
    return tuple(float((svc.predict(flat(x)) == y.numpy()).mean()) for x, y in ((data.x_val, data.y_val),
                                                                                 (test.x_val, test.y_val)))


def table(runs: list[Run]) -> str:
    before = {r.model: r for r in runs if r.config == "before"}
    lines = [f"{'model':20} {'config':7} {'val':>6} {'test':>6} {'epochs':>6} {'steps':>6} {'seconds':>8}"
             f" {'val x':>6} {'test x':>6} {'time x':>6}"]
    for r in runs:
        base = before.get(r.model)
        ratios = (f" {r.val / base.val:6.2f} {r.test / base.test:6.2f} {r.seconds / base.seconds:6.2f}"
                  if base and base.val and base.test else "")
        lines.append(f"{r.model:20} {r.config:7} {r.val:6.3f} {r.test:6.3f} {r.epochs:6d} {r.steps:6d} "
                     f"{r.seconds:8.1f}{ratios}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mobilenet_v3_small,shufflenet_v2_x1_0,squeezenet1_1,resnet18")
    parser.add_argument("--configs", default="before,after", help=f"any of {','.join(CONFIGS)}")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10, help="what the job asks (the recipes' 10)")
    parser.add_argument("--min-steps", type=int, default=min(r.recipe.min_steps for r in CATALOGUE.values()),
                        help="the floor on steps of the new budget (the recipes')")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the runs here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as the worker: tiny late weights must not slow CPU arithmetic
    with tempfile.TemporaryDirectory() as tmp:
        info = register_dataset(export_digits(Path(tmp) / "source"), Path(tmp) / "digits")
        data, test = split_tensors(info, args.image_size)
        print(f"digits at {args.image_size} px: {len(info.train)} train / {len(info.val)} val / {len(info.test)} "
              f"test images, {args.threads} thread(s), {args.epochs} epochs asked")
        start = time.perf_counter()
        print("svc on pixels: val {:.3f} test {:.3f} ({:.1f} s)".format(*svc_reference(data, test),
                                                                        time.perf_counter() - start), flush=True)
        runs = []
        for name in args.models.split(","):
            for config in args.configs.split(","):
                runs.append(run_one(name, config, info, data, test, args))
                print(table(runs).splitlines()[-1], flush=True)
    print("\n" + table(runs))
    if args.json:
        args.json.write_text(json.dumps([vars(r) for r in runs], indent=1))


if __name__ == "__main__":
    main()
