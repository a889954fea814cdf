"""Exercises of the transfer objective: a network for phase 2, the target head's step in the joint objective
(a derivation), one step of the joint objective with heads at their own rate (a build), the joint objective at
a tiny λ (predict, then run); and the L2-SP penalty, which chapter 9 asks the learner to build."""

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


class _CalledPackage(BaseException):   # not an Exception: passes through the wrapper that reports the answer's errors
    pass


class _package_l2_sp_disabled:
    """While the learner's answer runs, the package's l2_sp_penalty raises (in its module and under any name the
    answer's globals bind it to), so an answer that only calls it does not pass as built."""

    def __init__(self, answer):
        import mtl_lessons.objectives as objectives
        self.original = objectives.l2_sp_penalty   # this module's own name is patched too, if the answer lives here
        functions = [answer] + [c.cell_contents for c in (getattr(answer, "__closure__", None) or ())
                                if callable(getattr(c, "cell_contents", None))]   # check() wraps the answer
        spaces = {id(f.__globals__): f.__globals__ for f in functions if hasattr(f, "__globals__")}
        self.places = [(objectives, "l2_sp_penalty")] + [
            (g, name) for g in spaces.values() for name, value in list(g.items()) if value is self.original] + [
            (cell, None) for f in functions for cell in (getattr(f, "__closure__", None) or ())
            if getattr(cell, "cell_contents", None) is self.original]   # a name the answer closes over

    def __enter__(self):
        def refuse(*args, **kwargs):
            raise _CalledPackage
        for place, name in self.places:
            self._set(place, name, refuse)

    def __exit__(self, *exc):
        for place, name in self.places:
            self._set(place, name, self.original)
        return False

    @staticmethod
    def _set(place, name, value):
        if isinstance(place, dict):
            place[name] = value
        elif name is None:
            place.cell_contents = value
        else:
            setattr(place, name, value)


def _l2_sp_reference(model, state, alpha, beta):
    """The checker's own L2-SP, written apart from the package's (by state dict, not parameters)."""
    current = model.state_dict(keep_vars=True)
    trunk = sum(((current[k] - state[k]) ** 2).sum() for k in state if not k.startswith("heads."))
    head = sum((current[k] ** 2).sum() for k in current if k.startswith("heads."))
    return alpha / 2 * trunk + beta / 2 * head


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
    try:
        with _package_l2_sp_disabled(answer):
            got = answer(model, state, alpha, beta)
    except _CalledPackage:
        return ("Your answer calls the package's l2_sp_penalty: write the penalty yourself, from the "
                "parameters (model.named_parameters()) and source_state.")
    if not isinstance(got, torch.Tensor) or got.dim() != 0:
        return "Return one number as a 0-dimensional tensor."
    want = _l2_sp_reference(model, state, alpha, beta)   # independent of the package's l2_sp_penalty
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

SMALL_LAMBDA_ANSWERS = ("within 3 points", "3 to 15 points below", "more than 15 points below")


def small_lambda_outcome(joint_small: float, frozen: float) -> str:
    """How far below the frozen-trunk baseline the one-rate joint network at the smallest lam ends."""
    drop = frozen - joint_small
    if drop <= 0.03:
        return SMALL_LAMBDA_ANSWERS[0]
    return SMALL_LAMBDA_ANSWERS[1] if drop <= 0.15 else SMALL_LAMBDA_ANSWERS[2]


@register_prediction(
    "small-lambda-budget", "The joint objective at λ = 0.01, one rate, a fixed budget of steps",
    examples=[("more than 15 points below", (0.50, 0.77, 0.76), True), ("within 3 points", (0.50, 0.77, 0.76), False),
              ("within 3 points", (0.78, 0.77, 0.78), True), ("3 to 15 points below", (0.70, 0.77, 0.76), True)])
def judge_small_lambda(answer, measured):
    if answer not in SMALL_LAMBDA_ANSWERS:
        raise ValueError(f"my_prediction={answer!r}: answer one of {', '.join(map(repr, SMALL_LAMBDA_ANSWERS))}")
    joint_small, frozen, heads_small = measured   # one rate, frozen trunk, heads at their own rate; at lam = 0.01
    outcome = small_lambda_outcome(joint_small, frozen)
    budget, objective = heads_small - joint_small, heads_small - frozen
    text = (f"Measured at λ = 0.01: one rate {joint_small:.3f}, frozen trunk {frozen:.3f} "
            f"({joint_small - frozen:+.3f}, so '{outcome}'), the same objective with heads at their own rate "
            f"{heads_small:.3f}. ")
    text += (f"Giving the heads their own rate changes only the path, not the objective, so the difference between "
             f"the two runs, {budget:+.3f}, is what the budget does: with one rate the target head's step carries "
             f"λ/(1+λ) ≈ 0.01 (exercise 6.2). ")
    if abs(budget) <= 0.03:
        text += "Here that is small: 100 such steps sufficed for the head. "
    text += (f"The rest, heads at own rate − frozen trunk = {objective:+.3f}, is the objective at λ = 0.01 after 100 "
             f"steps (not its λ → 0⁺ limit): the trunk is not frozen and keeps a share λ/(1+λ) of the target's signal.")
    return answer == outcome, text


# ---------------------------------------------------------------- build: the joint step, heads at their own rate

def solution_joint_step(net, x_src, y_src, x_tgt, y_tgt, lam, lr):
    """One SGD step, in place, on (L_src + lam L_tgt) / (1 + lam): the trunk at rate lr, the head of task t
    at rate lr / w_t (w = (1, lam) / (1 + lam)), so each head takes the step of its own loss.
    Returns the objective's value before the step."""
    from torch.nn import functional as F
    w = torch.tensor([1.0, lam]) / (1 + lam)                                  # task weights, summing to 1
    loss = w[0] * F.cross_entropy(net(x_src)[0], y_src) + w[1] * F.cross_entropy(net(x_tgt)[1], y_tgt)
    net.zero_grad()
    loss.backward()
    with torch.no_grad():
        for name, p in net.named_parameters():
            rate = lr / w.reshape(-1, 1, 1) if name.startswith("heads.") else lr   # heads: row t is task t's
            p -= rate * p.grad
    return loss.detach()


def _joint_step_reference(net, x_src, y_src, x_tgt, y_tgt, lam, lr, *, head_scale=True, trunk_scale=False,
                          normalise=True):
    """The solution's step with one of its parts changed: for the checker's hints."""
    from torch.nn import functional as F
    w = torch.tensor([1.0, lam]) / ((1 + lam) if normalise else 1.0)
    loss = w[0] * F.cross_entropy(net(x_src)[0], y_src) + w[1] * F.cross_entropy(net(x_tgt)[1], y_tgt)
    net.zero_grad()
    loss.backward()
    with torch.no_grad():
        for name, p in net.named_parameters():
            head = name.startswith("heads.")
            rate = lr / w.reshape(-1, 1, 1) if (head and head_scale) else lr
            if not head and trunk_scale:
                rate = lr * (1 + lam) if normalise else lr
            p -= rate * p.grad
    return loss.detach()


@register("joint-step", "One step of the joint objective, each head at its own rate", solution_joint_step)
def check_joint_step(answer) -> str | None:
    torch.manual_seed(0)
    base = MultiTaskNet(6, 5, 2, 2, 3, sharing_depth=2)
    x_src, y_src = torch.randn(12, 6), torch.randint(0, 3, (12,))
    x_tgt, y_tgt = torch.randn(4, 6), torch.randint(0, 3, (4,))
    for lam in (0.01, 1.0, 30.0):
        def after(step, **kw):
            net = copy.deepcopy(base)
            out = step(net, x_src.clone(), y_src.clone(), x_tgt.clone(), y_tgt.clone(), lam, 0.5, **kw)
            return net, out
        got, out = after(answer)
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            return "Return the objective's value before the step, one number (e.g. loss.detach())."
        params = dict(got.named_parameters())
        if all(torch.equal(p, q) for p, q in zip(params.values(), base.parameters())):
            return ("No parameter moved. Compute the loss, call backward(), then update each parameter in place, "
                    "under torch.no_grad(): p -= rate * p.grad.")
        reference, value = after(solution_joint_step)
        want = dict(reference.named_parameters())
        if not torch.allclose(out.reshape(()), value, atol=1e-5):
            if torch.allclose(out.reshape(()), value * (1 + lam), atol=1e-5):
                return "You returned L_src + lam L_tgt: the objective is divided by 1 + lam (the weights sum to 1)."
            return (f"With lam={lam} your objective is {out.item():.4f}, the reference's {value.item():.4f}: "
                    "(L_src + lam L_tgt) / (1 + lam), each task's cross-entropy on its own data and head.")

        def same(net):
            return all(torch.allclose(params[n], p, atol=1e-6) for n, p in net.named_parameters())

        if same(after(solution_joint_step)[0]):
            continue
        if same(after(_joint_step_reference, head_scale=False)[0]):
            return (f"With lam={lam} your step is plain SGD at one rate: every head's step then carries its weight "
                    "w_t (the target head's is lam/(1+lam), exercise 6.2). Divide each head's step by its task's "
                    "weight: row t of heads.weight and heads.bias at rate lr / w_t.")
        if same(after(_joint_step_reference, normalise=False)[0]) or \
                same(after(_joint_step_reference, normalise=False, head_scale=False)[0]):
            return "You stepped on L_src + lam L_tgt: divide it by 1 + lam (the weights (1, lam)/(1+lam) sum to 1)."
        if same(after(_joint_step_reference, trunk_scale=True)[0]):
            return ("The trunk took a rescaled step too. Only the heads get their own rate; the trunk keeps the "
                    "weighted mix at rate lr (so the objective, and its minimisers, are unchanged).")
        wrong = [n for n, p in params.items() if not torch.allclose(p, want[n], atol=1e-6)]
        heads_ok = not any(n.startswith("heads.") for n in wrong)
        return (f"With lam={lam} these parameters moved differently from the reference: {', '.join(wrong)}. "
                + ("The heads are right; the trunk takes lr times the gradient of the normalised objective."
                   if heads_ok else "Row t of heads.weight / heads.bias is task t's head (0: source, 1: target); "
                   "its step is lr / w_t times its gradient."))
    return None
