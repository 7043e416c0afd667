"""Each lab's starter file offers exactly the reference's functions, with their signatures and docstrings,
and bodies that only say which lab and step writes them."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

from pipeline import seams

pytestmark = pytest.mark.unit
LABS = Path(__file__).resolve().parents[2] / "labs"


@pytest.mark.parametrize("seam", seams.SEAMS.values(), ids=lambda seam: seam.folder)
def test_the_starter_has_the_reference_signatures_and_docstrings(seam):
    starter = seams.load_file(seam, LABS)
    reference = importlib.import_module(seam.reference)
    for name in seam.functions:
        mine, theirs = getattr(starter, name), getattr(reference, name)
        assert str(inspect.signature(mine)) == str(inspect.signature(theirs)), name
        assert inspect.getdoc(mine) == inspect.getdoc(theirs), name


@pytest.mark.parametrize("seam", seams.SEAMS.values(), ids=lambda seam: seam.folder)
def test_each_starter_body_raises_not_implemented_naming_its_lab_and_step(seam):
    tree = ast.parse(seam.path(LABS).read_text())
    bodies = {node.name: node.body for node in tree.body if isinstance(node, ast.FunctionDef)}
    for name in seam.functions:
        *docstring, statement = bodies[name]
        assert len(docstring) == 1, f"{name}: only its docstring before the raise"
        assert isinstance(statement, ast.Raise) and statement.exc.func.id == "NotImplementedError", name
        message = statement.exc.args[0].value
        assert message.startswith(f"lab {seam.lab}, step ") and seam.folder in message, message
