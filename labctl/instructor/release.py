"""`lab release`: the student edition of the repository.

The tree as committed, less what gives answers away or is the instructor's: the tests and benches
(plain-Python references, DuckDB's SQL), CI, these tools, each lab's hidden checks and mutants, and
the README's instructor sections (between ``<!-- BEGIN INSTRUCTOR -->`` and ``<!-- END INSTRUCTOR -->``).
Solution regions are stripped, as nbgrader does: in a reference module, a region between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` inside a function a lab asks for becomes a hand-over to
the student's own function (``seams.student_function``), one at module level (a private helper) goes;
in a template, ``{# BEGIN SOLUTION: text #}`` ... ``{# END SOLUTION #}`` becomes ``text``.
``pipeline/edition.py`` says STUDENT_EDITION = True, so every stage runs the student's labs.
With ``solutions``, the labs' files are the reference solutions instead of the starters.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

from labctl import course
from labctl.instructor import solutions
from pipeline.seams import SEAMS

REPO = solutions.REPO
LEFT_OUT = ("tests/", "bench/", ".ci/", "labctl/instructor/")
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
TEMPLATE_REGION = re.compile(r"^[ \t]*\{#-?\s*BEGIN SOLUTION:\s*(.*?)\s*-?#\}[ \t]*\n.*?^[ \t]*\{#-?\s*END SOLUTION\s*-?#\}[ \t]*\n",
                             re.M | re.S)
INSTRUCTOR_REGION = re.compile(r"^<!-- BEGIN INSTRUCTOR -->\n.*?^<!-- END INSTRUCTOR -->\n", re.M | re.S)
EDITION = "pipeline/edition.py"


class ReleaseError(RuntimeError):
    """The student edition cannot be written (an unbalanced marker, a target that is not empty, ...)."""


def tracked_files() -> list[str]:
    """The repository's files (those git tracks or would: not ignored), relative to its root."""
    try:
        listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise ReleaseError(f"`lab release` works from a git checkout of the course: {error}") from None
    return sorted(set(name for name in listed.decode().split("\0") if name and (REPO / name).is_file()))


def left_out(name: str) -> bool:
    """Whether a file of the repository stays out of the student edition."""
    parts = name.split("/")
    return (name.startswith(LEFT_OUT) or (parts[0] == "labs" and parts[-1] in course.INSTRUCTOR_FILES))


def _regions(lines: list[str], name: str) -> list[tuple[int, int]]:
    """(begin, end) line indexes of the solution regions of a Python file."""
    regions, begin = [], None
    for index, line in enumerate(lines):
        marker = line.strip()
        if marker == BEGIN:
            if begin is not None:
                raise ReleaseError(f"{name} line {index + 1}: {BEGIN} inside another region")
            begin = index
        elif marker == END:
            if begin is None:
                raise ReleaseError(f"{name} line {index + 1}: {END} without {BEGIN}")
            regions.append((begin, index))
            begin = None
    if begin is not None:
        raise ReleaseError(f"{name} line {begin + 1}: {BEGIN} never ends")
    return regions


def _call(function: ast.FunctionDef) -> str:
    """The arguments of a call that passes a function's parameters on: "record" or "kafka, topic, *, x=x"."""
    arguments = function.args
    parts = [a.arg for a in arguments.posonlyargs + arguments.args]
    if arguments.vararg:
        parts.append("*" + arguments.vararg.arg)
    parts += [f"{a.arg}={a.arg}" for a in arguments.kwonlyargs]
    if arguments.kwarg:
        parts.append("**" + arguments.kwarg.arg)
    return ", ".join(parts)


def strip_python(text: str, name: str, lab: str) -> str:
    """A reference module without its solution regions (see the module's docstring)."""
    lines = text.split("\n")
    functions = [node for node in ast.walk(ast.parse(text)) if isinstance(node, ast.FunctionDef)]
    seam = SEAMS[lab]
    for begin, end in reversed(_regions(lines, name)):
        inside = [f for f in functions if f.lineno - 1 < begin < f.end_lineno]  # BEGIN before its last line
        if not inside:
            del lines[begin:end + 1]
            continue
        function = max(inside, key=lambda f: f.lineno)
        if function.name not in seam.functions:
            raise ReleaseError(f"{name} line {begin + 1}: a solution region in {function.name}, "
                               f"which lab {lab} does not ask for")
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        lines[begin:end + 1] = [
            f"{indent}from pipeline import seams  # the student edition: yours is labs/{seam.folder}/{seam.file}",
            "",
            f"{indent}return seams.student_function({lab!r}, {function.name!r})({_call(function)})",
        ]
    stripped = re.sub(r"\n{4,}", "\n\n\n", "\n".join(lines))  # where a helper went
    ast.parse(stripped)  # still Python
    return stripped


def strip_template(text: str) -> str:
    return TEMPLATE_REGION.sub(lambda match: match.group(1) + "\n", text)


def student_text(name: str, text: str) -> str:
    """A file of the repository as the student edition has it."""
    modules = {seam.reference.replace(".", "/") + ".py": seam.lab for seam in SEAMS.values()}
    if name in modules:
        return strip_python(text, name, modules[name])
    if name == EDITION:
        replaced = text.replace("STUDENT_EDITION = False", "STUDENT_EDITION = True")
        if replaced == text:
            raise ReleaseError(f"{name} does not say STUDENT_EDITION = False")
        return replaced
    if name.endswith(".html"):
        return strip_template(text)
    if name.endswith(".md"):
        return INSTRUCTOR_REGION.sub("", text)
    return text


def release(out: Path, with_solutions: bool = False) -> list[str]:
    """Write the student edition into ``out`` (new or empty); the files written, relative to it."""
    out = Path(out).expanduser().resolve()
    if out.exists() and any(out.iterdir()):
        raise ReleaseError(f"{out} is not empty: give a new folder")
    if out == REPO or REPO in out.parents:
        raise ReleaseError(f"{out} is inside the course's checkout: give a folder outside it")
    written = []
    for name in tracked_files():
        if left_out(name):
            continue
        source = REPO / name
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            text = source.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            shutil.copyfile(source, target)
        else:
            target.write_text(student_text(name, text), encoding="utf-8")
        shutil.copymode(source, target)
        written.append(name)
    if with_solutions:
        solutions.write_solutions(out / "labs")
    return written
