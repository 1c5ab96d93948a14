"""The training loop over device-resident uint8 tensors: one model, one recipe, a budget of epochs and seconds.

Fast by design: batches are gathered from one uint8 tensor already on the device, augmented there, converted to
float only per batch; on CUDA the model runs channels_last under autocast (bf16 where supported, else fp16 with a
gradient scaler). The loss is summed on the device and read once per epoch, so the GPU is never stalled per step.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .augment import augment_batch
from .catalogue import Recipe, plan
from .errors import TrainingError


RECALIBRATION_IMAGES = 1024  # batch-norm statistics are exact enough over this many training images


@dataclass(frozen=True)
class TensorData:
    """Images as (N, C, S, S) uint8 and labels as int64, on the training device; mean/std as (1, C, 1, 1)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    epochs: int
    loss: float
    val_accuracy: float  # NaN in a retraced run, which does not validate
    images_per_second: float
    seconds: float  # since training started


@dataclass(frozen=True)
class TrainOutcome:
    best_accuracy: float
    best_epoch: int
    final_accuracy: float
    epochs_run: int
    batch_size: int  # what plan() chose: the caller's batch size or smaller for small data
    planned_epochs: int  # what plan() chose: the length of the learning-rate schedule
    best_state: dict[str, torch.Tensor]  # on the CPU
    images_per_second: float  # training images per second over all epochs (evaluation excluded)
    train_seconds: float
    stopped_by_time: bool


@dataclass(frozen=True)
class Budget:
    epochs: int  # at least this many; catalogue.plan may add epochs to reach the recipe's floor on steps
    max_seconds: float | None = None  # stop after the batch that crosses it, then evaluate


@dataclass(frozen=True)
class Retrace:
    """Train again along a finished run's course: its batch size and learning-rate schedule (over its planned
    epochs), stopped after the epoch selection kept. What the retraced run keeps is its last epoch, as nothing is
    left to select on (a refit trains on the validation images too)."""

    batch_size: int
    planned_epochs: int
    stop_after: int

    @classmethod
    def of(cls, outcome: TrainOutcome) -> "Retrace":
        return cls(outcome.batch_size, outcome.planned_epochs, outcome.best_epoch)


def train(model: nn.Module, data: TensorData, recipe: Recipe, budget: Budget, *, batch_size: int,
          device: torch.device, seed: int, pretrained: bool, augment: tuple[str, ...],
          on_epoch: Callable[[EpochReport], None] = lambda report: None,
          retrace: Retrace | None = None) -> TrainOutcome:
    """Train for the budget as catalogue.plan sets it from `batch_size` (the most the device takes) and the data,
    keeping the epoch of best validation accuracy; or, with `retrace`, along that course without validating (its
    outcome's accuracies are NaN). A model whose parameters are partly frozen (a linear probe) trains only the rest,
    its frozen body in eval mode."""
    cuda = device.type == "cuda"
    model.to(device, memory_format=torch.channels_last if cuda else torch.contiguous_format)
    n = len(data.x_train)
    if retrace is None:
        batch_size, epochs = plan(recipe, n, budget.epochs, batch_size)
        last_epoch = epochs
    else:
        batch_size, epochs, last_epoch = retrace.batch_size, retrace.planned_epochs, retrace.stop_after
    steps_per_epoch = n // batch_size  # drop the ragged last batch: a batch of one breaks batch norm
    frozen = frozen_modules(model)
    optimizer = build_optimizer(model, recipe, batch_size, pretrained)
    schedule = _schedule(optimizer, recipe, steps_per_epoch, epochs)
    amp_dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else None
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    generator = torch.Generator().manual_seed(seed)
    best_accuracy, best_epoch, best_state, accuracy = -1.0, 0, {}, math.nan
    trained_images, train_seconds, epoch = 0, 0.0, 0
    start = time.perf_counter()
    out_of_time = False
    while epoch < last_epoch and not out_of_time:
        epoch += 1
        train_mode(model, frozen)
        epoch_start = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        order = torch.randperm(n, generator=generator).to(device)
        steps = 0
        for step in range(steps_per_epoch):
            index = order[step * batch_size:(step + 1) * batch_size]
            batch = augment_batch(data.x_train[index], generator, crop="crop" in augment, flip="flip" in augment)
            inputs = _normalise(batch, data, cuda)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                loss = F.cross_entropy(model(inputs), data.y_train[index], label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            schedule.step()
            loss_sum += loss.detach().float()
            steps += 1
            if budget.max_seconds is not None and time.perf_counter() - start >= budget.max_seconds:
                out_of_time = True
                break
        if cuda:
            torch.cuda.synchronize(device)  # honest timing: wait for the queued kernels
        epoch_seconds = time.perf_counter() - epoch_start
        trained_images += steps * batch_size
        train_seconds += epoch_seconds
        mean_loss = loss_sum.item() / max(steps, 1)
        if not math.isfinite(mean_loss):
            raise TrainingError(f"the loss became {mean_loss} in epoch {epoch}; the learning rate "
                                f"({recipe.lr:g}) is too high for this model and data")
        if retrace is None:
            recalibrate_batch_norm(model, data, batch_size * 2, amp_dtype)
            accuracy = evaluate(model, data, batch_size * 2, amp_dtype)
            if accuracy > best_accuracy:
                best_accuracy, best_epoch, best_state = accuracy, epoch, _cpu_state(model)
        on_epoch(EpochReport(epoch, last_epoch, mean_loss, accuracy, steps * batch_size / epoch_seconds,
                             time.perf_counter() - start))
    if retrace is not None:
        recalibrate_batch_norm(model, data, batch_size * 2, amp_dtype)
        best_accuracy, best_epoch, best_state = math.nan, epoch, _cpu_state(model)
    return TrainOutcome(best_accuracy, best_epoch, accuracy, epoch, batch_size, epochs, best_state,
                        trained_images / train_seconds if train_seconds else 0.0, train_seconds, out_of_time)


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def frozen_modules(model: nn.Module) -> list[nn.Module]:
    """The modules of a partly frozen model (a probe) that hold no trainable parameter: its frozen body, which
    trains in eval mode so it computes the features it is evaluated with (batch norms on their ImageNet
    statistics, no dropout or stochastic depth). None in a model that trains every parameter."""
    if all(p.requires_grad for p in model.parameters()):
        return []
    return [m for m in model.modules() if not any(p.requires_grad for p in m.parameters())]


def train_mode(model: nn.Module, frozen: list[nn.Module]) -> None:
    model.train()
    for module in frozen:
        module.eval()


def evaluate(model: nn.Module, data: TensorData, batch_size: int, amp_dtype: torch.dtype | None) -> float:
    """Accuracy on data.x_val, counted on the device (one number comes back)."""
    correct = torch.zeros((), dtype=torch.int64, device=data.x_val.device)
    for logits, labels in _validation_logits(model, data, batch_size, amp_dtype):
        correct += (logits.argmax(1) == labels).sum()
    return correct.item() / len(data.x_val)


def class_probabilities(model: nn.Module, data: TensorData, batch_size: int) -> torch.Tensor:
    """The model's softmax on data.x_val, (images, classes) float32 on the CPU: what ensembles combine."""
    return torch.cat([torch.softmax(logits.float(), dim=1).cpu()
                      for logits, _ in _validation_logits(model, data, batch_size, None)])


def _validation_logits(model: nn.Module, data: TensorData, batch_size: int, amp_dtype: torch.dtype | None
                       ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    model.eval()
    cuda = data.x_val.device.type == "cuda"
    with torch.inference_mode(), torch.autocast(data.x_val.device.type, dtype=amp_dtype,
                                                enabled=amp_dtype is not None):
        for start in range(0, len(data.x_val), batch_size):
            inputs = _normalise(data.x_val[start:start + batch_size], data, cuda)
            yield model(inputs), data.y_val[start:start + batch_size]


def recalibrate_batch_norm(model: nn.Module, data: TensorData, batch_size: int, amp_dtype: torch.dtype | None) -> None:
    """Precise batch norm: recompute every batch norm's statistics as the exact average over training images
    under the current weights. The running averages lag the weights by many steps, and a small-data run has only
    tens or hundreds of steps: evaluated with them, a net that trains well can predict one class for everything."""
    frozen = frozen_modules(model)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
             and m not in frozen]  # a probe's frozen norms keep their ImageNet statistics
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the batches below
    train_mode(model, frozen)
    cuda = data.x_train.device.type == "cuda"
    rows = recalibration_rows(len(data.x_train)).to(data.x_train.device)
    with torch.no_grad(), torch.autocast(data.x_train.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        for start in range(0, len(rows) - 1, batch_size):  # a batch of one has no variance
            model(_normalise(data.x_train[rows[start:start + batch_size]], data, cuda))
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum


def recalibration_rows(n_train: int) -> torch.Tensor:
    """Which training images batch-norm statistics are computed over, in which batches: at most
    RECALIBRATION_IMAGES of them in a fixed random order, so each batch mixes the classes as training batches do.
    Never in the split's order: it lists the images by path, so by class folder, and batches of one class have
    a fraction of the variance the network trained with (the first 1,024 of a larger set are its first classes
    only, too). Statistics from either misnormalise every image at evaluation."""
    return torch.randperm(n_train, generator=torch.Generator().manual_seed(0))[:RECALIBRATION_IMAGES]


def _normalise(batch: torch.Tensor, data: TensorData, cuda: bool) -> torch.Tensor:
    inputs = (batch.float() / 255.0 - data.mean) / data.std
    return inputs.contiguous(memory_format=torch.channels_last) if cuda else inputs


def build_optimizer(model: nn.Module, recipe: Recipe, batch_size: int, pretrained: bool) -> torch.optim.Optimizer:
    """The recipe's optimiser over the trainable parameters (all, or a probe's head)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    probe = len(trainable) < len(list(model.parameters()))
    # fine-tuning takes smaller steps so as not to wreck the pretrained body; a probe's head starts from scratch.
    # Linear scaling: a smaller batch (small data, or halved after an out-of-memory error) keeps the lr per image.
    lr = recipe.lr * batch_size / recipe.batch_size * (recipe.finetune_lr_scale if pretrained and not probe else 1.0)
    decay = [p for p in trainable if p.ndim > 1]
    no_decay = [p for p in trainable if p.ndim <= 1]  # biases and norm scales: decaying them only hurts
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=recipe.momentum, nesterov=True)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r} in the recipe; use 'sgd' or 'adamw'")


def _schedule(optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int, epochs: int
              ) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine decay to zero at the end of the epoch budget."""
    total = max(1, steps_per_epoch * epochs)
    warmup = min(total - 1, int(recipe.warmup_epochs * steps_per_epoch))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
