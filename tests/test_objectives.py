"""The objectives against plain torch: equal weighting is losses.sum(), masks equal unpadded means."""

import pytest
import torch

from mtl_lessons.metrics import delta_m, per_task_accuracy, per_task_mse
from mtl_lessons.objectives import (joint_transfer_objective, multitask_objective, task_losses, task_losses_fn,
                                    task_losses_unchecked)


def test_equal_weighting_is_the_plain_sum():
    losses = torch.rand(4)
    assert torch.allclose(multitask_objective(losses), losses.sum())
    assert torch.allclose(multitask_objective(losses, torch.ones(4)), losses.sum())
    assert torch.allclose(multitask_objective(losses, [1, 0, 0, 0]), losses[0])


def test_sample_weights_give_each_task_its_own_mean():
    pred, y = torch.randn(2, 6, 1), torch.randn(2, 6, 1)
    mask = torch.tensor([[1.0] * 6, [1.0] * 2 + [0.0] * 4])
    got = task_losses(pred, y, sample_weights=mask)
    assert torch.allclose(got[0], ((pred[0] - y[0]) ** 2).mean())
    assert torch.allclose(got[1], ((pred[1, :2] - y[1, :2]) ** 2).mean())


def test_cross_entropy_task_losses_match_torch():
    logits, labels = torch.randn(3, 5, 4), torch.randint(0, 4, (3, 5))
    want = torch.stack([torch.nn.functional.cross_entropy(logits[t], labels[t]) for t in range(3)])
    assert torch.allclose(task_losses(logits, labels, loss="ce"), want, atol=1e-6)


@pytest.mark.parametrize("weights, message", [
    ([1.0, -1.0, 1.0], "negative weight"),
    ([1.0, float("inf"), 1.0], "non-finite"),
    ([1.0, 1.0], r"must end in \(3,\)"),
])
def test_bad_weights(weights, message):
    with pytest.raises(ValueError, match=message):
        multitask_objective(torch.rand(3), weights)


def test_bad_losses_and_shapes():
    with pytest.raises(ValueError, match="at least one task"):
        multitask_objective(torch.empty(0))
    with pytest.raises(ValueError, match="non-finite"):
        multitask_objective(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="must match pred"):
        task_losses(torch.randn(2, 3, 1), torch.randn(2, 4, 1))
    with pytest.raises(ValueError, match="loss='hinge' is not allowed"):
        task_losses(torch.randn(2, 3, 1), torch.randn(2, 3, 1), loss="hinge")


def test_joint_transfer_objective_limits():
    assert joint_transfer_objective(torch.tensor(2.0), torch.tensor(3.0), 0.0) == 2.0
    assert joint_transfer_objective(torch.tensor(2.0), torch.tensor(3.0), 2.0) == 8.0
    with pytest.raises(ValueError, match="lam=-1.0"):
        joint_transfer_objective(torch.tensor(2.0), torch.tensor(3.0), -1.0)


def test_metrics():
    pred, y = torch.zeros(2, 3, 1), torch.ones(2, 3, 1)
    assert torch.equal(per_task_mse(pred, y), torch.ones(2))
    logits = torch.tensor([[[2.0, 0.0], [0.0, 2.0]]])
    assert per_task_accuracy(logits, torch.tensor([[0, 0]])).item() == 0.5
    # MSE down 10% (better) and accuracy down 10% (worse) cancel out
    assert torch.allclose(delta_m(torch.tensor([0.9, 0.72]), torch.tensor([1.0, 0.8]), [True, False]), torch.tensor(0.0), atol=1e-5)
    with pytest.raises(ValueError, match="baseline contains a zero"):
        delta_m(torch.tensor([1.0]), torch.tensor([0.0]), [True])


@pytest.mark.parametrize("loss", [("ce", "ce", "mse"), ("mse", "ce"), ("ce", "mse", "ce"), ("mse", "mse"), "ce", "mse"])
@pytest.mark.parametrize("weighted", [False, True])
def test_task_losses_fn_gives_task_losses_bit_for_bit(loss, weighted):
    """The training loops' loss with its labels and weights prepared once: the same losses and gradients."""
    g = torch.Generator().manual_seed(3)
    n_tasks = len(loss) if isinstance(loss, tuple) else 2
    pred = torch.randn(4, n_tasks, 9, 3, generator=g)
    if loss == "mse":
        y = torch.randn(4, n_tasks, 9, 3, generator=g)
    elif loss == "ce":
        y = torch.randint(0, 3, (4, n_tasks, 9), generator=g)
    else:
        y = torch.stack([torch.randint(0, 3, (4, 9), generator=g).float() if name == "ce"
                         else torch.randn(4, 9, generator=g) for name in loss], 1)
    sw = (torch.rand(4, n_tasks, 9, generator=g) > 0.3).float() if weighted else None
    if weighted:
        sw[..., 0] = 1.0
    w = torch.rand(4, n_tasks, generator=g)
    grads = []
    for losses in (lambda p: task_losses_unchecked(p, y, loss, sw), task_losses_fn(y, loss, sw)):
        p = pred.clone().requires_grad_()
        out = losses(p)
        (out * w).sum().backward()
        grads.append((out.detach(), p.grad))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])
