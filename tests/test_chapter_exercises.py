"""Chapters 1 and 2's derivation and predict-then-run exercises: specific hints, judged predictions."""

import pytest

from mtl_lessons.exercises import EXERCISES, PREDICTIONS, feedback, predict

head_gradient = EXERCISES["task-head-gradient"].solution


def scaled(factor_w, factor_b=None):
    def answer(features, y, v, b, w):
        gw, gb = head_gradient(features, y, v, b, w)
        return factor_w(gw, len(y), w), (factor_w if factor_b is None else factor_b)(gb, len(y), w)
    return answer


def test_head_gradient_hints():
    assert "factor 2" in feedback("task-head-gradient", scaled(lambda g, n, w: g / 2))[1]
    assert "divide the sum by n_t" in feedback("task-head-gradient", scaled(lambda g, n, w: g * n))[1]
    assert "w_t is missing" in feedback("task-head-gradient", scaled(lambda g, n, w: g / w))[1]
    assert "sign is flipped" in feedback("task-head-gradient", scaled(lambda g, n, w: -g))[1]
    assert "Return two things" in feedback("task-head-gradient", lambda *a: 0.0)[1]
    assert "shape" in feedback("task-head-gradient", lambda f, y, v, b, w: (v[:2], b))[1]


def test_head_gradient_checks_the_bias_too():
    wrong_bias = scaled(lambda g, n, w: g, lambda g, n, w: 0 * g)
    assert feedback("task-head-gradient", wrong_bias)[0] == "wrong"


@pytest.mark.parametrize("key, bad", [("data-size-advantage", 5), ("data-size-advantage", "8"),
                                      ("unrelated-best-depth", 3), ("unrelated-best-depth", True)])
def test_predictions_of_the_wrong_form_say_what_is_wanted(key, bad, capsys):
    measured = {4: 0.9, 8: 2.0, 64: 1.4} if key == "data-size-advantage" else [0.4, 0.3, 0.5]
    assert predict(key, bad, measured) is False
    assert "got" in capsys.readouterr().out


def test_predictions_accept_numpy_ints():
    import numpy as np
    assert predict("data-size-advantage", np.int64(8), {4: 0.9, 8: 2.0, 64: 1.4}) is True
    assert predict("unrelated-best-depth", np.int64(1), np.array([0.4, 0.3, 0.5])) is True
    assert {"data-size-advantage", "unrelated-best-depth"} <= set(PREDICTIONS)
