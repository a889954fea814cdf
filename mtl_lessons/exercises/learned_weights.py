"""Exercises of learning the task weights: what uncertainty weighting minimises at its equilibrium (a
derivation: its weights, then the function it descends, both checked numerically), a prediction about a pure-noise task, and a static weighting to build."""

from __future__ import annotations

import torch

from mtl_lessons.exercises import register, register_prediction
from mtl_lessons.weighting import Strategy


def solution_uw_equilibrium_weights(losses):
    """At the optimal s_t = log L_t the θ-gradient of Σ_t ½ e^{-s_t} L_t + ½ s_t is Σ_t ∇L_t / (2 L_t):
    the weights 1 / (2 L_t), which are also the gradient of ½ Σ_t log L_t in L_t."""
    return 1 / (2 * losses)


@register("uw-equilibrium", "Uncertainty weighting at its equilibrium: the weights of the θ-gradient",
          solution_uw_equilibrium_weights)
def check_uw_equilibrium_weights(answer) -> str | None:
    losses = torch.tensor([0.003, 0.4, 1.0, 25.0])
    # reference 1: minimise the objective in s numerically (L fixed, a fine grid of s), read the weight ½ e^{-s*}
    s = torch.linspace(-12.0, 8.0, 200_001, dtype=torch.float64)[:, None]
    objective = 0.5 * torch.exp(-s) * losses.double() + 0.5 * s  # (grid, 4)
    weights_at_optimum = (0.5 * torch.exp(-s[objective.argmin(0), 0])).float()
    # reference 2: autograd of ½ Σ log L_t in L_t (what UW minimises in θ at its equilibrium)
    l = losses.clone().requires_grad_(True)
    (0.5 * torch.log(l).sum()).backward()
    got = torch.as_tensor(answer(losses.clone()), dtype=torch.float32).reshape(-1)
    if got.shape != (4,):
        return f"Return one weight per task: for 4 losses a tensor of 4 weights, got shape {tuple(got.shape)}."
    if torch.allclose(got, losses.log(), rtol=1e-3):
        return "That is s* = log L_t, the optimal log-variance; the question asks for the weight ½ e^{-s*} of ∇L_t."
    if torch.allclose(got, 1 / losses, rtol=1e-3):
        return "Close: e^{-s*} = 1 / L_t, but the objective has ½ in front of e^{-s} L_t."
    if not torch.allclose(got, weights_at_optimum, rtol=1e-3):
        return (f"For L = {losses.tolist()} the objective's optimum in s gives the weights "
                f"{weights_at_optimum.numpy().round(4).tolist()}; you gave {got.numpy().round(4).tolist()}. "
                "Set ∂/∂s_t = 0 first, then differentiate in θ.")
    assert torch.allclose(weights_at_optimum, l.grad, rtol=1e-3)  # the two references agree
    return None


def solution_uw_equilibrium_objective(losses):
    """½ Σ_t log L_t: its derivative in L_t is the equilibrium weight 1 / (2 L_t), so its θ-gradient is UW's."""
    return 0.5 * torch.log(losses).sum()


def _uw_problem(theta):
    """Three tasks' losses L_t(θ) of a linear model on fixed data, of very different scales (float64)."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3, 8, 3, generator=g, dtype=torch.float64)
    y = torch.randn(3, 8, generator=g, dtype=torch.float64)
    scale = torch.tensor([0.01, 1.0, 30.0], dtype=torch.float64)
    return scale * ((x @ theta - y) ** 2).mean(-1)


@register("uw-equilibrium-objective", "Uncertainty weighting at its equilibrium: the function it descends",
          solution_uw_equilibrium_objective)
def check_uw_equilibrium_objective(answer) -> str | None:
    """At several θ: UW's θ-gradient with s_t held at its optimum log L_t, against autograd of answer(L(θ));
    then the answer's *values*: f(L) - f(L') must be what the function says, not only its slope at one point."""
    thetas = [torch.tensor(t, dtype=torch.float64) for t in ([0.3, -0.2, 0.5], [1.0, 0.4, -0.7], [-0.5, 0.0, 0.2])]
    values = []
    for theta in thetas:
        theta = theta.clone().requires_grad_(True)
        losses = _uw_problem(theta)
        s = losses.detach().log()  # UW's equilibrium: e^{s_t} = L_t
        (uw,) = torch.autograd.grad((0.5 * torch.exp(-s) * losses + 0.5 * s).sum(), theta, retain_graph=True)
        got = answer(losses)
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            return f"Return one number, a 0-d tensor computed from the losses, got {_shape(got)}."
        if not got.requires_grad:
            return ("Your result does not depend on the losses for autograd: compute it from `losses` with torch "
                    "operations (no .item(), .detach() or numpy), so its gradient can be taken.")
        (mine,) = torch.autograd.grad(got.reshape(()), theta, retain_graph=True)
        mine = mine.double()
        if not torch.allclose(mine, uw, rtol=1e-4, atol=1e-6):
            plain = torch.autograd.grad(losses.sum(), theta)[0]
            if torch.allclose(mine, 2 * uw, rtol=1e-4, atol=1e-6):
                return "Your gradient is twice uncertainty weighting's: mind the ½ in front of each term."
            if torch.allclose(mine, plain, rtol=1e-4, atol=1e-6):
                return "That is equal weighting's objective Σ L_t: at the equilibrium each ∇L_t has the weight c_t."
            return (f"At θ = {theta.detach().tolist()}: uncertainty weighting's θ-gradient at s = log L is "
                    f"{uw.numpy().round(4).tolist()}, your function's is {mine.numpy().round(4).tolist()}. "
                    "Which function of L_t has the derivative c_t = 1/(2 L_t)?")
        values.append((losses.detach(), float(got.detach())))
    (l0, f0), (l1, f1) = values[0], values[1]
    want = float(0.5 * torch.log(l1 / l0).sum())
    if abs((f1 - f0) - want) > 1e-4 * max(1.0, abs(want)):
        return ("Your function has the right slope at each point, but its values do not change like a function "
                f"of the losses with that slope: between two points f changed by {f1 - f0:.4f}, not {want:.4f}. "
                "Did you multiply the losses by weights held fixed (detached)? Write the function itself whose "
                "derivative in L_t is c_t.")
    return None


def _shape(value) -> str:
    return f"a tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else f"a {type(value).__name__}"


_NOISE = {"share": 0.01, "w_noise": 0.5, "w_task": 50.0, "loss_noise": 1.0}


@register_prediction("uw-noise-task", "How much weight does uncertainty weighting leave a pure-noise task?",
                     examples=[(("small", "stays"), _NOISE, True),
                               (("small", "falls"), _NOISE, False),
                               (("large", "stays"), _NOISE, False),
                               (("half", "stays"), _NOISE, False),
                               ((0.02, "stays"), _NOISE, True),
                               (("small", "falls"), {**_NOISE, "w_noise": 0.1}, True),
                               (("half", "stays"), {"share": 0.45, "w_noise": 0.5, "w_task": 0.6, "loss_noise": 1.0},
                                True)])
def judge_uw_noise_task(answer, measured):
    """answer: (share, own weight): the noise task's final share of the weight, w_2/(w_1+w_2) ("small",
    "half", "large" or a number in [0, 1]), and how its own weight w_2 moves from its start, ½ ("falls",
    "stays" or "rises"). measured: {"share", "w_noise", "w_task": the two final weights, "loss_noise": the
    noise task's final training loss} (means over seeds)."""
    if not (isinstance(answer, (tuple, list)) and len(answer) == 2):
        raise ValueError(f"answer {answer!r}: give two things, e.g. (\"small\", \"stays\"): the noise task's final "
                         "share ('small', 'half', 'large' or a number in [0, 1]) and how its own weight w_2 moves "
                         "from ½ ('falls', 'stays' or 'rises')")
    share_answer, move = answer
    if isinstance(share_answer, str):
        words = {"small": 0.0, "none": 0.0, "zero": 0.0, "half": 0.5, "equal": 0.5, "large": 1.0}
        if share_answer.lower() not in words:
            raise ValueError(f"share {share_answer!r}: say 'small', 'half' or 'large', or give a share in [0, 1]")
        share_answer = words[share_answer.lower()]
    if not isinstance(move, str) or move.lower() not in ("falls", "stays", "rises"):
        raise ValueError(f"own weight {move!r}: say 'falls', 'stays' or 'rises' (from its start, ½)")
    share, w_noise, w_task = measured["share"], measured["w_noise"], measured["w_task"]
    measured_move = "falls" if w_noise < 0.25 else "rises" if w_noise > 1.0 else "stays"  # within a factor 2 of ½
    right = abs(float(share_answer) - share) < 0.1 and move.lower() == measured_move
    own = {"stays": f"stayed within a factor 2 of its start ½: it ended at {w_noise:.2f}",
           "falls": f"fell below a quarter: it ended at {w_noise:.2f}",
           "rises": f"rose above 1: it ended at {w_noise:.2f}"}[measured_move]
    why = (f"The noise task's own weight {own}, near 1/(2 L_2) with its training loss L_2 = "
           f"{measured['loss_noise']:.2f}, which nothing can push far below the noise variance. ")
    if w_task > 3 * w_noise:
        why += (f"The learnable task's loss kept falling, so its weight 1/(2 L_1) grew to {w_task:.1f}: the noise "
                f"task's *share*, {share:.1%}, is small because the other weight grew"
                + (", not because its own shrank." if measured_move != "falls" else ".")
                + " Uncertainty weighting gives a task whose loss stays large a small share next to a task "
                "whose loss falls, whether the large loss is noise or not.")
    else:
        why += (f"Here the two weights stayed comparable (learnable task {w_task:.2f}): the learnable task's loss "
                "did not fall far below the noise task's, so the weights 1/(2 L_t) did not separate them.")
    return right, f"The noise task ended with {share:.1%} of the weight. {why}"


def solution_static_weighting():
    """A strategy with w_t = T (1/L_t(θ_0)) / Σ_s (1/L_s(θ_0)) per model, fixed at the first step."""
    class StaticInverseLoss(Strategy):
        def start(self, n_models, n_tasks):
            super().start(n_models, n_tasks)
            self.w = None  # a new run starts from its own first losses

        def weights(self, losses, gramian=None):
            if self.w is None:
                inverse = 1 / losses.detach()
                self.w = self.n_tasks * inverse / inverse.sum(-1, keepdim=True)
            return self.w

    return StaticInverseLoss()


@register("static-weights", "Build a static weighting: w_t ∝ 1 / L_t(θ₀), fixed after the first step",
          solution_static_weighting)
def check_static_weighting(answer) -> str | None:
    strategy = answer()
    if not isinstance(strategy, Strategy):
        return f"Return an instance of a Strategy subclass (class ...(Strategy)), got {type(strategy).__name__}."
    first = torch.tensor([[0.5, 50.0], [2.0, 2.0], [0.01, 1.0]])  # (M = 3 models, T = 2 tasks)
    for _ in range(2):  # start() must reset: a second run starts from its own first losses
        try:
            strategy.start(3, 2)
            w0 = torch.as_tensor(strategy.weights(first.clone(), None)).detach()
        except NotImplementedError:
            return "Not attempted yet: replace each `raise NotImplementedError` in your class with your code."
        want = 2 * (1 / first) / (1 / first).sum(-1, keepdim=True)
        if w0.shape != (3, 2):
            return f"weights(losses (3, 2)) must return (3, 2): one weight per model and task, got {tuple(w0.shape)}."
        if not torch.allclose(w0, want, rtol=1e-4):
            return (f"For first losses {first.tolist()} the weights should be {want.numpy().round(4).tolist()} "
                    f"(∝ 1/L_t, summing to T = 2 per model); got {w0.numpy().round(4).tolist()}.")
        later = torch.as_tensor(strategy.weights(first * torch.tensor([0.1, 3.0]), None)).detach()
        if not torch.allclose(later, want, rtol=1e-4):
            return "The weights changed at the second step: fix them at the first step (store them in self)."
        first = first.flip(-1)
    return None
