"""Every exercise's solution passes its checker; typical wrong answers get their specific hint."""

import pytest
import torch

from mtl_lessons.exercises import EXERCISES, check, feedback, reveal


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_solution_passes_its_checker(key):
    status, message = feedback(key, EXERCISES[key].solution)
    assert status == "correct", message


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_untouched_answer_is_not_attempted(key):
    def untouched(*args, **kwargs):
        raise NotImplementedError
    assert feedback(key, untouched)[0] == "not attempted"


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_reveal_shows_the_solution(key, capsys):
    source = reveal(key)
    assert "def " in source and source in capsys.readouterr().out


def test_check_prints_and_returns(capsys):
    assert check("weighted-objective", EXERCISES["weighted-objective"].solution) is True
    assert "Correct" in capsys.readouterr().out


def test_unknown_key_names_the_allowed_ones():
    with pytest.raises(ValueError, match="key='nope'.*weighted-objective"):
        check("nope", None)


def test_weighted_objective_hints():
    def summed(losses, w):
        return sum(wt * l.sum() for wt, l in zip(w, losses))

    def unweighted(losses, w):
        return sum(l.mean() for l in losses)

    def pooled(losses, w):
        return torch.cat(losses).mean()

    assert "Average per task" in feedback("weighted-objective", summed)[1]
    assert "weights w_t are not used" in feedback("weighted-objective", unweighted)[1]
    assert "pooled" in feedback("weighted-objective", pooled)[1]
    assert "0-dimensional" in feedback("weighted-objective", lambda l, w: [1.0])[1]


def test_training_step_hints():
    def no_zero_grad(model, opt, x, y, w):
        losses = ((model(x) - y) ** 2).mean(dim=(1, 2))
        (w * losses).sum().backward()
        opt.step()
        return losses.detach()

    def no_step(model, opt, x, y, w):
        return ((model(x) - y) ** 2).mean(dim=(1, 2)).detach()

    def unweighted(model, opt, x, y, w):
        losses = ((model(x) - y) ** 2).mean(dim=(1, 2))
        opt.zero_grad()
        losses.sum().backward()
        opt.step()
        return losses.detach()

    assert "zero_grad" in feedback("training-step", no_zero_grad)[1]
    assert "did not change" in feedback("training-step", no_step)[1]
    assert "ignores the task weights" in feedback("training-step", unweighted)[1]
    assert "raised ZeroDivisionError" in feedback("training-step", lambda *a: 1 / 0)[1]
