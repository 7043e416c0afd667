"""The reference solutions written as a student's lab files, and the realistic mistakes (mutants) each
lab's checks must catch.

A lab's solution file is made from its reference module (``pipeline/contract.py`` for lab 01's
``contract.py``): the functions the lab asks for and the module's solution regions (its private
helpers), the module's imports, and the rest of what it defines imported from it (see
``solution_text``). A mutant is one such file with one edit, kept in ``labs/<folder>/mutants.yml``
(instructor only):

```yaml
- name: row_key_without_zero_padding          # unique in the lab
  mistake: the user id is not zero-padded, so user 5 sorts between 49 and 50
  file: 03-hbase-sink/sink.py                 # optional: default, the lab's own file
  find: "{event.user_id:019d}"                # must occur exactly once in the solution file
  replace: "{event.user_id}"
  caught_by: [row_keys_sort_by_user_then_time]  # the checks (public or hidden) it must fail
```
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from labctl import course
from pipeline.seams import SEAMS

MARKER = re.compile(r"^\s*(?:###|\{#-?)\s*(?:BEGIN|END) SOLUTION\b.*$\n?", re.M)
REPO = Path(__file__).resolve().parents[2]
# Solution files that are not a seam's module: lab 08's page is the dashboard's own template.
EXTRA_SOLUTIONS = {"08-dashboard/kpis.html": REPO / "dashboard" / "templates" / "lab08.html"}


class MutantError(ValueError):
    """A mutants.yml entry that cannot be applied (unknown file, text not found exactly once, ...)."""


def solution_sources() -> dict[str, Path]:
    """Each solution file, relative to a labs folder ("01-contract/contract.py"), and its reference source."""
    sources = {f"{seam.folder}/{seam.file}": REPO / (seam.reference.replace(".", "/") + ".py")
               for seam in SEAMS.values()}
    return sources | EXTRA_SOLUTIONS


def _seam_of(source: Path):
    for seam in SEAMS.values():
        if REPO / (seam.reference.replace(".", "/") + ".py") == source:
            return seam
    return None


def solution_text(source: Path) -> str:
    """A reference file as a student's solution file. A template loses its solution markers. A module
    keeps its imports, its solution regions and the functions the lab asks for, and imports every other
    name it defines from the reference module, so the classes and constants the checks compare with
    stay the same objects (and the reference's module-level side effects do not run twice)."""
    text = source.read_text(encoding="utf-8")
    seam = _seam_of(source)
    if seam is None:
        return MARKER.sub("", text)
    lines = text.split("\n")
    begins = [n for n, line in enumerate(lines, start=1) if line.strip() == "### BEGIN SOLUTION"]
    ends = [n for n, line in enumerate(lines, start=1) if line.strip() == "### END SOLUTION"]
    regions = list(zip(begins, ends))
    tree = ast.parse(text)
    future, imports, kept, imported = [], [], [], []
    for node in tree.body:
        segment = "\n".join(lines[node.lineno - 1:node.end_lineno])
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and node is tree.body[0]:
            continue  # the module's docstring
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            future.append(segment)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(segment)
        elif any(b < node.lineno < e for b, e in regions) or (
                isinstance(node, ast.FunctionDef) and node.name in seam.functions):
            kept.append((isinstance(node, (ast.FunctionDef, ast.ClassDef)), MARKER.sub("", segment + "\n").rstrip()))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            imported.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            imported += [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    if imported:
        imports.append(f"from {seam.reference} import {', '.join(imported)}  # noqa: F401 (given)")
    out = f'"""Lab {seam.lab}: the reference solution, written as a student\'s {seam.file}."""\n\n'
    out += "".join(line + "\n" for line in future) + "\n" + "\n".join(imports) + "\n"
    previous_def = True
    for is_def, segment in kept:
        out += ("\n\n\n" if is_def or previous_def else "\n") + segment
        previous_def = is_def
    return out + "\n"


def files_of(lab: str) -> list[str]:
    """The solution files of a lab (relative to a labs folder); the capstone's are every lab's."""
    number = course.lab(lab).number
    return [name for name in solution_sources()
            if number == "09" or name.split("/", 1)[0] == course.LABS[number].folder]


def write_solutions(labs_dir: Path, lab: str | None = None) -> Path:
    """Write the solution files of ``lab`` (every lab's when None) into ``labs_dir``."""
    names = files_of(lab) if lab is not None else list(solution_sources())
    sources = solution_sources()
    for name in names:
        target = labs_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(solution_text(sources[name]), encoding="utf-8")
    return labs_dir


@dataclass(frozen=True)
class Mutant:
    """One realistic mistake: an edit of a solution file that the named checks must catch."""

    lab: str
    name: str
    mistake: str
    file: str
    find: str
    replace: str
    caught_by: tuple[str, ...]


def mutants_file(lab: str) -> Path:
    return course.course_labs_dir() / course.lab(lab).folder / "mutants.yml"


def load_mutants(lab: str) -> list[Mutant]:
    """The mutants of a lab ([] when it has no mutants.yml), each checked to apply."""
    number = course.lab(lab).number
    path = mutants_file(number)
    if not path.is_file():
        return []
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    own = [name for name in files_of(number) if name.startswith(course.LABS[number].folder + "/")]
    mutants, seen = [], set()
    for entry in entries:
        try:
            mutant = Mutant(number, str(entry["name"]), " ".join(str(entry["mistake"]).split()),
                            str(entry.get("file") or (own[0] if own else "")), str(entry["find"]),
                            str(entry["replace"]), tuple(entry["caught_by"]))
        except (KeyError, TypeError) as error:
            raise MutantError(f"{path}: an entry lacks {error}: {entry!r}") from None
        if mutant.name in seen:
            raise MutantError(f"{path}: two mutants are named {mutant.name}")
        seen.add(mutant.name)
        if not mutant.caught_by:
            raise MutantError(f"{path}: mutant {mutant.name} names no check that catches it")
        mutate(solution_sources_text(mutant.file), mutant)  # raises when the edit does not apply
        mutants.append(mutant)
    return mutants


def solution_sources_text(name: str) -> str:
    sources = solution_sources()
    if name not in sources:
        raise MutantError(f"no solution file {name!r}; they are {', '.join(sources)}")
    return solution_text(sources[name])


def mutate(text: str, mutant: Mutant) -> str:
    count = text.count(mutant.find)
    if count != 1:
        raise MutantError(f"lab {mutant.lab} mutant {mutant.name}: {mutant.find!r} occurs {count} times "
                          f"in {mutant.file} (it must occur once)")
    return text.replace(mutant.find, mutant.replace)


def write_mutant(labs_dir: Path, mutant: Mutant) -> Path:
    """The solution files of the mutant's lab in ``labs_dir``, with the mutant's edit."""
    write_solutions(labs_dir, mutant.lab)
    target = labs_dir / mutant.file
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(mutate(solution_sources_text(mutant.file), mutant), encoding="utf-8")
    return labs_dir
