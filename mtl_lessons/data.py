"""Task families for the course, all made offline: seeded synthetic regression
tasks with a relatedness knob (and two clusters of them, for task groupings),
classification tasks built from scikit-learn's bundled 8x8 digits (no download), and
the Palmer penguins with their cross-validation sets (penguin_cv_sets)."""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass

import numpy as np
import torch

from mtl_lessons._checks import (MAX_ELEMENTS, check_float, check_floats, check_int, check_ints, check_labels,
                                 check_size, check_tensor, check_unit_interval)

# Validation data comes from a random stream of its own (seeded with this offset + seed), so that adding
# it changed no training or test example the course had measured before.
_VAL_STREAM = 1_000_003


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sklearn's bundled digits (data, target, images), read once per process; read-only: copy before changing."""
    from sklearn.datasets import load_digits  # imported here: sklearn takes ~1 s to import
    digits = load_digits()
    arrays = (digits.data, digits.target, digits.images)
    for a in arrays:
        a.setflags(write=False)
    return arrays


_SPLITS: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}  # _stratified_split's memo (at most _MAX_SPLITS)
_MAX_SPLITS = 1024


def _stratified_split(labels: np.ndarray, *, seed: int, test_size=None,
                      train_size=None) -> tuple[np.ndarray, np.ndarray]:
    """The (train, test) indices that sklearn's train_test_split(..., stratify=labels) picks; read-only.

    The indices depend only on the labels, the sizes and the seed, so a sweep that loads the same
    split for many grid points runs sklearn's (input-checking) split once per seed and size.
    """
    labels = np.ascontiguousarray(labels)
    key = (hashlib.blake2b(labels.tobytes(), digest_size=16).digest(), labels.dtype.str, labels.shape,
           test_size, train_size, seed)
    if key not in _SPLITS:
        from sklearn.model_selection import train_test_split
        parts = train_test_split(np.arange(len(labels)), test_size=test_size, train_size=train_size,
                                 stratify=labels, random_state=seed)
        for a in parts:
            a.setflags(write=False)
        if len(_SPLITS) >= _MAX_SPLITS:
            _SPLITS.pop(next(iter(_SPLITS)))  # the oldest
        _SPLITS[key] = tuple(parts)
    return _SPLITS[key]


@dataclass
class TaskSet:
    """Several regression tasks with the same number of points per task."""

    x_train: torch.Tensor  # (n_tasks, n_train, 1)
    y_train: torch.Tensor  # (n_tasks, n_train, 1) noisy
    x_test: torch.Tensor  # (n_tasks, n_test, 1)
    y_test: torch.Tensor  # (n_tasks, n_test, 1) noise-free: the true function
    task_names: list[str]
    relatedness: float
    params: tuple[torch.Tensor, ...]  # (amp, phase, own_amp, own_freq, own_phase), each (n_tasks,)
    x_val: torch.Tensor  # (n_tasks, n_val, 1): for choosing hyperparameters, never for reporting
    y_val: torch.Tensor  # (n_tasks, n_val, 1) noisy, like the training targets
    shared_freq: float = 1.0  # frequency of the two shared features sin(shared_freq x), cos(shared_freq x)

    @property
    def n_tasks(self) -> int:
        return len(self.task_names)

    def true_function(self, x: torch.Tensor) -> torch.Tensor:
        """Noise-free targets of every task at the points x (n,): returns (n_tasks, n)."""
        x = check_tensor("x", x, dtype=torch.float32, nonempty=True)
        x = x.reshape(1, -1, 1).expand(self.n_tasks, -1, -1)
        return sinusoid_target(x, *self.params, self.relatedness, shared_freq=self.shared_freq)[..., 0]


def sinusoid_target(x: torch.Tensor, amp: torch.Tensor, phase: torch.Tensor,
                    own_amp: torch.Tensor, own_freq: torch.Tensor, own_phase: torch.Tensor,
                    relatedness: float, *, shared_freq: float = 1.0) -> torch.Tensor:
    """y_t(x) = sqrt(r) * A_t sin(nu x + phi_t) + sqrt(1-r) * C_t sin(omega_t x + psi_t), nu = shared_freq.

    A_t sin(nu x + phi_t) = a_t sin(nu x) + b_t cos(nu x) uses the two features every task
    shares; the second term has a frequency of its own per task. Shapes: x is
    (n_tasks, n, 1), the task parameters are (n_tasks,).
    """
    shared = amp[:, None, None] * torch.sin(shared_freq * x + phase[:, None, None])
    own = own_amp[:, None, None] * torch.sin(own_freq[:, None, None] * x + own_phase[:, None, None])
    return math.sqrt(relatedness) * shared + math.sqrt(1.0 - relatedness) * own


def make_sinusoid_tasks(n_tasks: int = 6, n_train: int = 8, n_test: int = 200, *, n_val: int = 50,
                        relatedness: float = 1.0, noise: float = 0.1, x_range: float = 5.0,
                        shared_freq: float = 1.0, seed: int = 0) -> TaskSet:
    """A seeded family of sinusoid regression tasks on x in [-x_range, x_range].

    relatedness=1: every task is a_t sin x + b_t cos x (two shared features, own
    coefficients); relatedness=0: every task is a sinusoid of its own frequency
    (unrelated). The own frequencies omega_t are spread over about 1.6..5.7, so lowering r also
    makes the tasks harder to fit; `shared_freq` (default 1) sets the shared features' frequency,
    e.g. to make related tasks as hard as unrelated ones. The task parameters, the validation and the test points depend on
    `seed` only, not on `n_train`, so a data-size sweep compares like with like.
    Training and validation targets carry noise; test targets are the true function.
    """
    n_tasks = check_int("n_tasks", n_tasks, low=1)
    n_train = check_int("n_train", n_train, low=1)
    n_val = check_int("n_val", n_val, low=1)
    n_test = check_int("n_test", n_test, low=1)
    check_size("n_tasks x (n_train + n_val + n_test) points", n_tasks * (n_train + n_val + n_test), MAX_ELEMENTS)
    relatedness = check_float("relatedness", relatedness, low=0.0, high=1.0)
    noise = check_float("noise", noise, low=0.0)
    x_range = check_float("x_range", x_range, low=0.0, low_open=True)
    shared_freq = check_float("shared_freq", shared_freq, low=0.0, low_open=True)
    if shared_freq > 20:
        raise ValueError(f"shared_freq={shared_freq} is out of range (allowed: 0 < shared_freq <= 20)")
    seed = check_int("seed", seed, low=0)

    g = torch.Generator().manual_seed(seed)
    amp = 0.5 + 1.5 * torch.rand(n_tasks, generator=g)
    phase = 2 * math.pi * torch.rand(n_tasks, generator=g)
    own_amp = 0.5 + 1.5 * torch.rand(n_tasks, generator=g)
    # task-specific frequencies, spread out so that no two tasks share one
    own_freq = 1.6 + 0.55 * torch.randperm(n_tasks, generator=g).float() + 0.2 * torch.rand(n_tasks, generator=g)
    own_phase = 2 * math.pi * torch.rand(n_tasks, generator=g)
    params = (amp, phase, own_amp, own_freq, own_phase)

    x_test = x_range * (2 * torch.rand(n_tasks, n_test, 1, generator=g) - 1)
    y_test = sinusoid_target(x_test, *params, relatedness, shared_freq=shared_freq)
    g_train = torch.Generator().manual_seed(10_007 * seed + n_train)
    x_train = x_range * (2 * torch.rand(n_tasks, n_train, 1, generator=g_train) - 1)
    y_train = sinusoid_target(x_train, *params, relatedness, shared_freq=shared_freq)
    y_train = y_train + noise * torch.randn(y_train.shape, generator=g_train)
    g_val = torch.Generator().manual_seed(_VAL_STREAM + seed)  # its own stream: train and test stay as they were
    x_val = x_range * (2 * torch.rand(n_tasks, n_val, 1, generator=g_val) - 1)
    y_val = sinusoid_target(x_val, *params, relatedness, shared_freq=shared_freq)
    y_val = y_val + noise * torch.randn(y_val.shape, generator=g_val)
    names = [f"task {t}" for t in range(n_tasks)]
    return TaskSet(x_train, y_train, x_test, y_test, names, relatedness, params, x_val, y_val, shared_freq)


@dataclass
class DigitsSplit:
    """A train/validation/test split of sklearn's 8x8 digits, pixels scaled to [0, 1]."""

    x_train: torch.Tensor  # (n_train, 64)
    y_train: torch.Tensor  # (n_train,) labels 0..len(classes)-1
    x_test: torch.Tensor  # (n_test, 64)
    y_test: torch.Tensor  # (n_test,)
    classes: tuple[int, ...]  # the digit each label stands for
    x_val: torch.Tensor  # (n_val, 64): for choosing hyperparameters, never for reporting
    y_val: torch.Tensor  # (n_val,)

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def load_digits_split(classes=tuple(range(10)), *, test_size: float = 0.3, val_size: float = 0.2,
                      seed: int = 0) -> DigitsSplit:
    """Digits of the given classes, stratified train/validation/test split; labels renumbered 0..k-1.

    `test_size` and `val_size` are fractions of all the images of those classes; the test part is
    cut first (so it does not depend on `val_size`), the validation part from what is left.
    Reads the copy of the UCI digits that ships inside scikit-learn: no network.
    """
    classes = check_ints("classes", classes, min_len=0)
    if len(classes) < 2:
        raise ValueError(f"classes={classes} must name at least two digits")
    if len(set(classes)) != len(classes) or not all(isinstance(c, (int, np.integer)) and 0 <= c <= 9 for c in classes):
        raise ValueError(f"classes={classes} must be distinct digits (allowed: 0..9)")
    test_size = check_float("test_size", test_size, low=0.0, high=1.0, low_open=True)
    if test_size >= 1.0:
        raise ValueError(f"test_size={test_size} is out of range (allowed: 0 < test_size < 1)")
    val_size = check_float("val_size", val_size, low=0.0, low_open=True)
    if test_size + val_size >= 0.9:
        raise ValueError(f"test_size + val_size = {test_size + val_size:g} leaves too little to train on "
                         f"(allowed: test_size + val_size < 0.9)")
    seed = check_int("seed", seed, low=0)

    data, target, _ = _digits()
    keep = np.isin(target, classes)
    x = data[keep].astype(np.float32) / 16.0
    relabel = np.full(10, -1, dtype=np.int64)
    relabel[list(classes)] = np.arange(len(classes))
    y = relabel[target[keep]]
    # sklearn's train_test_split, twice (test first, then validation from the rest), as index arrays
    tr, te = _stratified_split(y, test_size=test_size, seed=seed)
    tr_tr, tr_va = _stratified_split(y[tr], test_size=val_size / (1 - test_size), seed=seed)
    t = torch.from_numpy
    return DigitsSplit(t(x[tr[tr_tr]]), t(y[tr[tr_tr]]), t(x[te]), t(y[te]), classes, t(x[tr[tr_va]]),
                       t(y[tr[tr_va]]))


def take_labels(x: torch.Tensor, y: torch.Tensor, n_labels: int, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A stratified subset of `n_labels` labelled examples (for few-label targets)."""
    x = check_tensor("x", x, nonempty=True)
    y = check_labels("y", y)
    if x.dim() == 0 or y.dim() != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]}; they must match")
    n_classes = int(y.unique().numel())
    n_labels = check_int("n_labels", n_labels, low=n_classes, high=int(y.shape[0]))
    seed = check_int("seed", seed, low=0)
    if n_labels == y.shape[0]:
        return x, y
    idx, _ = _stratified_split(y.numpy(), train_size=n_labels, seed=seed)  # sklearn's train_test_split
    idx = torch.from_numpy(np.sort(idx))
    return x[idx], y[idx]


@dataclass
class DigitOverlay:
    """Two-digit canvases (a small MultiMNIST): one input, two label tasks (left digit, right digit)."""

    x_train: torch.Tensor  # (n_train, height * width) pixels in [0, 1]
    y_train: torch.Tensor  # (n_train, 2) labels 0..9: (left digit, right digit)
    x_test: torch.Tensor  # (n_test, height * width)
    y_test: torch.Tensor  # (n_test, 2)
    image_shape: tuple[int, int]  # (height, width) of one canvas
    x_val: torch.Tensor  # (n_val, height * width): for choosing hyperparameters, never for reporting
    y_val: torch.Tensor  # (n_val, 2)
    task_names: tuple[str, ...] = ("left digit", "right digit")

    @property
    def n_tasks(self) -> int:
        return len(self.task_names)


def make_digit_overlay(n_train: int = 300, n_test: int = 500, *, n_val: int = 200, shift: int = 4,
                       seed: int = 0) -> DigitOverlay:
    """Canvases of 8 x (8 + shift) pixels: a digit at the left, another `shift` columns to its right.

    Where the two overlap (shift < 8) a pixel is the brighter of the two: this course's choice (Sabour
    et al. 2017's MultiMNIST overlays shifted digits of different classes; the left/right task split
    is Sener & Koltun 2018's). The two digits are drawn independently; training, validation and test
    canvases are built from three disjoint sets of digit images (45 / 15 / 40 % of them).
    Reads sklearn's bundled digits: no network.
    """
    n_train = check_int("n_train", n_train, low=1)
    n_val = check_int("n_val", n_val, low=1)
    n_test = check_int("n_test", n_test, low=1)
    shift = check_int("shift", shift, low=0, high=8)
    check_size("the canvases' pixel count", (n_train + n_val + n_test) * 8 * (8 + shift), MAX_ELEMENTS)
    seed = check_int("seed", seed, low=0)
    _, target, images = _digits()
    images = torch.from_numpy(images.astype(np.float32) / 16.0)  # (1797, 8, 8)
    labels = torch.from_numpy(target.astype(np.int64))
    # sklearn's train_test_split, twice (test first, then validation from the rest), as index arrays
    pool_train, pool_test = _stratified_split(target, test_size=0.4, seed=seed)
    tr, va = _stratified_split(target[pool_train], test_size=0.25, seed=seed)
    pool_train, pool_val = pool_train[tr], pool_train[va]
    g = torch.Generator().manual_seed(seed)
    width = 8 + shift

    def canvases(pool, n):
        pool = torch.from_numpy(np.array(pool))  # a writable copy of the (read-only) split indices
        pick = pool[torch.randint(len(pool), (n, 2), generator=g)]  # (n, 2) image indices
        left = torch.zeros(n, 8, width)
        right = torch.zeros(n, 8, width)
        left[:, :, :8] = images[pick[:, 0]]
        right[:, :, shift:] = images[pick[:, 1]]
        return torch.maximum(left, right).reshape(n, -1), labels[pick]

    x_train, y_train = canvases(pool_train, n_train)
    x_test, y_test = canvases(pool_test, n_test)
    x_val, y_val = canvases(pool_val, n_val)
    return DigitOverlay(x_train, y_train, x_test, y_test, (8, width), x_val, y_val)


def add_pixel_noise(x: torch.Tensor, noise: float, *, seed: int = 0) -> torch.Tensor:
    """A shifted domain: Gaussian pixel noise of standard deviation `noise`, clipped back to [0, 1]."""
    noise = check_float("noise", noise, low=0.0)
    seed = check_int("seed", seed, low=0)
    x = check_unit_interval("x", check_tensor("x", x, floating=True, dtype=torch.float32))
    g = torch.Generator().manual_seed(seed)
    return (x + noise * torch.randn(x.shape, generator=g)).clamp(0.0, 1.0)


def permute_pixels(x: torch.Tensor, fraction: float, *, seed: int = 0) -> torch.Tensor:
    """A shifted domain: a fixed `fraction` of the pixels swapped among themselves (a mis-wired sensor).

    `seed` picks the wiring: which round(fraction * n_pixels) pixels are shuffled among themselves
    (a few may land where they were); every image gets the same wiring. x is (n, n_pixels).
    """
    x = check_tensor("x", x, dim=2, floating=True, dtype=torch.float32)
    fraction = check_float("fraction", fraction, low=0.0, high=1.0)
    seed = check_int("seed", seed, low=0)
    g = torch.Generator().manual_seed(seed)
    n_pixels = x.shape[1]
    moved = torch.randperm(n_pixels, generator=g)[:round(fraction * n_pixels)]
    order = torch.arange(n_pixels)
    order[moved] = moved[torch.randperm(len(moved), generator=g)]
    return x[:, order]


@dataclass
class TransferDigits:
    """A source domain (clean digits, many labels) and a shifted target domain (few labels).

    The target is the same digits seen through a different sensor: `permuted` of the pixels
    swapped (one fixed wiring) and pixel noise of standard deviation `noise`. Source and target
    training images are disjoint; the target test set is the same for every seed and every
    n_target, so accuracies are comparable across a grid.
    """

    x_source: torch.Tensor  # (n_source, 64) clean
    y_source: torch.Tensor  # (n_source,) labels 0..9
    x_target: torch.Tensor  # (n_target, 64) shifted
    y_target: torch.Tensor  # (n_target,)
    x_test: torch.Tensor  # (n_test, 64) shifted: the target domain's test set
    y_test: torch.Tensor  # (n_test,)
    noise: float
    x_val: torch.Tensor  # (n_val, 64) shifted, labelled: for choosing hyperparameters, never for reporting
    y_val: torch.Tensor  # (n_val,)
    permuted: float = 0.0  # fraction of the pixels the target's wiring moves


def load_transfer_digits(n_target: int = 30, *, n_source: int = 200, noise: float = 0.0,
                         permuted: float = 0.25, n_val: int = 30, seed: int = 0) -> TransferDigits:
    """Clean digits as the source; as the target, shifted digits with `n_target` labels (all 10 classes).

    The shift: `permuted` of the pixels swapped by one fixed wiring (permute_pixels, seed 0: the
    same domain for every seed), then Gaussian noise of standard deviation `noise` (add_pixel_noise).
    The train split is cut in two halves of disjoint images: the source draws `n_source` clean
    images from one, the target `n_target` images from the other; the target's `n_val` labelled
    validation images come from the digits' validation split (all stratified, chosen by `seed`).
    Reads sklearn's bundled digits: no network.
    """
    noise = check_float("noise", noise, low=0.0)
    permuted = check_float("permuted", permuted, low=0.0, high=1.0)
    seed = check_int("seed", seed, low=0)
    split = load_digits_split(seed=0)  # one fixed train/test split: the test set never moves
    half = _stratified_split(split.y_train.numpy(), test_size=0.5, seed=0)
    source_pool, target_pool = (torch.from_numpy(np.sort(h)) for h in half)
    n_source = check_int("n_source", n_source, low=10, high=len(source_pool))
    n_target = check_int("n_target", n_target, low=10, high=len(target_pool))
    n_val = check_int("n_val", n_val, low=10, high=len(split.y_val))

    def shift(x, noise_seed):
        return add_pixel_noise(permute_pixels(x, permuted, seed=0), noise, seed=noise_seed)

    x_source, y_source = take_labels(split.x_train[source_pool], split.y_train[source_pool], n_source, seed=seed)
    x_target, y_target = take_labels(shift(split.x_train[target_pool], seed), split.y_train[target_pool],
                                     n_target, seed=seed)
    x_test = shift(split.x_test, 10_007)  # fixed: the same test images for every seed
    x_val, y_val = take_labels(shift(split.x_val, _VAL_STREAM + seed), split.y_val, n_val, seed=seed)
    return TransferDigits(x_source, y_source, x_target, y_target, x_test, split.y_test, noise, x_val, y_val,
                          permuted)


@dataclass
class CompetingTasks:
    """Two regression tasks, each a tanh step of its own steepness and place, on x in [-3, 3]."""

    x_train: torch.Tensor  # (2, n_train, 1)
    y_train: torch.Tensor  # (2, n_train, 1)
    x_test: torch.Tensor  # (2, n_test, 1)
    y_test: torch.Tensor  # (2, n_test, 1)
    params: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (amp, steepness, centre), each (2,)
    x_val: torch.Tensor | None = None  # (2, n_val, 1): for choosing hyperparameters, never for reporting
    y_val: torch.Tensor | None = None  # (2, n_val, 1) noisy, like the training targets
    task_names: tuple[str, ...] = ("task 1", "task 2")

    def true_function(self, x: torch.Tensor) -> torch.Tensor:
        """Noise-free targets of both tasks at the points x (n,): returns (2, n)."""
        x = check_tensor("x", x, dtype=torch.float32)
        amp, steep, centre = (p[:, None] for p in self.params)
        return amp * torch.tanh(steep * (x.reshape(1, -1) - centre))


def make_competing_tasks(n_train: int = 16, n_test: int = 200, *, n_val: int = 50, noise: float = 0.1,
                         seed: int = 0) -> CompetingTasks:
    """y_1 = tanh(s_1 (x - c_1)), y_2 = -tanh(s_2 (x - c_2)): a steep step on the left, a gentle one
    on the right. One tanh unit can fit either, not both, so a one-unit shared trunk makes the two
    tasks compete (the setting for trading them off with a task weight)."""
    n_train = check_int("n_train", n_train, low=1)
    n_val = check_int("n_val", n_val, low=1)
    n_test = check_int("n_test", n_test, low=1)
    check_size("2 x (n_train + n_val + n_test) points", 2 * (n_train + n_val + n_test), MAX_ELEMENTS)
    noise = check_float("noise", noise, low=0.0)
    seed = check_int("seed", seed, low=0)
    g = torch.Generator().manual_seed(seed)
    amp = torch.tensor([1.0, -1.0])
    steep = torch.tensor([2.0, 0.7]) * (1 + 0.2 * torch.rand(2, generator=g))
    centre = torch.tensor([-1.0, 1.5]) + 0.3 * torch.randn(2, generator=g)
    tasks = CompetingTasks(None, None, None, None, (amp, steep, centre))
    x_test = torch.linspace(-3, 3, n_test).expand(2, n_test)
    x_train = 6 * torch.rand(2, n_train, generator=g) - 3
    y_train = torch.stack([tasks.true_function(x_train[t])[t] for t in range(2)])
    y_train = y_train + noise * torch.randn(y_train.shape, generator=g)
    y_test = torch.stack([tasks.true_function(x_test[t])[t] for t in range(2)])
    tasks.x_train, tasks.y_train = x_train[..., None], y_train[..., None]
    tasks.x_test, tasks.y_test = x_test[..., None].clone(), y_test[..., None]
    g_val = torch.Generator().manual_seed(_VAL_STREAM + seed)  # its own stream: train and test stay as they were
    x_val = 6 * torch.rand(2, n_val, generator=g_val) - 3
    y_val = torch.stack([tasks.true_function(x_val[t])[t] for t in range(2)])
    y_val = y_val + noise * torch.randn(y_val.shape, generator=g_val)
    tasks.x_val, tasks.y_val = x_val[..., None], y_val[..., None]
    return tasks


@dataclass
class PenguinTasks:
    """The Palmer penguins as three tasks from the same three measurements: species, sex and body mass.

    x holds the raw measurements in mm (standardise them with statistics of the rows you train
    on, e.g. one cross-validation fold's training part). y holds floats: the species label
    0..2, the sex label 0..1 and the body mass in grams. x_dev / y_dev (train + validation) are
    what cross-validation splits; the test split is for the one final report.
    """

    x_train: torch.Tensor  # (n_train, 3) bill length, bill depth, flipper length (mm)
    y_train: torch.Tensor  # (n_train, 3) species label, sex label, body mass (g), as floats
    x_val: torch.Tensor  # (n_val, 3): for choosing hyperparameters, never for reporting
    y_val: torch.Tensor  # (n_val, 3)
    x_test: torch.Tensor  # (n_test, 3)
    y_test: torch.Tensor  # (n_test, 3)
    dropped: dict[str, int]  # why rows with missing values were left out -> how many
    feature_names: tuple[str, ...] = ("bill length (mm)", "bill depth (mm)", "flipper length (mm)")
    task_names: tuple[str, ...] = ("species", "sex", "body mass (g)")
    species: tuple[str, ...] = ("Adelie", "Chinstrap", "Gentoo")  # label 0, 1, 2
    sexes: tuple[str, ...] = ("female", "male")  # label 0, 1

    @property
    def n_tasks(self) -> int:
        return len(self.task_names)

    @property
    def x_dev(self) -> torch.Tensor:
        """Training and validation rows together (n_train + n_val, 3): what cross-validation splits."""
        return torch.cat([self.x_train, self.x_val])

    @property
    def y_dev(self) -> torch.Tensor:
        return torch.cat([self.y_train, self.y_val])


PENGUIN_FEATURES = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm")


def load_penguin_tasks(*, test_size: float = 0.25, val_size: float = 0.2, seed: int = 0) -> PenguinTasks:
    """The Palmer penguins (Horst, Hill & Gorman 2020): 344 rows, 333 complete; stratified splits by `seed`.

    Missing values, handled explicitly: 2 rows have no measurement at all and 9 more have no
    recorded sex; all 11 are left out (`dropped` says how many for which reason), so every
    kept penguin has all three tasks' labels. The splits are stratified by species and sex;
    `test_size` and `val_size` are fractions of the 333 (the test part is cut first).
    Reads the CSV that ships inside the `palmerpenguins` wheel: no network.
    """
    test_size = check_float("test_size", test_size, low=0.0, high=0.5, low_open=True)
    val_size = check_float("val_size", val_size, low=0.0, high=0.5, low_open=True)
    if test_size + val_size >= 0.8:
        raise ValueError(f"test_size + val_size = {test_size + val_size:g} leaves too little to train on "
                         f"(allowed: test_size + val_size < 0.8)")
    seed = check_int("seed", seed, low=0)
    from palmerpenguins import load_penguins  # imports pandas: only when penguins are asked for

    table = load_penguins()
    no_measurement = table[list(PENGUIN_FEATURES) + ["body_mass_g"]].isna().all(axis=1)
    no_sex = table["sex"].isna() & ~no_measurement
    complete = table[~(no_measurement | no_sex)]
    if complete[list(PENGUIN_FEATURES) + ["body_mass_g", "species", "sex"]].isna().any(axis=None):
        raise RuntimeError("the penguins table has missing values this loader does not expect")
    species = {name: i for i, name in enumerate(PenguinTasks.species)}
    sexes = {name: i for i, name in enumerate(PenguinTasks.sexes)}
    x = complete[list(PENGUIN_FEATURES)].to_numpy(np.float32)
    y = np.stack([complete["species"].map(species).to_numpy(np.float32),
                  complete["sex"].map(sexes).to_numpy(np.float32),
                  complete["body_mass_g"].to_numpy(np.float32)], axis=1)
    strata = (2 * y[:, 0] + y[:, 1]).astype(np.int64)  # species x sex
    from sklearn.model_selection import train_test_split
    x_tr, x_te, y_tr, y_te, s_tr, _ = train_test_split(x, y, strata, test_size=test_size, stratify=strata,
                                                       random_state=seed)
    x_tr, x_va, y_tr, y_va = train_test_split(x_tr, y_tr, test_size=val_size / (1 - test_size), stratify=s_tr,
                                              random_state=seed)
    t = torch.from_numpy
    return PenguinTasks(t(x_tr), t(y_tr), t(x_va), t(y_va), t(x_te), t(y_te),
                        dropped={"no measurement at all": int(no_measurement.sum()),
                                 "sex not recorded": int(no_sex.sum())})


def penguin_strata(y: torch.Tensor) -> np.ndarray:
    """Species × sex of each penguin (y as PenguinTasks'): the classes a stratified split keeps in proportion."""
    return (2 * y[:, 0] + y[:, 1]).long().numpy()


def standardise(x_fit: torch.Tensor, *others: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(x - mean) / sd with the mean and sd of x_fit's rows only (never of the rows scored later)."""
    mean, sd = x_fit.mean(0), x_fit.std(0)
    return tuple((x - mean) / sd for x in (x_fit, *others))


@dataclass
class FitAndScore:
    """Rows to train one model on, standardised with their own statistics, and the rows it is scored on."""

    x: torch.Tensor  # (n, 3) features
    y: list  # the three tasks' targets: species, sex, body mass (standardised)
    x_score: torch.Tensor  # the scored rows' features
    y_score: torch.Tensor  # (n_scored, 3) the scored rows' targets, body mass in grams
    mass_stats: tuple  # body mass mean and sd (g) of the rows it trains on


def penguin_cv_sets(seed: int, n_folds: int) -> list[FitAndScore]:
    """One seed's training sets of the penguins: n_folds folds of the development rows (StratifiedKFold by species
    × sex, each scored on its held-out part), then the training split (scored on the validation split), then the
    development set (scored on the test set). The seed picks the split and the folds."""
    from sklearn.model_selection import StratifiedKFold

    n_folds = check_int("n_folds", n_folds, low=2, high=10)
    data = load_penguin_tasks(seed=seed)
    x_dev, y_dev = data.x_dev, data.y_dev
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(x_dev.numpy(), penguin_strata(y_dev))
    sets = [(x_dev[fit_rows], y_dev[fit_rows], x_dev[score_rows], y_dev[score_rows]) for fit_rows, score_rows in folds]
    sets += [(data.x_train, data.y_train, data.x_val, data.y_val), (x_dev, y_dev, data.x_test, data.y_test)]
    out = []
    for x_fit, y_fit, x_score, y_score in sets:
        x_fit, x_score = standardise(x_fit, x_score)
        (mass,) = standardise(y_fit[:, 2:])
        out.append(FitAndScore(x_fit, [y_fit[:, 0], y_fit[:, 1], mass[:, 0]], x_score, y_score,
                               (y_fit[:, 2].mean().item(), y_fit[:, 2].std().item())))
    return out


@dataclass
class ClusterTasks:
    """Two clusters of sinusoid tasks, train/validation/test, shapes (n_tasks, n, 1)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    cluster: tuple[int, ...]  # the true cluster of every task (0 or 1)

    @property
    def n_tasks(self) -> int:
        return len(self.cluster)


def make_cluster_tasks(n_per_cluster: int = 3, n_train: int = 12, *, freqs=(1.0, 1.5), spread: float = 0.05,
                       noise: float = 0.1, n_val: int = 50, n_test: int = 200, x_range: float = 5.0,
                       seed: int = 0) -> ClusterTasks:
    """Two clusters of sinusoid tasks y_t = A_t sin(nu_c x + phi_t) + noise, nu_c = freqs[c] for cluster c:
    tasks 0..c-1 in the first cluster, c..2c-1 in the second (chapter 11's family, for task groupings).

    Each cluster draws one amplitude and phase; its tasks vary them by a relative `spread` (amplitude
    times 1 +- spread, phase +- spread * pi / 2): close relatives within a cluster, another frequency across.
    """
    n_per_cluster = check_int("n_per_cluster", n_per_cluster, low=1, high=20)
    n_train, n_val, n_test = (check_int(name, v, low=1, high=10_000) for name, v in
                              (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)))
    freqs = check_floats("freqs", freqs, low=0.0, low_open=True)
    if len(freqs) != 2 or max(freqs) > 20:
        raise ValueError(f"freqs={freqs} must be two frequencies in (0, 20], one per cluster")
    spread = check_float("spread", spread, low=0.0, high=1.0)
    noise = check_float("noise", noise, low=0.0)
    x_range = check_float("x_range", x_range, low=0.0, low_open=True)
    seed = check_int("seed", seed, low=0)
    g = torch.Generator().manual_seed(seed)
    n_tasks = 2 * n_per_cluster
    nu = torch.tensor(freqs).repeat_interleave(n_per_cluster)
    base_amp = (0.8 + 0.8 * torch.rand(2, generator=g)).repeat_interleave(n_per_cluster)
    base_phase = (2 * math.pi * torch.rand(2, generator=g)).repeat_interleave(n_per_cluster)
    amp = base_amp * (1 + spread * (2 * torch.rand(n_tasks, generator=g) - 1))
    phase = base_phase + spread * math.pi / 2 * (2 * torch.rand(n_tasks, generator=g) - 1)

    def draw(n, noisy):
        x = x_range * (2 * torch.rand(n_tasks, n, 1, generator=g) - 1)
        y = amp[:, None, None] * torch.sin(nu[:, None, None] * x + phase[:, None, None])
        return x, y + noise * torch.randn(y.shape, generator=g) if noisy else y

    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = draw(n_train, True), draw(n_val, True), draw(n_test, False)
    return ClusterTasks(x_tr, y_tr, x_va, y_va, x_te, y_te, tuple([0] * n_per_cluster + [1] * n_per_cluster))


def stacked(tasks, *splits: str) -> list[torch.Tensor]:
    """Each named split (e.g. "x_test") of every TaskSet in `tasks`, stacked: (len(tasks), n_tasks, n, 1)."""
    return [torch.stack([getattr(d, split) for d in tasks]) for split in splits]
