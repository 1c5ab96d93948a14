"""The torchvision classification architectures a job may try: input constraints, training recipes, predicted cost.

Torch-free on purpose: the CLI (`job add` without --models) and the GUI match schemas on machines without torch.
The figures torchvision publishes (minimum input size, GFLOPs at 224 px, parameters, weight file name) are read
from torchvision into torchvision_meta.py by `python -m easeml_gui.training.models --write-meta`, and
tests/test_catalogue.py checks that file against the installed torchvision. Building the torch modules (head for
n classes, stem for one channel, pretrained weights) is models.py's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .torchvision_meta import TORCHVISION_META


@dataclass(frozen=True)
class Schema:
    """ease.ml's job schema for image classification: what goes in, what comes out."""

    channels: int  # 1 (grey) or 3 (RGB)
    image_size: int  # square side the images are trained at
    num_classes: int


AUGMENTATIONS = ("crop", "flip")  # what the worker can do to a training batch


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
    augment: tuple[str, ...] = ("crop", "flip")  # random crop (pad 1/8, on the uint8 batch) and horizontal flip
    finetune_lr_scale: float = 0.1  # lr multiplier when starting from pretrained weights


# Small-data recipes that train from scratch in a few epochs: SGD for plain conv nets, AdamW for the nets with
# depthwise convolutions, squeeze-excitation or layer norm, which SGD trains slowly from scratch.
SGD = Recipe(optimizer="sgd", lr=0.05, weight_decay=5e-4)
SGD_NO_BN = Recipe(optimizer="sgd", lr=0.01, weight_decay=5e-4)  # nets without batch norm diverge at 0.05
ADAMW = Recipe(optimizer="adamw", lr=2e-3, weight_decay=0.05)


@dataclass(frozen=True)
class ModelSpec:
    name: str  # torchvision.models builder name
    family: str
    recipe: Recipe
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
        """Forward GFLOPs per image at `image_size`: conv nets scale with the number of pixels."""
        return self.gflops_224 * (image_size / 224) ** 2


CATALOGUE: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec("alexnet", "alexnet", SGD_NO_BN),
    ModelSpec("convnext_tiny", "convnext", ADAMW),
    ModelSpec("densenet121", "densenet", SGD),
    ModelSpec("efficientnet_b0", "efficientnet", ADAMW),
    ModelSpec("mobilenet_v2", "mobilenet", ADAMW),
    ModelSpec("mobilenet_v3_large", "mobilenet", ADAMW),
    ModelSpec("mobilenet_v3_small", "mobilenet", ADAMW),
    ModelSpec("regnet_y_400mf", "regnet", SGD),
    ModelSpec("resnet18", "resnet", SGD),
    ModelSpec("resnet34", "resnet", SGD),
    ModelSpec("resnet50", "resnet", SGD),
    ModelSpec("shufflenet_v2_x1_0", "shufflenet", ADAMW),
    ModelSpec("squeezenet1_1", "squeezenet", SGD_NO_BN),
    ModelSpec("vgg11_bn", "vgg", SGD),
)}


def candidates(schema: Schema) -> tuple[ModelSpec, ...]:
    """The catalogue models that fit `schema`, cheapest first (ease.ml's schema matching)."""
    fitting = [spec for spec in CATALOGUE.values() if spec.fits(schema)]
    return tuple(sorted(fitting, key=lambda spec: (spec.gflops_224, spec.name)))


def default_image_size(short_side: float) -> int:
    """Train at the images' median short side, within [32, 224]: smaller loses the small models, larger wastes time."""
    return int(round(min(max(short_side, 32), 224)))
