"""The arms a job may try: every candidate model the engine can choose for a tenant, by name.

ease.ml's schema matching offers every model whose schema fits, deep or not, so an arm is one of:
  "resnet18"                   a catalogue network trained from scratch
  "resnet18@imagenet"          the same architecture fine-tuned from ImageNet weights
  "resnet18@imagenet-probe"    a linear probe: only a new head trains, on frozen ImageNet features
  "svc", "logistic_regression", "random_forest", "hist_gradient_boosting"
                               a classical scikit-learn learner on the images' pixels (training/classical.py)
Fine-tuned, probed and from-scratch runs of one architecture are different arms to the engine and the prior:
they differ in cost and in quality as much as two architectures do. Torch-free: the CLI and the GUI list and
match arms on machines without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection

from .catalogue import CATALOGUE, Schema, candidates, plan

WEIGHT_CHOICES = ("scratch", "imagenet", "both")  # `job add --weights`
IMAGENET, PROBE = "imagenet", "imagenet-probe"  # the suffixes after "@"


@dataclass(frozen=True)
class ClassicalLearner:
    name: str
    description: str
    # Training GFLOP per (sample, feature), and how that grows with the number of samples: an SVC's kernel
    # solver touches about n^2 pairs, the others pass over the data a fixed number of times.
    gflop_per_sample_feature: float
    quadratic_in_samples: bool = False


CLASSICAL: dict[str, ClassicalLearner] = {learner.name: learner for learner in (
    ClassicalLearner("svc", "support vector classifier, RBF kernel, on pixels", 2e-9, quadratic_in_samples=True),
    ClassicalLearner("logistic_regression", "multinomial logistic regression on pixels", 2e-7),
    ClassicalLearner("random_forest", "random forest of 300 trees on pixels", 3e-6),
    ClassicalLearner("hist_gradient_boosting", "histogram gradient boosting on pixels", 3e-6),
)}

# Classical learners see the images at most this many pixels a side (more pixels add cost, not accuracy, for
# learners that do not share weights across positions); training/classical.py resizes to it.
CLASSICAL_MAX_SIZE = 32


@dataclass(frozen=True)
class ArmSpec:
    name: str
    kind: str  # "network" or "classical"
    model: str  # the catalogue architecture, or the classical learner
    weights: str = "scratch"  # "scratch" or "imagenet"
    probe: bool = False  # only the new head trains; the pretrained body stays frozen

    @property
    def pretrained(self) -> bool:
        return self.weights == IMAGENET

    @property
    def network(self) -> bool:
        return self.kind == "network"

    @property
    def regime(self) -> str:
        """How the arm learns: a classical learner on pixels, a network from scratch, fine-tuned, or a probe. Arms
        of one regime succeed and fail on the same datasets most alike: a fresh lab's prior groups them
        (engine/prior.py's families)."""
        if not self.network:
            return "classical"
        return "probe" if self.probe else "fine-tuned" if self.pretrained else "scratch"

    def fits(self, schema: Schema) -> bool:
        if not self.network:
            return schema.num_classes >= 2
        return CATALOGUE[self.model].fits(schema)


class UnknownArm(ValueError):
    """A name that is no arm; str() says which names exist."""


def arm_spec(name: str) -> ArmSpec:
    """The arm named `name`; UnknownArm says what the names look like."""
    if name in CLASSICAL:
        return ArmSpec(name, "classical", name)
    model, _, variant = name.partition("@")
    if model in CATALOGUE and variant in ("", IMAGENET, PROBE):
        return ArmSpec(name, "network", model, "scratch" if not variant else IMAGENET, probe=variant == PROBE)
    raise UnknownArm(f"unknown model {name!r}: use a catalogue network ({', '.join(sorted(CATALOGUE))}), "
                     f"optionally with @{IMAGENET} (fine-tuned) or @{PROBE} (linear probe), or a classical "
                     f"learner ({', '.join(CLASSICAL)})")


def all_arm_names() -> list[str]:
    """Every arm there is, sorted: the columns every prior has (a job added later finds its arms there)."""
    networks = [f"{model}{suffix}" for model in CATALOGUE for suffix in ("", f"@{IMAGENET}", f"@{PROBE}")]
    return sorted([*networks, *CLASSICAL])


def arm_regimes(names: Collection[str]) -> list[str]:
    """Each arm's regime; a name that is no arm today (a model an old job ran) is a regime of its own."""
    regimes = []
    for name in names:
        try:
            regimes.append(arm_spec(name).regime)
        except UnknownArm:
            regimes.append(f"unknown:{name}")
    return regimes


def speed_groups() -> dict[str, str]:
    """Every arm's group for the cost model (engine/prior.py's WorkCostModel): networks train in torch on their
    device, classical learners in scikit-learn on the CPU, so the two learn their seconds per GFLOP apart."""
    return {name: arm_spec(name).kind for name in all_arm_names()}


ARM_INDEX = {name: i for i, name in enumerate(all_arm_names())}  # an arm's column in a fresh history matrix


def job_arms(schema: Schema, weights: str = "scratch", *, pretrained_available: Collection[str] = (),
             classical: bool = True) -> list[str]:
    """The arms a job over `schema` gets without --models: every fitting network from scratch and/or fine-tuned
    and probed where the lab has its ImageNet weights (`pretrained_available`: architecture names), plus the
    classical learners. Cheapest networks first, as catalogue.candidates orders them."""
    if weights not in WEIGHT_CHOICES:
        raise ValueError(f"--weights must be one of {', '.join(WEIGHT_CHOICES)}, got {weights!r}")
    names = list(CLASSICAL) if classical else []
    for spec in candidates(schema):
        if weights in ("scratch", "both"):
            names.append(spec.name)
        if weights in (IMAGENET, "both") and spec.name in pretrained_available:
            names += [f"{spec.name}@{IMAGENET}", f"{spec.name}@{PROBE}"]
    return names


# A GPU's memory for one training task, estimated before it runs (what placement compares with a GPU's free memory):
# the CUDA context and cuDNN's workspace, the weights with their gradients and optimiser state (SGD with momentum
# keeps one copy more, AdamW two), and the activations kept for the backward pass. Those scale with the batch and
# with the forward pass's work: about 40 MiB per image per forward GFLOP in float32 (ResNet-50 at 224 px trains at
# batch 32 in ~5.5 GB), halved under the worker's autocast. Depthwise nets keep more per GFLOP, hence the margin.
CUDA_OVERHEAD_MIB = 600.0
ACTIVATION_MIB_PER_GFLOP = 30.0
OPTIMISER_COPIES = {"sgd": 3, "adamw": 4}  # weights, gradients, then momentum or Adam's two moments
PROBE_ACTIVATION_SHARE = 0.1  # a probe's frozen body keeps no activations for a backward pass


def training_memory_mib(arm: ArmSpec, schema: Schema, train_images: int, epochs: int) -> float:
    """The GPU memory a task of the arm needs, estimated (see above); 0 for a classical learner (it trains on
    the CPU, whichever device it is given)."""
    if not arm.network:
        return 0.0
    spec = CATALOGUE[arm.model]
    batch, _ = plan(spec.recipe, train_images, epochs, spec.recipe.batch_size)
    copies = 1 if arm.probe else OPTIMISER_COPIES.get(spec.recipe.optimizer, 4)
    states = spec.params * 4 * copies / 2**20
    activations = ACTIVATION_MIB_PER_GFLOP * spec.predicted_gflops(schema.image_size) * batch
    return CUDA_OVERHEAD_MIB + states + activations * (PROBE_ACTIVATION_SHARE if arm.probe else 1.0)


def training_gflop(arm: ArmSpec, schema: Schema, train_images: int, epochs: int) -> float:
    """What training the arm costs before anything ran: the architecture's GFLOPs at the training size x images
    x epochs (x3: forward and backward; a probe runs the frozen body forward only), or the classical learner's
    cost in its samples and features. A prior for the cost model, which learns the seconds per GFLOP online."""
    if arm.network:
        recipe = CATALOGUE[arm.model].recipe
        _, epochs = plan(recipe, train_images, epochs, recipe.batch_size)  # small data trains more epochs
        forward = CATALOGUE[arm.model].predicted_gflops(schema.image_size)
        passes = 1.2 if arm.probe else 3.0
        return forward * passes * train_images * epochs
    learner = CLASSICAL[arm.model]
    side = min(schema.image_size, CLASSICAL_MAX_SIZE)
    features = schema.channels * side * side
    samples = train_images * (train_images if learner.quadratic_in_samples else 1)
    return learner.gflop_per_sample_feature * samples * features
