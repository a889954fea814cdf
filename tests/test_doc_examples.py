"""Every `>>>` example in the package runs, as written, and shows what it says it shows."""

import doctest
import importlib
import pkgutil

import pytest

import mtl_lessons

MODULES = sorted(m.name for m in pkgutil.walk_packages(mtl_lessons.__path__, "mtl_lessons."))


def test_the_package_has_examples():
    found = sum(len(doctest.DocTestFinder().find(importlib.import_module(name))) for name in MODULES)
    assert found >= 5, f"only {found} docstrings with examples in the package"


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of the {result.attempted} examples in {name} fail (details above)"
