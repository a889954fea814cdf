"""Transfer on the digits, the machinery chapters 6, 8 and 9 share: the setting (TransferSetting: the
transfer digits and the network; TransferConfig adds chapter 6's slower trunk), pretraining on the source
(`pretrain`), target accuracy on the test and validation splits (`split_accuracies`), and the joint objective
L_src + lam * L_tgt trained for many (data, lam, seed) at once (`joint_accuracies`).

The joint model is a 2-task MultiTaskNet (task 0 = source, task 1 = target) with the whole trunk shared,
trained with SGD on the weights (1, lam) / (1 + lam) (`joint_weights`): dividing by 1 + lam only rescales
the step. Its two variants (JOINT): "joint", one rate for everything, so the target head's step carries the
factor lam / (1 + lam) (a fixed budget of steps); "joint_heads", each head's rate divided by its task's
weight, so each head takes the step of its own loss at every lam (the trunk keeps the weighted mix).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from mtl_lessons._checks import check_float, check_floats, check_ints, check_keywords, check_sequence
from mtl_lessons.data import TransferDigits, load_transfer_digits
from mtl_lessons.metrics import per_task_accuracy
from mtl_lessons.models import MultiTaskNet
from mtl_lessons.schedules import Rates
from mtl_lessons.stack import ModelStack, use_one_thread
from mtl_lessons.train import PROGRESS_DELAY_S, fit_many, pad_tasks

RATES = (0.1, 0.3, 1.0, 3.0)  # the rate grid a tuned arm chooses from, on validation (10 diverges for all)
JOINT = {  # the joint objective's variants: result name (without acc_/val_) -> legend label
    "joint_heads": "joint, heads at their own rate",
    "joint": "joint, one rate (fixed budget)",
}
# joint_accuracies trains its models in groups (one fit_many each) whose hidden activations hold at
# most this many floats (models x 2 tasks x padded examples x hidden; 409,600 floats = 1.6 MB, e.g.
# 32 models x 2 x 200 x 32): near a core's cache size, where the memory-bound steps (tanh, its
# backward, the bias copies) run faster. Measured: 19-26 % less CPU time than one fit_many for all
# 150 (chapter 6) or 225 (chapter 9) models, and the same numbers bit for bit (the models share nothing).
JOINT_GROUP_FLOATS = 409_600


@dataclass
class TransferSetting:
    """The transfer digits and the network every transfer chapter trains, one field per knob; a chapter's
    config adds its own knobs, and its sweep takes any field as a keyword (transfer_lambda_sweep(steps=50))."""

    n_source: int = 200  # labelled source examples (clean digits)
    noise: float = 0.0  # pixel noise on the target images
    permuted: float = 0.25  # share of the target's pixels re-wired (the domain shift)
    n_val: int = 30  # labelled target examples kept for validation
    hidden: int = 32  # units per hidden layer
    n_layers: int = 2  # hidden layers, all in the shared (transferred) trunk
    steps: int = 100  # full-batch SGD steps of every phase (pretraining, then adaptation)
    lr: float = 1.0  # the SGD rate of pretraining, and of every arm trained at the course's one rate

    def __post_init__(self):
        for name, value in check_keywords(n_source=self.n_source, noise=self.noise, hidden=self.hidden,
                                          n_layers=self.n_layers, steps=self.steps, lr=self.lr).items():
            setattr(self, name, value)

    def net(self, n_tasks: int = 1):
        """A factory of the course's network: 64 pixels in, 10 classes out per task, the whole trunk shared."""
        return lambda: MultiTaskNet(64, self.hidden, self.n_layers, n_tasks, 10, sharing_depth=self.n_layers)

    def load(self, n_target: int, seed: int) -> TransferDigits:
        """The transfer digits of this setting with n_target target labels (load_transfer_digits)."""
        return load_transfer_digits(n_target, n_source=self.n_source, noise=self.noise, permuted=self.permuted,
                                    n_val=self.n_val, seed=seed)


@dataclass
class TransferConfig(TransferSetting):
    """Chapter 6's setting (chapter 8 builds on it): the transfer setting and a slower trunk."""

    trunk_lr_scale: float = 0.1  # the "slower trunk" variants train the pretrained hidden layers at lr times this

    def __post_init__(self):
        super().__post_init__()
        check_float("trunk_lr_scale", self.trunk_lr_scale, low=0.0, low_open=True)


def pretrain(config: TransferSetting, data: list[TransferDigits], seeds, progress: bool) -> ModelStack:
    """Phase 1: one network per seed (seeds[i]) trained on data[i]'s source at config.lr (the source does not
    depend on n_target)."""
    pre = ModelStack.from_factory(config.net(1), seeds)
    fit_many(pre, (torch.stack([d.x_source for d in data])[:, None], torch.stack([d.y_source for d in data])[:, None]),
             loss="ce", optimizer="sgd", lr=config.lr, steps=config.steps,
             progress=progress and "pretraining on the source")
    return pre


def split_accuracies(stack: ModelStack, data: list[TransferDigits], task: int = 0) -> dict[str, np.ndarray]:
    """Target-domain accuracy of head `task` of every model (model m on data[m]), each (M,): {"acc_": on
    the test split, "val_": on the validation split}."""
    accuracies = {}
    for prefix, split in (("acc_", "test"), ("val_", "val")):
        x = torch.stack([getattr(d, f"x_{split}") for d in data])[:, None].expand(-1, stack.base.n_tasks, -1, -1)
        y = torch.stack([getattr(d, f"y_{split}") for d in data])[:, None].expand(-1, stack.base.n_tasks, -1)
        with torch.no_grad():
            accuracies[prefix] = per_task_accuracy(stack(x), y)[:, task].numpy()
    return accuracies


def joint_weights(lam: float) -> tuple[float, float]:
    """(1, lam) / (1 + lam): the joint objective's task weights with their sum fixed to 1."""
    check_float("lam", lam, low=0.0)
    return 1.0 / (1.0 + lam), lam / (1.0 + lam)


def joint_accuracies(data: list[TransferDigits], lams, seeds, *, hidden: int = 32, n_layers: int = 2,
                     steps: int = 100, lr: float = 1.0, progress: bool = True,
                     variants=("joint", "joint_heads")) -> dict[str, np.ndarray]:
    """Train the joint objective on weights (1, lam) / (1 + lam) for each (data[m], lams[m], seeds[m]).

    Once per variant of JOINT, in groups of models of JOINT_GROUP_FLOATS activations, one fit_many each,
    under one progress bar; the target is padded to the source's size and masked.
    Returns the target head's accuracy, acc_<variant> and val_<variant>, each (M,), on the target's
    test ("acc_") and validation ("val_") splits.
    """
    lams = check_floats("lams", lams, low=0.0, low_open=True, min_len=0, item_name="lam")
    seeds = check_ints("seeds", seeds, low=0, min_len=0)
    if not isinstance(data, (list, tuple)) or not all(isinstance(d, TransferDigits) for d in data):
        raise TypeError("data must be a list of TransferDigits (from load_transfer_digits), one per model")
    if not data or len(data) != len(lams) or len(data) != len(seeds):
        raise ValueError(f"data has {len(data)} entries, lams {len(lams)} and seeds {len(seeds)}; "
                         "they must match and be non-empty (one per model)")
    check_keywords(hidden=hidden, n_layers=n_layers, progress=progress, steps=steps, lr=lr)
    variants = check_sequence("variants", variants)
    if not set(variants) <= set(JOINT) or len(set(variants)) != len(variants):
        raise ValueError(f"variants={tuple(variants)} must be distinct names among {tuple(JOINT)}")
    use_one_thread()
    x, y, mask = pad_tasks([[d.x_source, d.x_target] for d in data], [[d.y_source, d.y_target] for d in data])
    weights = torch.tensor([joint_weights(lam) for lam in lams])  # (M, 2)
    own = {"joint": torch.ones_like(weights), "joint_heads": 1.0 / weights}  # head t's rate / its weight
    head_scale = torch.cat([own[v] for v in variants])  # (k M, 2)
    k = len(variants)
    x, y, mask, weights = x.repeat(k, 1, 1, 1), y.repeat(k, 1, 1), mask.repeat(k, 1, 1), weights.repeat(k, 1)
    all_seeds, all_data = list(seeds) * k, list(data) * k
    # the k M models in groups of at most `size`, one progress bar for all of them
    size = max(1, JOINT_GROUP_FLOATS // (x.shape[1] * x.shape[2] * hidden))  # models per group
    groups = np.array_split(np.arange(len(all_seeds)), math.ceil(len(all_seeds) / size))
    distinct = sorted(set(all_seeds))  # models of one seed start alike: build each seed's network once
    start = ModelStack.from_factory(TransferSetting(hidden=hidden, n_layers=n_layers).net(2), distinct)
    acc = {"acc_": [], "val_": []}
    with tqdm(total=len(groups) * steps, desc=f"joint objective, {len(all_seeds)} models", disable=not progress,
              delay=PROGRESS_DELAY_S, leave=False) as bar:
        for rows in groups:
            joint = start.take([distinct.index(all_seeds[i]) for i in rows])
            rows = torch.from_numpy(rows)
            fit_many(joint, (x[rows], y[rows], mask[rows]), weights=weights[rows], loss="ce", optimizer="sgd",
                     lr=Rates(lr, scale={"heads.weight": head_scale[rows], "heads.bias": head_scale[rows]}),
                     steps=steps, progress=bar)
            for prefix, a in split_accuracies(joint, [all_data[i] for i in rows], task=1).items():
                acc[prefix].append(a)
    return {prefix + v: a for prefix, parts in acc.items()
            for v, a in zip(variants, np.split(np.concatenate(parts), k))}
