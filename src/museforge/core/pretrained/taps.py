"""A network whose intermediate feature maps can be asked for by name."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from torch import Tensor, nn


class TappedNet(nn.Module):
    """Maps an image ``[N, 3, H, W]`` in 0..1 (RGB) to the feature maps of named layers."""

    def layer_names(self) -> tuple[str, ...]:
        raise NotImplementedError

    def named_features(self, image: Tensor) -> Iterator[tuple[str, Tensor]]:
        raise NotImplementedError

    def forward(self, image: Tensor, layers: Sequence[str]) -> list[Tensor]:
        """The feature maps of ``layers``, in that order; stops at the deepest one needed."""
        unknown = set(layers) - set(self.layer_names())
        if unknown:
            raise ValueError(f"unknown layers {sorted(unknown)}")
        wanted, found = set(layers), {}
        for name, x in self.named_features(image):
            if name in wanted:
                found[name] = x
                if len(found) == len(wanted):
                    break
        return [found[name] for name in layers]

    def freeze(self) -> TappedNet:
        """No gradients to the weights, eval mode (batch norm uses its running statistics)."""
        for p in self.parameters():
            p.requires_grad_(False)
        return self.eval()
