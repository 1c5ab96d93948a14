"""Build a catalogue model as a torch module for a schema.

The ImageNet head is replaced by one for n classes, the RGB stem by a one-channel stem for grey data, and images
under SMALL_INPUT_BELOW px get a small-input stem (catalogue.py says why). ImageNet weights come from the caller
as a state dict (training/weights.py finds them; this module never reads or downloads files). A linear probe
freezes everything but the new head. `python -m easeml_gui.training.models --write-meta` regenerates
torchvision_meta.py.
"""

from __future__ import annotations

import argparse
import platform
import pprint
from pathlib import Path
from typing import Mapping

import torch
import torchvision
from torch import nn
from torchvision.models import SqueezeNet, get_model, get_model_weights

from .catalogue import CATALOGUE, SMALL_STEM_GAIN, ModelSpec, Schema, small_input

IMAGENET_CLASSES = 1000


def library_versions() -> dict[str, str]:
    """What a result or a model card records about the software that trained it."""
    return {"torch": torch.__version__, "torchvision": torchvision.__version__, "python": platform.python_version()}


def weights_path(spec: ModelSpec) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / spec.weights_file


def build_model(spec: ModelSpec, schema: Schema, *, pretrained_state: Mapping[str, torch.Tensor] | None = None,
                probe: bool = False, small_stem: bool | None = None) -> nn.Module:
    """The architecture for `schema`: from ImageNet weights when `pretrained_state` (the 1000-class state dict) is
    given, else from scratch. probe=True freezes every parameter but the new head's. small_stem=None: the
    small-input stem below SMALL_INPUT_BELOW px; True/False forces it (a checkpoint records which it used)."""
    if probe and pretrained_state is None:
        raise ValueError(f"a linear probe of {spec.name} needs its ImageNet weights: pass pretrained_state")
    if pretrained_state is None:
        model = get_model(spec.name, weights=None, num_classes=schema.num_classes)
    else:
        model = get_model(spec.name, weights=None)
        load_state(model, pretrained_state, spec.name)
        head = replace_head(model, schema.num_classes)
        if probe:
            freeze_all_but(model, head)
    if isinstance(model, SqueezeNet):
        # its head ends in a ReLU, which clamps the logits at zero: a new head whose outputs start negative gets
        # no gradient and the net stays at chance (measured on digits); logits need no activation
        model.classifier[2] = nn.Identity()
    # the stem changes below keep every tensor's shape (bar the grey stem's channels), so weights still fit
    if small_input(schema.image_size) if small_stem is None else small_stem:
        use_small_input_stem(model)
    if schema.channels == 1:
        adapt_input(model)  # keeps the frozen stem frozen
    return model


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], arch: str) -> None:
    """Every tensor of the ImageNet model, or a clear error: a partial load would train from a silent mix."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"the pretrained state does not fit {arch}: missing {sorted(missing)[:5]}, unexpected "
                         f"{sorted(unexpected)[:5]} (of {len(missing)} and {len(unexpected)}); it must be "
                         f"torchvision's ImageNet state dict for {arch} with current key names")


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the last layer that outputs the 1000 ImageNet classes (a Linear, or squeezenet's 1x1 Conv2d)."""
    name, layer = [(n, m) for n, m in model.named_modules()
                   if (isinstance(m, nn.Linear) and m.out_features == IMAGENET_CLASSES)
                   or (isinstance(m, nn.Conv2d) and m.out_channels == IMAGENET_CLASSES)][-1]
    if isinstance(layer, nn.Linear):
        new: nn.Module = nn.Linear(layer.in_features, num_classes)
    else:
        new = nn.Conv2d(layer.in_channels, num_classes, kernel_size=1)
    _set_module(model, name, new)
    return new


def freeze_all_but(model: nn.Module, head: nn.Module) -> None:
    """A linear probe: only the new head trains. The trainer also runs the frozen body in eval mode, so its batch
    norms keep their ImageNet statistics."""
    model.requires_grad_(False)
    head.requires_grad_(True)


def use_small_input_stem(model: nn.Module) -> None:
    """Take up to SMALL_STEM_GAIN (4x) out of the early downsampling, as CIFAR nets do: the stem convolution at
    stride 1, padded by half its kernel, and where that gained only 2x, the max-pool before the first stage
    removed. Kernels keep their shapes, so pretrained stems still load. The gain is 4x for resnet, densenet,
    shufflenet and squeezenet (stride 2 and a max-pool), and for alexnet and convnext (stride 4; alexnet keeps its
    max-pools, which leave a 7 x 7 map at 63 px, what its 6 x 6 classifier input was made for). It is 2x where
    there is no early max-pool (mobilenets, efficientnet, regnet: their next 2x is inside the first stage's
    blocks, which stay as they are) and for vgg, whose stem already has stride 1: its first max-pool goes."""
    modules = list(model.named_modules())
    convs = [i for i, (_, m) in enumerate(modules) if isinstance(m, nn.Conv2d)]
    stem = modules[convs[0]][1]
    gain = stem.stride[0]
    stem.stride = (1, 1)
    stem.padding = tuple(k // 2 for k in stem.kernel_size)  # as CIFAR stems: the first stage sees the whole input
    early_pools = [(name, m) for name, m in modules[convs[0]:convs[1]] if isinstance(m, nn.MaxPool2d)]
    if early_pools and gain * 2 <= SMALL_STEM_GAIN:
        _set_module(model, early_pools[0][0], nn.Identity())


def adapt_input(model: nn.Module) -> None:
    """Make the first (stem) convolution take one channel: its RGB kernels summed give the same response to a grey
    image replicated on three channels, so pretrained stems keep what they learned."""
    name, conv = next((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    grey = nn.Conv2d(1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                     bias=conv.bias is not None)
    with torch.no_grad():
        grey.weight.copy_(conv.weight.sum(dim=1, keepdim=True))
        if conv.bias is not None:
            grey.bias.copy_(conv.bias)
    grey.requires_grad_(conv.weight.requires_grad)
    _set_module(model, name, grey)


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def torchvision_meta(names: list[str]) -> dict[str, dict[str, object]]:
    """What the installed torchvision publishes about each model's default ImageNet weights."""
    meta = {}
    for name in names:
        weights = get_model_weights(name).DEFAULT
        meta[name] = {"min_size": max(weights.meta["min_size"]), "gflops_224": weights.meta["_ops"],
                      "params": weights.meta["num_params"], "weights_file": weights.url.rsplit("/", 1)[-1]}
    return meta


def write_meta(path: Path) -> None:
    meta = torchvision_meta(sorted(CATALOGUE))
    path.write_text(
        f'"""Generated by `python -m easeml_gui.training.models --write-meta` from torchvision '
        f'{torchvision.__version__}; do not edit."""\n\n'
        f"TORCHVISION_META: dict[str, dict] = {pprint.pformat(meta, sort_dicts=True)}\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write-meta", action="store_true", help="regenerate torchvision_meta.py")
    if parser.parse_args().write_meta:
        write_meta(Path(__file__).with_name("torchvision_meta.py"))
