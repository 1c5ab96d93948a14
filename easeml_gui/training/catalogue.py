"""The torchvision classification architectures a job may try: input constraints, training recipes, predicted cost.

Torch-free on purpose: the CLI (`job add` without --models) and the GUI match schemas on machines without torch.
The figures torchvision publishes (minimum input size, GFLOPs at 224 px, parameters, weight file name) are read
from torchvision into torchvision_meta.py by `python -m easeml_gui.training.models --write-meta`, and
tests/test_catalogue.py checks that file against the installed torchvision. Building the torch modules (head for
n classes, stem for one channel, pretrained weights) is models.py's job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .torchvision_meta import TORCHVISION_META


@dataclass(frozen=True)
class Schema:
    """ease.ml's job schema for image classification: what goes in, what comes out."""

    channels: int  # 1 (grey) or 3 (RGB)
    image_size: int  # square side the images are trained at
    num_classes: int


AUGMENTATIONS = ("crop", "flip")  # what the worker can do to a training batch
# A random crop only, by default: a horizontal flip keeps the label of a photo but not of a digit, a letter or a
# sign, and a lab cannot tell which it has. mobilenet_v3_small at 32 px, 1,000 steps (bench/accuracy_vs_peers.py's
# sets, 600 train images): shifted digits test 0.945 with crop, 0.905 with crop and flip, 0.66 with neither;
# colourised digits 0.70, 0.41 (validation) and 0.55. `job add --augment crop,flip` asks for the flip.
DEFAULT_AUGMENT = ("crop",)

# torchvision's ImageNet nets downsample 32x, 4x of it in the stem (a stride-2 conv and a max-pool, or a stride-4
# conv): at 32 px their first stage sees 8 x 8 and their last 1 x 1, where a CIFAR net (8x in all) has 32 x 32 and
# 4 x 4. Below 64 px the catalogue takes up to SMALL_STEM_GAIN out of the stem (models.use_small_input_stem); from
# 64 px the ImageNet stem leaves the first stage 16 x 16 or more and the last 2 x 2, the regime Tiny-ImageNet
# models train in, and a small stem would cost up to 16x the FLOPs.
SMALL_INPUT_BELOW = 64
SMALL_STEM_GAIN = 4


def small_input(image_size: int) -> bool:
    """Whether models train at this size with the small-input stem."""
    return image_size < SMALL_INPUT_BELOW


@dataclass(frozen=True)
class Recipe:
    optimizer: str  # "sgd" (Nesterov momentum) or "adamw"
    lr: float  # peak learning rate for training from scratch, after a linear warm-up, then cosine decay
    weight_decay: float
    batch_size: int = 64
    epochs: int = 10
    momentum: float = 0.9  # sgd only
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    augment: tuple[str, ...] = DEFAULT_AUGMENT  # random crop (pad 1/8, on the uint8 batch), horizontal flip
    finetune_lr_scale: float = 0.1  # lr multiplier when starting from pretrained weights (not for a probe's head)
    min_steps: int = 1000  # optimiser steps a run of the recipe's epochs gets at least (see plan's comment)
    min_epoch_steps: int = 30  # smaller batches, down to MIN_BATCH, until an epoch has this many steps
    max_epochs_factor: int = 5  # the floor never asks for more than this many times the recipe's epochs


# Small-data recipes that train from scratch in a few epochs: SGD for plain conv nets, AdamW for the nets with
# depthwise convolutions, squeeze-excitation or layer norm, which SGD trains slowly from scratch.
SGD = Recipe(optimizer="sgd", lr=0.05, weight_decay=5e-4)
SGD_NO_BN = Recipe(optimizer="sgd", lr=0.01, weight_decay=5e-4)  # nets without batch norm diverge at 0.05
ADAMW = Recipe(optimizer="adamw", lr=2e-3, weight_decay=0.05)
# squeezenet (no batch norm) from scratch on digits, 10 epochs at 32 px: 0.52 with SGD_NO_BN, 0.63 with ADAMW,
# 0.84 with AdamW at half its lr (bench/small_data_training.py)
ADAMW_NO_BN = Recipe(optimizer="adamw", lr=1e-3, weight_decay=0.05)


@dataclass(frozen=True)
class ModelSpec:
    name: str  # torchvision.models builder name
    family: str
    recipe: Recipe
    stem_gain: int  # how much the small-input stem enlarges every later feature map's side (models.py says why)
    min_size: int = field(init=False)  # smallest square input the architecture accepts
    gflops_224: float = field(init=False)  # forward pass at 224 x 224, from torchvision's weights meta
    params: int = field(init=False)  # with the 1000-class ImageNet head
    weights_file: str = field(init=False)  # the file name torch hub caches the ImageNet weights under

    def __post_init__(self) -> None:
        meta = TORCHVISION_META[self.name]
        for key in ("min_size", "gflops_224", "params", "weights_file"):
            object.__setattr__(self, key, meta[key])

    def fits(self, schema: Schema) -> bool:
        # every model here takes 1 channel (stem adapted) or 3, and any number of classes (head replaced)
        return schema.image_size >= self.min_size and schema.channels in (1, 3) and schema.num_classes >= 2

    def predicted_gflops(self, image_size: int) -> float:
        """Forward GFLOPs per image at `image_size`: conv nets scale with the number of pixels their layers see,
        which the small-input stem multiplies by stem_gain squared."""
        side = image_size * (self.stem_gain if small_input(image_size) else 1)
        return self.gflops_224 * (side / 224) ** 2


CATALOGUE: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec("alexnet", "alexnet", SGD_NO_BN, stem_gain=4),
    ModelSpec("convnext_tiny", "convnext", ADAMW, stem_gain=4),
    ModelSpec("densenet121", "densenet", SGD, stem_gain=4),
    ModelSpec("efficientnet_b0", "efficientnet", ADAMW, stem_gain=2),
    ModelSpec("mobilenet_v2", "mobilenet", ADAMW, stem_gain=2),
    ModelSpec("mobilenet_v3_large", "mobilenet", ADAMW, stem_gain=2),
    ModelSpec("mobilenet_v3_small", "mobilenet", ADAMW, stem_gain=2),
    ModelSpec("regnet_y_400mf", "regnet", SGD, stem_gain=2),
    ModelSpec("resnet18", "resnet", SGD, stem_gain=4),
    ModelSpec("resnet34", "resnet", SGD, stem_gain=4),
    ModelSpec("resnet50", "resnet", SGD, stem_gain=4),
    ModelSpec("shufflenet_v2_x1_0", "shufflenet", ADAMW, stem_gain=4),
    ModelSpec("squeezenet1_1", "squeezenet", ADAMW_NO_BN, stem_gain=4),
    ModelSpec("vgg11_bn", "vgg", SGD, stem_gain=2),
)}


def candidates(schema: Schema) -> tuple[ModelSpec, ...]:
    """The catalogue models that fit `schema`, cheapest first (ease.ml's schema matching)."""
    fitting = [spec for spec in CATALOGUE.values() if spec.fits(schema)]
    return tuple(sorted(fitting, key=lambda spec: (spec.gflops_224, spec.name)))


def default_image_size(short_side: float) -> int:
    """Train at the images' median short side, within [32, 224]: smaller loses the small models, larger wastes time."""
    return int(round(min(max(short_side, 32), 224)))


# The optimisation budget. At batch 64 for 10 epochs 1,000 images give 160 steps, too few to converge:
# Recipe.min_epoch_steps keeps an epoch at least that many steps (smaller batches, the lr scaled linearly by the
# trainer) and Recipe.min_steps sets a floor on the whole run. Measured on digits at 32 px, 1,079 train images
# (bench/small_data_training.py): mobilenet_v3_small validates at 0.914 after 160 steps, 0.928 after 330, 0.961
# after 627, 0.983 after 1,221; shufflenet_v2_x1_0 0.972 after 160 and 0.978 after 627; squeezenet1_1 0.97 after
# 627. A floor of 1,000 steps gets most of that at 1.7x the cost of 600.
# Tiny data would need hundreds of epochs to reach the floor (120 images: 334 epochs of 3 steps, 13 minutes of
# mobilenet_v3_small here): Recipe.max_epochs_factor caps it, so a task on tiny data costs at most a few times a
# recipe's run on it, and a lab's budget goes to trying more models instead of memorising 120 images.
# Below MIN_BATCH a batch's statistics (batch norm's) get noisy and each image costs more (mobilenet_v3_small at
# 16 px, one CPU thread: 10.5 ms an image at batch 16, 8.7 at 32, 7.7 at 64): tiny data gets its steps from the
# floor instead.
MIN_BATCH = 32


def plan(recipe: Recipe, n_train: int, epochs: int, batch_size: int) -> tuple[int, int]:
    """The batch size and number of epochs a task of `epochs` on `n_train` images trains for.

    The batch is `batch_size` (the most that fits the device) halved while an epoch would have fewer than
    recipe.min_epoch_steps steps, down to MIN_BATCH. A run of at least the recipe's epochs then gets at least
    recipe.min_steps steps, up to recipe.max_epochs_factor times the recipe's epochs; a run asked for fewer epochs
    than the recipe is a deliberately short one (a quick look, a test) and gets exactly those."""
    batch = min(batch_size, n_train)
    while batch // 2 >= MIN_BATCH and n_train // batch < recipe.min_epoch_steps:
        batch //= 2
    if epochs < recipe.epochs:
        return batch, epochs
    floor = min(math.ceil(recipe.min_steps / (n_train // batch)), recipe.epochs * recipe.max_epochs_factor)
    return batch, max(epochs, floor)
