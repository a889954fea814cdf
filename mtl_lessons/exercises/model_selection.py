"""Exercises of choosing and measuring: the majority rule's macro-F1 derived (checked against counted F1s),
Δm's term for a task scored by its error rate instead of its accuracy (derived, checked against
metrics.delta_m), a k-fold CV loop that chooses a setting (checked against a
reference on a tiny ridge regression), and a prediction of whether the chosen point's cross-validated score
over- or under-states its test score (judged with a control: the same difference for unselected settings)."""

from __future__ import annotations

import numpy as np
import torch

from mtl_lessons.exercises import register, register_prediction


def solution_error_rate_term(acc, base_acc):
    """The term a task adds to Δm's sum (in %) when it is scored by its error rate e = 1 - acc, lower is better:
    -(e - e_base) / e_base × 100 = (acc - base_acc) / (1 - base_acc) × 100, i.e. base/(1 - base) times the
    accuracy's term (acc - base_acc) / base_acc × 100."""
    return 100.0 * (acc - base_acc) / (1.0 - base_acc)


@register("delta-m-error-rate", "Δm's term for a task scored by its error rate", solution_error_rate_term)
def check_error_rate_term(answer) -> str | None:
    from mtl_lessons.metrics import delta_m  # the reference: the package's Δm of one task, metric 1 - accuracy

    cases = [(0.99, 0.98), (0.90, 0.95), (0.75, 0.5), (0.999, 0.99), (0.6, 0.6)]
    for acc, base in cases:
        want = delta_m(torch.tensor([1.0 - acc], dtype=torch.float64), torch.tensor([1.0 - base], dtype=torch.float64),
                       [True]).item()
        got = float(answer(acc, base))
        if abs(got - want) <= 1e-6 * max(1.0, abs(want)):
            continue
        accuracy_term = 100.0 * (acc - base) / base
        if abs(got - accuracy_term) <= 1e-6 * max(1.0, abs(accuracy_term)):
            return ("That is the term of the *accuracy* (higher is better). Scored by its error rate 1 - a, the task's "
                    "metric and its baseline are both different numbers: put them into Δm's formula.")
        if abs(got + want) <= 1e-6 * max(1.0, abs(want)):
            return ("The sign is the wrong way round: the error rate is lower-is-better, so (-1)^{l_t} = -1; a model "
                    "with a higher accuracy than the baseline must add a positive term.")
        if abs(got - want / 100) <= 1e-6:
            return "Δm's terms are percentages: multiply the relative change by 100."
        return (f"For accuracy {acc} against a baseline of {base}: the error rates are {1 - acc:.3f} and "
                f"{1 - base:.3f}; expected the term {want:.4f} (%), got {got:.4f}. Divide the change by the "
                "*baseline's* error rate.")
    return None


@register_prediction("cv-optimism", "Does the chosen point's CV score over- or under-state its test score?",
                     examples=[("over", ([1.5, 1.6, 1.4], [0.2, 0.1, 0.3]), True),
                               ("higher", ([1.5, 1.6, 1.4], [1.4, 1.5, 1.3]), True),
                               ("under", ([1.5, 1.6, 1.4], [0.2, 0.1, 0.3]), False),
                               ("same", ([1.5, 1.6, 1.4], [-0.3, 0.0, 0.3]), False),
                               ("under", ([-1.5, -1.6, -1.4], [-2.0, -2.1, -1.9]), True),
                               ("same", ([0.1, 0.2, 0.0], [-0.8, -0.7, -0.9]), True)])
def judge_cv_optimism(answer, measured):
    """measured: (per seed, CV Δm − test Δm of the chosen point; per seed, the same difference averaged over every
    other setting of the grid: the control where nothing was selected), in points of Δm."""
    words = {"over": 1, "higher": 1, "optimistic": 1, "under": -1, "lower": -1, "pessimistic": -1,
             "same": 0, "equal": 0}
    key = str(answer).lower().strip()
    if key not in words:
        raise ValueError(f"answer {answer!r}: say 'over', 'under' or 'same'")
    chosen, control = (np.atleast_1d(np.asarray(v, dtype=float)) for v in measured)
    if chosen.shape != control.shape or chosen.ndim != 1:
        raise ValueError(f"measured: two equal-length lists of per-seed values, got shapes {chosen.shape}, "
                         f"{control.shape}")
    n = len(chosen)

    def se(v):
        return float(v.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")

    mean, mean_se = float(chosen.mean()), se(chosen)
    outcome = 0 if abs(mean) < 0.5 else (1 if mean > 0 else -1)
    said = {1: "above", -1: "below", 0: "about equal to"}[outcome]
    noisy = not (abs(mean) > 2 * mean_se if outcome else abs(mean) + 2 * mean_se < 0.5)  # nan: always noisy
    text = (f"The chosen point's CV Δm was {mean:+.2f} ± {mean_se:.2f} points (mean ± standard error over {n} "
            f"seeds) from its test Δm ({said} it). ")
    if noisy:
        text += ("That is inside the noise: ± 2 standard errors spans more than one answer, so these seeds do not "
                 "confirm or refute any prediction; more seeds (SEED, N_SEEDS) would. ")
    selection = chosen - control
    sel, sel_se = float(selection.mean()), se(selection)
    text += (f"The control, the same CV − test difference averaged over the settings nobody selected, was "
             f"{float(control.mean()):+.2f}: that part is not selection (the CV models train on 4/5 of the rows and "
             f"are scored on other rows than the test set; the baseline's own settings were picked by their CV "
             f"score). ")
    if abs(sel) <= 2 * sel_se or n < 2:
        text += (f"The choice adds {sel:+.2f} ± {sel_se:.2f} on top: within 2 standard errors of zero, so no "
                 "winner's curse is measurable at this number of seeds. ")
    elif abs(sel) < 0.5:
        text += (f"The choice adds only {sel:+.2f} ± {sel_se:.2f} on top: less than half a point, a small effect of "
                 "selection at most. ")
    elif sel > 0:
        text += (f"The choice adds {sel:+.2f} ± {sel_se:.2f} on top: picking the largest of many noisy CV scores "
                 "picks luck on these folds too, which does not come back on the test set (the winner's curse). ")
    else:
        text += (f"The choice moved it by {sel:+.2f} ± {sel_se:.2f}, the other way from the winner's curse. ")
    return words[key] == outcome, text + ("Either way the test set is scored once, after the choice, so that no "
                                          "choice rests on it.")


def solution_cv_choose(settings, fit_and_score, n_rows, n_folds, seed):
    """k-fold CV: every setting scored on each fold's held-out rows by a model fitted on the other rows;
    returns (the setting with the highest mean held-out score, the mean scores in the order of settings)."""
    held_out_folds = np.array_split(np.random.default_rng(seed).permutation(n_rows), n_folds)
    means = []
    for setting in settings:
        scores = [fit_and_score(setting, np.setdiff1d(np.arange(n_rows), held_out), held_out)
                  for held_out in held_out_folds]
        means.append(sum(scores) / len(scores))
    best = max(range(len(settings)), key=lambda k: means[k])  # the first of equal scores
    return settings[best], means


def _ridge_problem(seed: int):
    """A tiny regression (30 rows, polynomial features of degree 8) and fit_and_score for ridge's alpha:
    fits on fit_rows, returns minus the MSE on the scored rows (higher is better). It records every call."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, 30)
    y = np.sin(3 * x) + 0.3 * rng.normal(size=30)
    features = np.stack([x ** p for p in range(9)], 1)
    calls = []

    def fit_and_score(alpha, fit_rows, scored_rows):
        fit_rows, scored_rows = np.asarray(fit_rows), np.asarray(scored_rows)
        calls.append((alpha, fit_rows.copy(), scored_rows.copy()))
        a = features[fit_rows]
        w = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ y[fit_rows])
        return -float(np.mean((features[scored_rows] @ w - y[scored_rows]) ** 2))

    return fit_and_score, calls


@register("cv-choose", "Choosing a setting by k-fold cross-validation", solution_cv_choose)
def check_cv_choose(answer) -> str | None:
    settings = [1e-6, 1e-3, 1e-1, 1.0, 10.0]
    for seed, n_folds in ((0, 5), (1, 3), (2, 10)):
        reference, _ = _ridge_problem(seed)
        want_best, want_means = solution_cv_choose(settings, reference, 30, n_folds, seed)
        fit_and_score, calls = _ridge_problem(seed)
        result = answer(list(settings), fit_and_score, 30, n_folds, seed)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            return "Return two things: (the chosen setting, the list of mean held-out scores, one per setting)."
        best, means = result
        for alpha, fit_rows, scored_rows in calls:
            if np.intersect1d(fit_rows, scored_rows).size:
                return ("A model was scored on rows it was fitted on: the held-out fold must not be among the "
                        "rows you pass as fit_rows.")
        per_setting = {a: [c for c in calls if c[0] == a] for a in settings}
        for alpha, made in per_setting.items():
            if len(made) != n_folds:
                return (f"Setting {alpha:g} was fitted {len(made)} times with n_folds = {n_folds}: one fit per "
                        "fold, each scored on that fold's held-out rows.")
            held = np.sort(np.concatenate([c[2] for c in made]))
            if not np.array_equal(held, np.arange(30)):
                return "Across the folds, every row must be held out exactly once (use the folds' own index arrays)."
        means = [float(m) for m in means]
        if not np.allclose(means, want_means, rtol=1e-6, atol=1e-9):
            return (f"The mean held-out scores differ from the reference's {np.round(want_means, 4).tolist()}: "
                    "cut np.random.default_rng(seed).permutation(n_rows) into n_folds parts with np.array_split, "
                    "and average each setting's held-out scores over the folds.")
        if float(best) != want_best:
            return (f"With mean scores {np.round(means, 4).tolist()} the choice is {want_best:g}, not {best}: "
                    "the scores are higher-is-better; pick the setting with the highest mean.")
    return None


def solution_majority_macro_f1(p):
    """Macro-F1 of "always the common class" on a binary task with a share p of the rare class: the rare class
    has no true positive (F1 = 0); the common class has precision 1 - p and recall 1, so
    F1 = 2 (1 - p) / (2 - p); the mean of the two is (1 - p) / (2 - p)."""
    return (1 - p) / (2 - p)


def _macro_f1_of_majority(n_rare: int, n: int) -> float:
    """Macro-F1 (zero_division=0) of predicting the common class for all n rows, n_rare of them rare: counted."""
    y = np.r_[np.ones(n_rare, dtype=int), np.zeros(n - n_rare, dtype=int)]
    pred = np.zeros(n, dtype=int)
    f1 = []
    for c in (0, 1):
        tp, fp, fn = np.sum((pred == c) & (y == c)), np.sum((pred == c) & (y != c)), np.sum((pred != c) & (y == c))
        f1.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1))


@register("majority-macro-f1", "The majority rule's macro-F1, derived", solution_majority_macro_f1)
def check_majority_macro_f1(answer) -> str | None:
    for n_rare, n in ((17, 84), (1, 10), (30, 60), (5, 100)):
        p = n_rare / n
        want = _macro_f1_of_majority(n_rare, n)
        got = float(answer(p))
        if abs(got - want) <= 1e-6:
            continue
        if abs(got - 2 * want) <= 1e-6:
            return ("That is the common class's F1 alone. Macro-F1 averages over *both* classes, and the rare one, "
                    "never predicted, has F1 = 0.")
        if abs(got - (1 - p)) <= 1e-6:
            return "That is the accuracy (1 − p). Macro-F1 averages each class's F1 = 2·precision·recall / (precision + recall)."
        return (f"For a rare-class share p = {p:.3f} ({n_rare} of {n} rows) the majority rule's macro-F1, counted, is "
                f"{want:.4f}; yours gives {got:.4f}. The common class: precision = 1 − p (every row is predicted "
                "common), recall = 1.")
    return None
