"""Exercises of the transfer objective: a network for phase 2, the target head's step in the joint objective,
the joint objective at a tiny λ (predict, then run), and L2-SP."""

from __future__ import annotations

import copy

import torch

from mtl_lessons.exercises import register, register_prediction
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


# ---------------------------------------------------------------- the target head's step in the joint objective

def solution_head_step_factor(lam):
    """d/dθ_tgt of (L_src + lam L_tgt) / (1 + lam) = lam / (1 + lam) · dL_tgt/dθ_tgt (L_src has no θ_tgt)."""
    return lam / (1 + lam)


@register("head-step-factor", "The factor on the target head's gradient in the normalised joint objective",
          solution_head_step_factor)
def check_head_step_factor(answer) -> str | None:
    from torch.nn import functional as F
    torch.manual_seed(0)
    net = MultiTaskNet(6, 5, 2, 2, 3, sharing_depth=2)
    x, y = torch.randn(2, 12, 6), torch.randint(0, 3, (2, 12))
    for lam in (0.01, 0.5, 3.0, 100.0):
        losses = [F.cross_entropy(net(x)[t], y[t]) for t in (0, 1)]
        (g_joint,) = torch.autograd.grad((losses[0] + lam * losses[1]) / (1 + lam), net.heads.weight)
        (g_tgt,) = torch.autograd.grad(F.cross_entropy(net(x)[1], y[1]), net.heads.weight)
        want = (g_joint[1] / g_tgt[1])[g_tgt[1].abs() > 1e-6].median().item()  # autograd's ratio
        got = answer(lam)
        if not isinstance(got, (int, float)) and not (isinstance(got, torch.Tensor) and got.numel() == 1):
            return f"Return one number for lam={lam}, got {type(got).__name__}."
        got = float(got)
        if abs(got - want) > 1e-4 * max(1.0, abs(want)):
            if abs(got - lam) < 1e-6:
                return "That is the factor before dividing by 1 + lam: the normalised objective is (L_src + lam L_tgt) / (1 + lam)."
            if abs(got - 1 / (1 + lam)) < 1e-6:
                return "1 / (1 + lam) is the source head's factor; the target head is only in the lam L_tgt term."
            return f"For lam={lam} autograd gives {want:.5f}, you gave {got:.5f}. Which terms of the objective contain θ_tgt?"
    return None


# ---------------------------------------------------------------- predict: the joint objective at a tiny lam

def small_lambda_outcome(joint_small: float, frozen: float, target_only: float, *, tol: float = 0.03) -> str:
    """Where the joint network at the smallest lam lands: 'frozen', 'target only' or 'below both' (tol apart)."""
    if joint_small < min(frozen, target_only) - tol:
        return "below both"
    return "frozen" if abs(joint_small - frozen) <= abs(joint_small - target_only) else "target only"


@register_prediction(
    "small-lambda-budget", "The joint objective at λ = 0.01, one rate, a fixed budget of steps",
    examples=[("below both", (0.50, 0.77, 0.77), True), ("frozen", (0.50, 0.77, 0.77), False),
              ("frozen", (0.78, 0.77, 0.70), True), ("target only", (0.50, 0.77, 0.75), False)])
def judge_small_lambda(answer, measured):
    allowed = ("frozen", "target only", "below both")
    if answer not in allowed:
        raise ValueError(f"my_prediction={answer!r}: answer one of {', '.join(map(repr, allowed))}")
    joint_small, frozen, target_only = measured
    outcome = small_lambda_outcome(joint_small, frozen, target_only)
    why = (f"Measured: joint {joint_small:.3f}, frozen trunk {frozen:.3f}, target only {target_only:.3f}, "
           f"so '{outcome}'. The minimiser at λ → 0⁺ is the frozen baseline, but with one rate the target head's "
           "step carries λ/(1+λ) ≈ 0.01, so in a fixed number of steps it barely leaves its random start.")
    return answer == outcome, why
