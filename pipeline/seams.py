"""The seams where a student's lab code replaces the reference: one mechanism for every stage and process.

Each lab asks the student to write a few plain functions that the reference holds in ``pipeline/``
(or ``dashboard/``) with the same signatures and docstrings; the plumbing around them stays the
reference's. Which implementation a stage runs comes from its ``Settings``:

* ``labs_dir`` empty (the default): the reference functions;
* ``labs_dir`` a labs folder (``LAB_LABS_DIR``, ``lab pipeline --labs DIR``): each lab's functions
  come from ``<labs_dir>/<folder>/<file>`` of that lab, for the labs in ``student_labs``
  (``LAB_STUDENT_LABS``: "all", or lab numbers such as "03" or "01,03"), the reference for the others.

``Settings`` travels with every stage into its worker processes (spawned or forked) and supervisor
programs read the same ``LAB_*`` variables, so all of them load the same code. A student module is
pickled by value (cloudpickle), so a Python UDF defined in it reaches Spark's executors too.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from pipeline import edition


@dataclass(frozen=True)
class Seam:
    """One lab's student-facing functions: where the student writes them and where the reference is."""

    lab: str  # "01"
    folder: str  # the lab's folder under labs/
    file: str  # the file of that folder the student edits
    reference: str  # the reference module
    functions: tuple[str, ...]

    def path(self, labs_dir: str | Path) -> Path:
        return Path(labs_dir) / self.folder / self.file


SEAMS = {seam.lab: seam for seam in (
    Seam("01", "01-contract", "contract.py", "pipeline.contract",
         ("split_fields", "identifier", "row_id", "validate")),
    Seam("02", "02-producer", "producer.py", "pipeline.produce",
         ("record_key", "headers", "send_records")),
    Seam("03", "03-hbase-sink", "sink.py", "pipeline.hbase_sink",
         ("row_key", "purchase_key", "cell")),
    Seam("04", "04-landing", "landing.py", "pipeline.landing",
         ("ingest_date", "file_name", "raw_line", "write_file")),
    Seam("05", "05-clean", "clean.py", "pipeline.clean",
         ("valid_events", "rejected_records", "deduplicate", "quality_counts")),
    Seam("06", "06-analytics", "analytics.py", "pipeline.analyze",
         ("funnel", "kpis", "top_products", "top_brands", "revenue_by_category", "daily", "hourly")),
    Seam("07", "07-streaming", "streaming.py", "pipeline.realtime",
         ("aggregates", "puts")),
    Seam("08", "08-dashboard", "api.py", "dashboard.api",
         ("kpis", "daily", "products", "live_totals", "customer", "unavailable")),
)}


def default_labs_dir() -> Path:
    """A student's labs folder: $LAB_LABS_DIR, else the ``labs/`` of this checkout (``/vagrant/labs`` in the VM)."""
    return Path(os.environ.get("LAB_LABS_DIR") or Path(__file__).resolve().parent.parent / "labs")


class StudentCodeError(RuntimeError):
    """A student's lab file cannot be used: missing, does not import, or lacks a function."""


def student_labs(value: str) -> frozenset[str] | None:
    """The labs a ``student_labs`` setting names (None for "all"); ValueError for an unknown lab."""
    value = value.strip()
    if value in ("", "all"):
        return None
    labs = frozenset(part.strip().zfill(2) for part in value.split(",") if part.strip())
    unknown = labs - SEAMS.keys()
    if unknown:
        raise ValueError(f"no lab {', '.join(sorted(unknown))} has student functions; "
                         f"those that do: {', '.join(SEAMS)}")
    return labs


def uses_student(settings, lab: str) -> bool:
    """Whether ``settings`` run the student's functions of ``lab`` (else the reference's): always in the
    student edition, which has no reference."""
    if edition.STUDENT_EDITION:
        return True
    if not settings.labs_dir:
        return False
    chosen = student_labs(settings.student_labs)
    return chosen is None or lab in chosen


def labs_dir_of(settings) -> Path:
    """The labs folder ``settings`` take students' files from (the default one when they name none)."""
    return Path(settings.labs_dir or default_labs_dir()).expanduser().resolve()


def load(settings, lab: str) -> ModuleType:
    """The module holding ``lab``'s functions for ``settings``: the student's file or the reference module."""
    seam = SEAMS[lab]
    if not uses_student(settings, lab):
        return importlib.import_module(seam.reference)
    return load_file(seam, labs_dir_of(settings))


def function(settings, lab: str, name: str):
    """One of ``lab``'s functions for ``settings`` (a shortcut for ``getattr(load(...), name)``)."""
    return getattr(load(settings, lab), name)


def student_function(lab: str, name: str):
    """The student edition's stand-in for a reference function: the student's own, from their labs folder
    ($LAB_LABS_DIR, else the checkout's labs/)."""
    seam = SEAMS[lab]
    function = getattr(load_file(seam, default_labs_dir().expanduser().resolve()), name)
    if function is getattr(importlib.import_module(seam.reference), name, None):  # it imported the stand-in
        raise NotImplementedError(f"lab {lab}: write {name} in labs/{seam.folder}/{seam.file}")
    return function


@lru_cache(maxsize=None)
def load_file(seam: Seam, labs_dir: Path) -> ModuleType:
    """Import a student's lab file (once per process), checking that it defines every function of the lab."""
    path = seam.path(labs_dir)
    if not path.is_file():
        raise StudentCodeError(f"lab {seam.lab}: {path} does not exist (copy it from the course's labs/{seam.folder})")
    name = f"lab_student_{seam.lab}_{seam.file.removesuffix('.py')}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        del sys.modules[name]
        raise StudentCodeError(f"lab {seam.lab}: {path} line {error.lineno}: syntax error: {error.msg}") from None
    except Exception as error:  # the student's module-level code failed: say how, in one line
        del sys.modules[name]
        raise StudentCodeError(f"lab {seam.lab}: importing {path} failed: {type(error).__name__}: {error}") from None
    missing = [f for f in seam.functions if not callable(getattr(module, f, None))]
    if missing:
        raise StudentCodeError(f"lab {seam.lab}: {path} does not define {', '.join(missing)}")
    _pickle_by_value(module)
    return module


def _pickle_by_value(module: ModuleType) -> None:
    """Spark's executors cannot import a student file by its made-up name: ship its functions by value."""
    if "pyspark" in sys.modules:  # the web process and the Kafka stages never load Spark
        from pyspark import cloudpickle

        cloudpickle.register_pickle_by_value(module)


def unfinished(error: BaseException) -> str | None:
    """One line for a student's unfinished or unusable lab code behind ``error`` (its causes, and the text
    of a Spark error that carries a Python one, included); None when the error is something else."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, StudentCodeError):
            return str(error)
        if isinstance(error, NotImplementedError):
            return f"not written yet: {error}"
        for line in str(error).splitlines():
            if line.startswith("NotImplementedError: "):
                return f"not written yet: {line.removeprefix('NotImplementedError: ')}"
        error = error.__cause__ or error.__context__
    return None


def write_reference_labs(directory: Path) -> Path:
    """A labs folder whose lab files are the reference functions (what a student who solved every lab has),
    and lab 08's page the reference's template, for tests and benchmarks of the labs' own commands and checks."""
    for seam in SEAMS.values():
        path = seam.path(directory)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"from {seam.reference} import {', '.join(seam.functions)}  # noqa: F401\n")
    page = Path(__file__).resolve().parent.parent / "dashboard" / "templates" / "lab08.html"
    (directory / SEAMS["08"].folder / "kpis.html").write_text(page.read_text(encoding="utf-8"), encoding="utf-8")
    return directory
