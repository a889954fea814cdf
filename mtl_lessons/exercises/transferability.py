"""Exercises of transferability by depth: move the first n layers through a file, count what a
frozen depth leaves to train, and predict where frozen transfer drops most."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from mtl_lessons.exercises import register, register_prediction
from mtl_lessons.models import MultiTaskNet, count_parameters, freeze_layers


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


# ---------------------------------------------------------------- what is frozen, what is trained

def solution_frozen_and_trained(n, in_features, hidden, n_layers, out_features):
    """(frozen, trained) parameter counts of a plain MLP with its first n hidden layers frozen.

    Hidden layer 0 has (in_features + 1) * hidden parameters (weights and biases), each later one
    (hidden + 1) * hidden, and the head (hidden + 1) * out_features, which always trains."""
    layers = [(in_features + 1) * hidden] + [(hidden + 1) * hidden] * (n_layers - 1)
    head = (hidden + 1) * out_features
    return sum(layers[:n]), sum(layers[n:]) + head


@register("frozen-and-trained", "Count the frozen and the trained parameters of AnB", solution_frozen_and_trained)
def check_frozen_and_trained(answer) -> str | None:
    cases = [(2, 64, 32, 4, 5), (0, 64, 32, 4, 5), (4, 64, 32, 4, 5), (1, 10, 7, 3, 2), (3, 10, 7, 3, 2)]
    for n, in_features, hidden, n_layers, out_features in cases:
        model = freeze_layers(MultiTaskNet(in_features, hidden, n_layers, 1, out_features, sharing_depth=n_layers), n)
        trained = count_parameters(model, trainable_only=True)  # the reference: count a real network
        want = (count_parameters(model) - trained, trained)
        got = answer(n, in_features, hidden, n_layers, out_features)
        if isinstance(got, torch.Tensor) and got.dim() == 1:
            got = tuple(got.tolist())
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            return f"Return a pair (frozen, trained); got {got!r}."
        got = tuple(int(v) for v in got)
        if got == want:
            continue
        args = f"n={n}, in_features={in_features}, hidden={hidden}, n_layers={n_layers}, out_features={out_features}"
        if got == want[::-1]:
            return f"For {args} the two numbers are swapped: return (frozen, trained)."
        if sum(got) != sum(want):
            weights_only = (sum([in_features * hidden] + [hidden * hidden] * (n_layers - 1)) + hidden * out_features)
            if sum(got) == weights_only:
                return f"For {args} the total misses the biases: a linear layer k -> m has (k + 1) * m parameters."
            return (f"For {args} the network has {sum(want)} parameters in all, your pair adds up to {sum(got)}. "
                    "Count every hidden layer and the head, weights and biases.")
        if got[0] == want[0] + (hidden + 1) * out_features:
            return "The head is never frozen: it is new for task B and always trains."
        return f"For {args} expected (frozen, trained) = {want}, got {got}: the first n hidden layers are frozen."
    return None


# ---------------------------------------------------------------- predict: where does frozen transfer drop most?

@register_prediction("anb-steepest-drop", "At which frozen depth n does AnB drop most?",
                     examples=[(4, [0.98, 0.95, 0.90, 0.80, 0.55], True), (1, [0.98, 0.95, 0.90, 0.80, 0.55], False),
                               ("3", [0.98, 0.97, 0.93, 0.70, 0.60], True), (2, [0.98, 0.80, 0.70, 0.65, 0.60], False)])
def judge_anb_steepest_drop(answer, measured) -> tuple[bool, str]:
    """answer: a depth n in 1..L, the step n - 1 -> n where AnB's mean accuracy falls most;
    measured: AnB's mean accuracy at n = 0..L (n = 0 is the baseline)."""
    acc = np.asarray(measured, dtype=float).reshape(-1)
    if acc.size < 2:
        raise ValueError(f"measured must hold AnB's accuracy at n = 0..L (at least two values), got {measured!r}")
    if isinstance(answer, bool) or not isinstance(answer, (int, np.integer, str)) or not str(answer).isdigit():
        raise ValueError(f"my_prediction={answer!r}: give one depth n as an int, e.g. 3 (the step from n - 1 to n)")
    answer, top = int(answer), acc.size - 1
    if not 1 <= answer <= top:
        raise ValueError(f"my_prediction={answer}: give the n at the *end* of the steepest step, from 1 to {top}")
    drops = acc[:-1] - acc[1:]  # drops[n - 1]: the fall from n - 1 to n
    steepest = int(drops.argmax()) + 1
    listed = ", ".join(f"to n = {n}: {100 * d:+.1f}" for n, d in enumerate(-drops, start=1))
    why = (f"AnB's mean accuracy changed, step by step (in points), {listed}; the largest drop is the step to "
           f"n = {steepest} ({100 * drops.max():.1f} points). ")
    why += ("A step is a marginal cost: what freezing one more layer costs B, given that the layers below it "
            "are frozen too; it is not that layer's own specificity, which this sweep does not isolate. ")
    if (np.diff(drops) > 0).all():
        why += f"Here every step cost more than the one before, so the marginal cost grew with depth and peaked at n = {steepest}."
    elif steepest == top:
        why += ("Here the marginal cost peaked at the last step, n = L, where only the head is left to learn B, "
                "though the steps did not grow one by one.")
    else:
        why += f"Here the marginal cost peaked at n = {steepest}, below the top, and the steps after it cost less."
    return answer == steepest, why
