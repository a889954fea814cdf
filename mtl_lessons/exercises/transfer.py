"""Exercises of the transfer objective: build a fine-tuning network from a pretrained one, and L2-SP."""

from __future__ import annotations

import copy

import torch

from mtl_lessons.exercises import register
from mtl_lessons.models import MultiTaskNet, copy_layers, freeze_layers
from mtl_lessons.objectives import l2_sp_penalty


# ---------------------------------------------------------------- a network for phase 2

def solution_finetune_network(pretrained, n_frozen):
    """Phase 2's starting point: every hidden layer from `pretrained` (by state dict), the first
    n_frozen of them frozen, and a fresh head."""
    target = MultiTaskNet(pretrained.in_features, pretrained.hidden, pretrained.n_layers, pretrained.n_tasks,
                          pretrained.out_features, sharing_depth=pretrained.sharing_depth)
    copy_layers(pretrained, target, pretrained.n_layers)   # load_state_dict, layer by layer; not the head
    freeze_layers(target, n_frozen)
    return target


@register("finetune-network", "A network for phase 2: copied layers, frozen or not, a fresh head",
          solution_finetune_network)
def check_finetune_network(answer) -> str | None:
    torch.manual_seed(0)
    pretrained = MultiTaskNet(6, 5, 3, 1, 4, sharing_depth=3)
    before = copy.deepcopy(pretrained.state_dict())
    for n_frozen in (0, 2, 3):
        target = answer(pretrained, n_frozen)
        if not isinstance(target, MultiTaskNet):
            return f"Return a MultiTaskNet, got {type(target).__name__}."
        if target is pretrained or any(p is q for p, q in zip(target.parameters(), pretrained.parameters())):
            return ("The new network shares tensors with the pretrained one, so training it would change the "
                    "source too. Build a new MultiTaskNet and copy the weights into it (load_state_dict).")
        if len(target.layers) != len(pretrained.layers):
            return "The new network must have as many hidden layers as the pretrained one."
        for depth, (a, b) in enumerate(zip(target.layers, pretrained.layers)):
            if not all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters())):
                return f"Hidden layer {depth} was not copied: copy every hidden layer (copy_layers or load_state_dict)."
        if torch.equal(target.heads.weight, pretrained.heads.weight):
            return "The head was copied too: phase 2 starts from a fresh head (keep the new network's own)."
        flags = [all(p.requires_grad for p in layer.parameters()) for layer in target.layers]
        want = [depth >= n_frozen for depth in range(len(flags))]
        if flags != want:
            return (f"With n_frozen={n_frozen}, layers 0..{n_frozen - 1} must have requires_grad=False and the "
                    f"others True; got trainable = {flags}. freeze_layers(model, n) does this.")
        if not all(p.requires_grad for p in target.heads.parameters()):
            return "The head must stay trainable."
    if any(not torch.equal(v, before[k]) for k, v in pretrained.state_dict().items()):
        return "The pretrained network was modified; leave it as it was."
    return None


# ---------------------------------------------------------------- L2-SP

def solution_l2_sp(model, source_state, alpha, beta):
    """alpha/2 ||w_S - w_S^0||^2 over the transferred parameters + beta/2 ||w_head||^2 over the head."""
    to_source = sum(((p - source_state[name]) ** 2).sum()
                    for name, p in model.named_parameters() if not name.startswith("heads."))
    head = sum((p ** 2).sum() for name, p in model.named_parameters() if name.startswith("heads."))
    return alpha / 2 * to_source + beta / 2 * head


@register("l2-sp", "The L2-SP penalty", solution_l2_sp)
def check_l2_sp(answer) -> str | None:
    torch.manual_seed(0)
    source = MultiTaskNet(5, 4, 2, 1, 3, sharing_depth=2)
    model = copy.deepcopy(source)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    state = {k: v.clone() for k, v in source.state_dict().items()}
    alpha, beta = 0.7, 0.2
    got = answer(model, state, alpha, beta)
    if not isinstance(got, torch.Tensor) or got.dim() != 0:
        return "Return one number as a 0-dimensional tensor."
    want = l2_sp_penalty(model, state, alpha=alpha, beta=beta)
    if torch.allclose(got, want, rtol=1e-5):
        got.backward()  # it must be differentiable: fine-tuning adds it to the loss
        if model.heads.weight.grad is None:
            return "The penalty gives no gradient to the head: compute it from the parameters themselves."
        return None
    trunk = sum(((p - state[n]) ** 2).sum() for n, p in model.named_parameters() if not n.startswith("heads."))
    head = sum((p ** 2).sum() for n, p in model.named_parameters() if n.startswith("heads."))
    toward_source_all = sum(((p - state[n]) ** 2).sum() for n, p in model.named_parameters())
    candidates = {
        "You left out the factor 1/2: the penalty is alpha/2 ||w_S - w_S^0||^2 + beta/2 ||w_head||^2.":
            alpha * trunk + beta * head,
        "The head has no pretrained value to return to (it is new): pull it toward zero, beta/2 ||w_head||^2.":
            alpha / 2 * toward_source_all,
        "The head term is missing: add beta/2 ||w_head||^2.": alpha / 2 * trunk,
        "The transferred parameters are pulled toward zero: L2-SP pulls them toward the pretrained "
        "values, ||w_S - w_S^0||^2.": alpha / 2 * sum((p ** 2).sum() for n, p in model.named_parameters()
                                                      if not n.startswith("heads.")) + beta / 2 * head,
        "Use the squared norm (a sum of squares), not the norm itself.":
            alpha / 2 * trunk.sqrt() + beta / 2 * head.sqrt(),
    }
    for hint, value in candidates.items():
        if torch.allclose(got.detach(), value.detach(), rtol=1e-5):
            return hint
    return (f"Got {got.item():.4f}, expected {want.item():.4f}. Sum (w - w0)^2 over every parameter outside "
            "the head, (w)^2 over the head's, and weight them alpha/2 and beta/2.")
