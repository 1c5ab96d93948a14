"""Augmentation on a whole uint8 batch, on whatever device the batch lives on (no per-image Python work)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def augment_batch(batch: torch.Tensor, generator: torch.Generator, crop: bool, flip: bool) -> torch.Tensor:
    """Random crop after zero-padding by 1/8 of the side (at least 1 px), and random horizontal flip.

    Random numbers come from `generator` (CPU) so a seed gives the same batches on every device.
    """
    n, channels, height, width = batch.shape
    if crop:
        pad = max(1, min(height, width) // 8)
        padded = F.pad(batch, (pad, pad, pad, pad))
        offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator).to(batch.device)
        rows = (offsets[0][:, None] + torch.arange(height, device=batch.device))[:, None, :, None]
        cols = (offsets[1][:, None] + torch.arange(width, device=batch.device))[:, None, None, :]
        samples = torch.arange(n, device=batch.device)[:, None, None, None]
        planes = torch.arange(channels, device=batch.device)[None, :, None, None]
        batch = padded[samples, planes, rows, cols]
    if flip:
        mirror = (torch.rand(n, generator=generator) < 0.5).to(batch.device)[:, None, None, None]
        batch = torch.where(mirror, batch.flip(3), batch)
    return batch
