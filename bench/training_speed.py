"""Training images per second: the worker's loop against a plain PyTorch loop, same model, data and batch size.

The reference is what a tutorial writes: torchvision.datasets.ImageFolder + DataLoader + standard transforms
(decode, resize, random crop, to tensor, normalise every image every epoch). The worker's loop decodes once into
a uint8 tensor (on the GPU when there is one) and augments whole batches there; on a GPU it also uses
channels_last and mixed precision. Both train on scikit-learn's digits in this run, epochs interleaved (worker,
reference, worker, ...) after one untimed warm-up epoch each, so a busy machine slows both alike. The worker's
one-time decode is reported and counted in a second ratio. The reference uses 0 DataLoader workers on the CPU
(on a small CPU box, workers compete with the training threads: 2 workers measured slower on the 2-core test
machine) and min(8, cores) with a GPU.

    python bench/training_speed.py [--model mobilenet_v3_small] [--image-size 32] [--rounds 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from easeml_gui.training.catalogue import CATALOGUE
from easeml_gui.training.datasets import DatasetInfo, register_dataset
from easeml_gui.training.digits import export_digits
from easeml_gui.training.models import build_model
from easeml_gui.training.trainer import Budget, build_optimizer, train
from easeml_gui.training.network_task import tensor_data


class WorkerLoop:
    def __init__(self, info: DatasetInfo, model_name: str, size: int, batch: int, device: torch.device) -> None:
        start = time.perf_counter()
        self.data = tensor_data(info, size, device, use_imagenet_stats=False)  # decode + cache, once
        self.setup_seconds = time.perf_counter() - start
        self.spec, self.batch, self.device = CATALOGUE[model_name], batch, device
        torch.manual_seed(0)
        self.model = build_model(self.spec, info.schema(size))

    def epoch(self) -> tuple[int, float]:
        """(images trained, seconds): the trainer's own clock, which leaves out its per-epoch evaluation."""
        outcome = train(self.model, self.data, self.spec.recipe, Budget(1), batch_size=self.batch,
                        device=self.device, seed=0, pretrained=False, augment=("crop",))
        return round(outcome.images_per_second * outcome.train_seconds), outcome.train_seconds


class ReferenceLoop:
    def __init__(self, info: DatasetInfo, source: Path, model_name: str, size: int, batch: int,
                 device: torch.device) -> None:
        start = time.perf_counter()
        grey = info.stats.channels == 1
        tf = transforms.Compose([
            transforms.Resize(size), transforms.CenterCrop(size),
            transforms.RandomCrop(size, padding=max(1, size // 8)), transforms.ToTensor(),
            transforms.Normalize([0.5] * info.stats.channels, [0.25] * info.stats.channels)])
        # read from the exported folder: ImageFolder would take the registered copy's .cache/ for a class
        folder = datasets.ImageFolder(str(source), transform=tf,
                                      loader=lambda path: Image.open(path).convert("L" if grey else "RGB"))
        train_paths = set(info.train)
        rows = [i for i, (path, _) in enumerate(folder.samples)
                if Path(path).relative_to(source).as_posix() in train_paths]
        self.workers = min(8, os.cpu_count() or 1) if device.type == "cuda" else 0
        self.loader = DataLoader(Subset(folder, rows), batch_size=batch, shuffle=True, drop_last=True,
                                 num_workers=self.workers, pin_memory=device.type == "cuda",
                                 persistent_workers=self.workers > 0)
        torch.manual_seed(0)
        spec = CATALOGUE[model_name]
        self.model = build_model(spec, info.schema(size))
        self.model.to(device).train()
        self.optimizer = build_optimizer(self.model, spec.recipe, batch, pretrained=False)  # the same update cost
        self.device = device
        self.setup_seconds = time.perf_counter() - start

    def epoch(self) -> tuple[int, float]:
        start, images = time.perf_counter(), 0
        for inputs, labels in self.loader:
            inputs, labels = inputs.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)
            loss = F.cross_entropy(self.model(inputs), labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            images += len(labels)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return images, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mobilenet_v3_small", choices=sorted(CATALOGUE),
                        help="default: the cheap kind of model a CPU lab trains (the demo's)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs per loop, interleaved, after one warm-up")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)  # as the worker runs on the CPU
    else:
        torch.backends.cudnn.benchmark = True  # as the worker runs on a GPU; the reference gets it too
    torch.set_flush_denormal(True)
    with tempfile.TemporaryDirectory() as scratch:
        export_digits(Path(scratch) / "src")
        info = register_dataset(Path(scratch) / "src", Path(scratch) / "digits")
        ours = WorkerLoop(info, args.model, args.image_size, args.batch_size, device)
        ref = ReferenceLoop(info, Path(scratch) / "src", args.model, args.image_size, args.batch_size, device)
        for loop in (ours, ref):
            loop.epoch()  # untimed warm-up: the first epoch pays one-time kernel and allocator set-up
        totals = {"worker": [0, 0.0], "reference": [0, 0.0]}
        for _ in range(args.rounds):
            for name, loop in (("worker", ours), ("reference", ref)):
                images, seconds = loop.epoch()
                totals[name][0] += images
                totals[name][1] += seconds
    rate = {name: images / seconds for name, (images, seconds) in totals.items()}
    with_setup = {"worker": totals["worker"][0] / (totals["worker"][1] + ours.setup_seconds),
                  "reference": totals["reference"][0] / (totals["reference"][1] + ref.setup_seconds)}
    figures = {"device": str(device), "model": args.model, "image_size": args.image_size,
               "batch_size": args.batch_size, "rounds": args.rounds, "train_images": len(info.train),
               "worker_images_per_second": rate["worker"], "reference_images_per_second": rate["reference"],
               "worker_setup_seconds": ours.setup_seconds, "reference_dataloader_workers": ref.workers,
               "ratio": rate["worker"] / rate["reference"],
               "ratio_with_setup": with_setup["worker"] / with_setup["reference"]}
    print(f"{args.model} at {args.image_size} px, batch {args.batch_size}, {args.rounds} interleaved epochs each of "
          f"{len(info.train)} digits on {device}{' (worker: AMP, GPU-resident data)' if device.type == 'cuda' else ''}")
    print(f"  worker loop     {rate['worker']:8.1f} images/s   (one-time decode {ours.setup_seconds:.2f} s)")
    print(f"  reference loop  {rate['reference']:8.1f} images/s   (DataLoader workers={ref.workers})")
    print(f"  ratio           {figures['ratio']:8.2f}x          ({figures['ratio_with_setup']:.2f}x counting setup)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
