"""Task families: shapes, seeding, the relatedness knob, digits offline."""

import numpy as np
import pytest
import torch

from mtl_lessons.data import load_digits_split, make_sinusoid_tasks, take_labels


def test_sinusoid_shapes_and_seeding():
    a = make_sinusoid_tasks(5, 7, 30, seed=3)
    b = make_sinusoid_tasks(5, 7, 30, seed=3)
    assert a.x_train.shape == (5, 7, 1) and a.y_test.shape == (5, 30, 1) and a.n_tasks == 5
    assert torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.y_train, make_sinusoid_tasks(5, 7, 30, seed=4).y_train)


def test_task_and_test_set_do_not_depend_on_training_size():
    small, large = make_sinusoid_tasks(4, 5, seed=1), make_sinusoid_tasks(4, 50, seed=1)
    assert torch.equal(small.x_test, large.x_test) and torch.equal(small.y_test, large.y_test)


def _residual_on_sin_cos(tasks):
    """Fraction of each task's variance left after least squares on [sin x, cos x]."""
    x = torch.linspace(-5, 5, 400)
    y = tasks.true_function(x)  # (T, 400)
    basis = torch.stack([torch.sin(x), torch.cos(x)], 1)  # (400, 2)
    coef = torch.linalg.lstsq(basis, y.T).solution
    return ((basis @ coef - y.T) ** 2).mean(0) / y.var(1)


def test_relatedness_one_means_two_shared_features():
    assert _residual_on_sin_cos(make_sinusoid_tasks(6, 4, relatedness=1.0, seed=0)).max() < 1e-6


def test_relatedness_zero_means_features_of_their_own():
    assert _residual_on_sin_cos(make_sinusoid_tasks(6, 4, relatedness=0.0, seed=0)).min() > 0.5


def test_noise_free_training_targets_match_true_function():
    tasks = make_sinusoid_tasks(3, 10, noise=0.0, seed=2)
    for t in range(3):
        assert torch.allclose(tasks.true_function(tasks.x_train[t, :, 0])[t], tasks.y_train[t, :, 0], atol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_tasks": 0}, "n_tasks=0"),
    ({"relatedness": 1.5}, "relatedness=1.5"),
    ({"noise": float("nan")}, "noise=nan must be finite"),
    ({"n_train": 2.5}, "n_train=2.5 must be an int"),
    ({"seed": -1}, "seed=-1"),
])
def test_sinusoid_bad_input(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make_sinusoid_tasks(**kwargs)


def test_digits_split_is_offline_stratified_and_relabelled():
    split = load_digits_split(classes=(5, 6, 7, 8, 9), seed=0)
    assert split.classes == (5, 6, 7, 8, 9) and split.n_classes == 5
    assert set(split.y_train.tolist()) == set(range(5))
    test, val, train = (torch.bincount(y).float() for y in (split.y_test, split.y_val, split.y_train))
    assert ((test / (test + val + train) - 0.3).abs() < 0.01).all()  # stratified: 30% of every class
    assert ((val / (test + val + train) - 0.2).abs() < 0.01).all()  # and 20% for validation
    assert 0 <= split.x_train.min() and split.x_train.max() <= 1 and split.x_train.shape[1] == 64


@pytest.mark.parametrize("classes, message", [((3,), "at least two"), ((1, 1), "distinct"), ((0, 10), "0..9")])
def test_digits_bad_classes(classes, message):
    with pytest.raises(ValueError, match=message):
        load_digits_split(classes=classes)


def test_take_labels_is_stratified_and_checked():
    split = load_digits_split(classes=(0, 1, 2), seed=0)
    x, y = take_labels(split.x_train, split.y_train, 30, seed=0)
    assert x.shape == (30, 64) and torch.bincount(y).tolist() == [10, 10, 10]
    with pytest.raises(ValueError, match="n_labels=2 is out of range"):
        take_labels(split.x_train, split.y_train, 2)


# ---------------------------------------------------------------- validation splits

def test_every_container_has_a_validation_split_apart_from_train_and_test():
    from mtl_lessons.data import load_transfer_digits, make_competing_tasks, make_digit_overlay
    tasks = make_sinusoid_tasks(3, 8, 20, n_val=11, seed=1)
    assert tasks.x_val.shape == (3, 11, 1) == tasks.y_val.shape
    assert torch.equal(tasks.x_val, make_sinusoid_tasks(3, 64, 20, n_val=11, seed=1).x_val), "val must not move with n_train"
    assert not torch.equal(tasks.x_val, make_sinusoid_tasks(3, 8, 20, n_val=11, seed=2).x_val)
    split = load_digits_split(seed=0)
    n = len(split.y_train) + len(split.y_val) + len(split.y_test)
    assert n == 1797 and abs(len(split.y_val) / n - 0.2) < 0.01 and abs(len(split.y_test) / n - 0.3) < 0.01
    assert not (torch.cdist(split.x_val, split.x_train).min(1).values < 1e-6).all()
    assert torch.equal(split.x_test, load_digits_split(seed=0, val_size=0.1).x_test), "test must not move with val_size"
    overlay = make_digit_overlay(20, 10, n_val=7, seed=0)
    assert overlay.x_val.shape == (7, overlay.x_train.shape[1]) and overlay.y_val.shape == (7, 2)
    competing = make_competing_tasks(8, 20, n_val=9, seed=0)
    assert competing.x_val.shape == (2, 9, 1) == competing.y_val.shape
    transfer = load_transfer_digits(30, seed=0)
    assert transfer.x_val.shape[1] == 64 and len(transfer.y_val) == len(transfer.x_val) > 0


@pytest.mark.parametrize("kwargs, message", [
    ({"val_size": 0.0}, "val_size=0.0"),
    ({"val_size": 0.7}, "test_size \\+ val_size"),
])
def test_digits_bad_val_size(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_digits_split(**kwargs)


def test_splits_are_sklearns_computed_once_and_callers_get_their_own_copies():
    from sklearn.model_selection import train_test_split

    from mtl_lessons.data import _stratified_split, load_transfer_digits
    y = np.arange(60) % 4
    for kw in (dict(test_size=0.25), dict(train_size=12)):
        want = train_test_split(np.arange(60), stratify=y, random_state=3, **kw)
        got = _stratified_split(y, seed=3, **kw)
        assert all(np.array_equal(a, b) for a, b in zip(got, want))
        assert _stratified_split(y, seed=3, **kw)[0] is got[0] and not got[0].flags.writeable
    a = load_transfer_digits(10, seed=1)
    x_test, y_test, y_val = a.x_test.clone(), a.y_test.clone(), a.y_val.clone()
    a.x_test.add_(1.0), a.y_test.zero_(), a.y_val.zero_()  # a learner changes what a loader returned ...
    b = load_transfer_digits(10, seed=1)  # ... the next call is not affected
    assert torch.equal(b.x_test, x_test) and torch.equal(b.y_test, y_test) and torch.equal(b.y_val, y_val)
    split = load_digits_split(seed=0)
    split.x_train.zero_()
    assert load_digits_split(seed=0).x_train.max() > 0
