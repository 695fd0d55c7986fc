"""LoRA deltas folded into the base weights while the policy generates (`sampling.merge_lora`).

A merged forward skips the adapters' extra matrix products (30-40 % of a small model's generation time on a CPU).
Merging and restoring cost a copy of every adapted weight, so the merge is kept from one `generate` call to the
next and undone only when it has to be:

- before any other forward pass of the model (a training or reference pass must see base + adapters, with
  gradients through the adapters): a forward pre-hook on the base model restores the weights;
- when the adapters changed since the merge (an optimizer step, a resume): every in-place update bumps a
  tensor's version counter, and the next `generate` compares them, restores and merges again.

The base weights are always restored from a copy taken before the merge, so no rounding of merge and unmerge ever
reaches them, and merging the same adapters again gives the same merged weights bit for bit: what a generation
runs with is fixed by `merged` and the adapters (the prompt cache keys on both; peft merges through `.data`, which
the base weights' own version counters do not see).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


class LoraMerge:
    """The merge state of one peft model's LoRA layers."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self._saved: list[tuple[torch.nn.Module, torch.Tensor]] = []
        self._adapters: list[torch.Tensor] = []
        """The merged layers' adapter weights, whose version counters `_versions` holds."""
        self._versions: tuple[int, ...] = ()
        self._generating = False
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        base.register_forward_pre_hook(self._before_forward)

    @property
    def merged(self) -> bool:
        return bool(self._saved)

    @contextlib.contextmanager
    def generating(self, merge: bool) -> Iterator[None]:
        """The block runs the model for generation: merged when `merge` (and the adapters are on), else as is."""
        self._generating = True
        try:
            if merge:
                self._ensure()
            else:
                self.restore()
            yield
        finally:
            self._generating = False

    def restore(self) -> None:
        """The base weights back to what they were before the merge, bit for bit (nothing when not merged)."""
        if not self._saved:
            return
        with torch.no_grad():
            for layer, weight in self._saved:
                if layer.merged:
                    layer.unmerge()
                layer.get_base_layer().weight.copy_(weight)
        self._saved = []
        self._versions = ()

    def _ensure(self) -> None:
        if self._saved and tuple(p._version for p in self._adapters) == self._versions:
            return  # merged, and the adapters did not change since
        self.restore()
        from peft.tuners.lora import LoraLayer

        layers = [m for m in self.model.modules() if isinstance(m, LoraLayer) and not m.merged and m.active_adapters]
        if not layers or any(getattr(layer, "disable_adapters", False) for layer in layers):
            return
        self._adapters = [p for layer in layers for name, p in layer.named_parameters() if "lora_" in name]
        self._versions = tuple(p._version for p in self._adapters)
        self._saved = [(layer, layer.get_base_layer().weight.detach().clone()) for layer in layers]
        with torch.no_grad():
            for layer in layers:
                layer.merge()

    def _before_forward(self, _module: torch.nn.Module, _args: object) -> None:
        if self._saved and not self._generating:
            self.restore()
