"""Exercises of transferability by depth: move the first n layers through a file, and measure
how much of the frozen-transfer loss fine-tuning recovers."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from mtl_lessons.exercises import register
from mtl_lessons.models import MultiTaskNet


# ---------------------------------------------------------------- copy the first n layers through a file

def solution_transplant(source, target, n, path):
    """Save source's state dict to `path`, read it back with weights_only=True, load its first n
    hidden layers into target (heads and upper layers untouched), freeze them, return target."""
    torch.save(source.state_dict(), path)
    state = torch.load(path, weights_only=True)               # tensors only: no code runs
    first_n = {k: v for k, v in state.items() if k.startswith("layers.") and int(k.split(".")[1]) < n}
    target.load_state_dict(first_n, strict=False)
    for depth, layer in enumerate(target.layers):
        for p in layer.parameters():
            p.requires_grad_(depth >= n)
    return target


@register("transplant-layers", "Copy the first n layers through a file, and freeze them", solution_transplant)
def check_transplant(answer) -> str | None:
    torch.manual_seed(0)
    source = MultiTaskNet(6, 5, 4, 1, 3, sharing_depth=4)
    fresh = MultiTaskNet(6, 5, 4, 1, 3, sharing_depth=4)
    source_before = copy.deepcopy(source.state_dict())
    real_load = torch.load
    for n in (0, 2, 4):
        target = copy.deepcopy(fresh)
        calls = []

        def recording_load(*args, **kwargs):
            calls.append(kwargs.get("weights_only"))
            return real_load(*args, **kwargs)

        with tempfile.TemporaryDirectory() as tmp, mock.patch("torch.load", recording_load):
            path = Path(tmp) / "source.pt"
            got = answer(source, target, n, path)
            if not path.exists():
                return "Save the source's state dict to `path` with torch.save, then read it back from there."
        if not calls:
            return "Read the weights back from the file with torch.load(path, weights_only=True)."
        if any(flag is not True for flag in calls):
            return ("Pass weights_only=True to torch.load: it reads tensors only and refuses to run code "
                    "that a file could carry.")
        if got is not target:
            return "Load into the `target` network you were given and return it."
        for depth in range(4):
            copied = torch.equal(target.layers[depth].weight, source.layers[depth].weight)
            if depth < n and not copied:
                return f"With n={n}, hidden layer {depth} should hold the source's weights."
            if depth >= n and copied:
                return (f"With n={n}, hidden layer {depth} was copied too: copy only layers 0..{n - 1} "
                        "(their keys start with 'layers.0.', 'layers.1.', ...).")
        if torch.equal(target.heads.weight, source.heads.weight):
            return "The head was copied: it is task-specific, so the target keeps its own."
        flags = [all(p.requires_grad for p in layer.parameters()) for layer in target.layers]
        if flags != [depth >= n for depth in range(4)]:
            return (f"With n={n}, freeze the copied layers (requires_grad=False) and leave the others "
                    f"trainable; got trainable = {flags}.")
        if not all(p.requires_grad for p in target.heads.parameters()):
            return "The head must stay trainable."
    if any(not torch.equal(v, source_before[k]) for k, v in source.state_dict().items()):
        return "The source network changed; only read from it."
    return None


# ---------------------------------------------------------------- how much does fine-tuning recover?

def solution_recovered_fraction(base, frozen, fine_tuned):
    """Per depth: (mean AnB+ - mean AnB) / (mean base - mean AnB); arrays are (n_depths, n_seeds)."""
    base, frozen, fine_tuned = (np.asarray(a).mean(axis=1) for a in (base, frozen, fine_tuned))
    return (fine_tuned - frozen) / (base - frozen)


@register("recovered-fraction", "How much of the frozen-transfer loss fine-tuning recovers",
          solution_recovered_fraction)
def check_recovered_fraction(answer) -> str | None:
    rng = np.random.default_rng(0)
    base = 0.95 + 0.01 * rng.standard_normal((4, 5))
    frozen = np.array([0.93, 0.85, 0.7, 0.5])[:, None] + 0.02 * rng.standard_normal((4, 5))
    fine_tuned = np.array([0.95, 0.93, 0.92, 0.9])[:, None] + 0.01 * rng.standard_normal((4, 5))
    got = np.asarray(answer(base, frozen, fine_tuned), dtype=float)
    want = solution_recovered_fraction(base, frozen, fine_tuned)
    if got.shape != want.shape:
        return (f"Return one fraction per depth, shape {want.shape}; got shape {got.shape}. Average over seeds "
                "(axis 1), not over depths.")
    if np.allclose(got, want, atol=1e-6):
        return None
    per_seed = np.mean((fine_tuned - frozen) / (base - frozen), axis=1)
    if np.allclose(got, per_seed, atol=1e-6):
        return ("You averaged per-seed ratios; a seed where frozen transfer loses almost nothing then blows "
                "up. Average the accuracies over seeds first, then take the ratio.")
    if np.allclose(got, 1 - want, atol=1e-6):
        return "That is the share still lost; the recovered share is (AnB+ − AnB) / (base − AnB)."
    if np.allclose(got, (fine_tuned.mean(1) - frozen.mean(1)), atol=1e-6):
        return "Divide the gain of fine-tuning by the loss of frozen transfer, base − AnB."
    return "Compute, per depth, (mean AnB+ − mean AnB) / (mean base − mean AnB), means over seeds."
