"""MultiTaskNet against trusted references, parameter counts, copying and freezing layers."""

import pytest
import torch
from torch import nn

from mtl_lessons.models import MultiTaskNet, TaskLinear, copy_layers, count_parameters, freeze_layers


def test_one_task_fully_shared_net_is_a_plain_mlp():
    torch.manual_seed(0)
    net = MultiTaskNet(3, 8, 2, 1, out_features=2, sharing_depth=2)
    mlp = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
    mlp[0].load_state_dict(net.layers[0].state_dict())
    mlp[2].load_state_dict(net.layers[1].state_dict())
    mlp[4].weight.data = net.heads.weight[0].T.clone()
    mlp[4].bias.data = net.heads.bias[0, 0].clone()
    x = torch.randn(5, 3)
    assert torch.allclose(net(x)[0], mlp(x), atol=1e-6)


def test_independent_tasks_do_not_influence_each_other():
    net = MultiTaskNet(1, 8, 2, 3, sharing_depth=0)
    x = torch.randn(3, 4, 1)
    x.requires_grad_(True)
    net(x)[1].sum().backward()
    assert x.grad[0].abs().sum() == 0 and x.grad[2].abs().sum() == 0 and x.grad[1].abs().sum() > 0


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_parameter_count_as_a_function_of_sharing_depth(k):
    d, h, L, T, o = 4, 10, 3, 5, 2
    net = MultiTaskNet(d, h, L, T, o, sharing_depth=k)
    layer = lambda i: (d if i == 0 else h) * h + h  # noqa: E731
    expected = sum(layer(i) for i in range(k)) + T * sum(layer(i) for i in range(k, L)) + T * (h * o + o)
    assert count_parameters(net) == expected


def test_shapes_and_broadcast_input():
    net = MultiTaskNet(2, 6, 2, 4, out_features=3, sharing_depth=1)
    assert net(torch.randn(4, 7, 2)).shape == (4, 7, 3)
    assert net(torch.randn(7, 2)).shape == (4, 7, 3)
    with pytest.raises(ValueError, match=r"x has shape \(3, 7, 2\)"):
        net(torch.randn(3, 7, 2))


@pytest.mark.parametrize("kwargs, message", [
    ({"sharing_depth": 5}, r"sharing_depth=5 is out of range \(allowed: 0..3\)"),
    ({"sharing_depth": -1}, "sharing_depth=-1"),
    ({"sharing_depth": 1, "activation": "gelu"}, "activation='gelu'"),
])
def test_bad_architecture(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MultiTaskNet(1, 8, 3, 2, **kwargs)


def test_copy_and_freeze_layers():
    torch.manual_seed(0)
    source, target = MultiTaskNet(4, 8, 3, 1, sharing_depth=3), MultiTaskNet(4, 8, 3, 1, sharing_depth=3)
    copy_layers(source, target, 2)
    assert torch.equal(source.layers[1].weight, target.layers[1].weight)
    assert not torch.equal(source.layers[2].weight, target.layers[2].weight)
    assert not torch.equal(source.heads.weight, target.heads.weight)
    freeze_layers(target, 2)
    assert [p.requires_grad for p in target.layers.parameters()] == [False] * 4 + [True] * 2
    frozen = (4 * 8 + 8) + (8 * 8 + 8)  # the first two layers' weights and biases
    assert count_parameters(target, trainable_only=True) == count_parameters(target) - frozen
    with pytest.raises(ValueError, match="frozen_depth=4 is out of range"):
        freeze_layers(target, 4)
    with pytest.raises(ValueError, match="give both networks the same sharing_depth"):
        copy_layers(source, MultiTaskNet(4, 8, 3, 1, sharing_depth=0), 1)


def test_task_linear_is_per_task():
    layer = TaskLinear(3, 2, 4)
    x = torch.randn(3, 5, 2)
    out = layer(x)
    for t in range(3):
        assert torch.allclose(out[t], x[t] @ layer.weight[t] + layer.bias[t], atol=1e-6)
