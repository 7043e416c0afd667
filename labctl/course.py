"""The course: its numbered labs, where each lives under labs/, and the files a student edits in each."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from labctl import provision
from pipeline.seams import SEAMS

KINDS = ("pure", "stack", "spark")  # no services; Kafka/HBase/HDFS; Spark
# Files of a lab's folder that are the instructor's, not the student's (left out of the student edition).
INSTRUCTOR_FILES = frozenset({"hidden_checks.py", "mutants.yml"})


@dataclass(frozen=True)
class Lab:
    """One lab: its number ("01"), folder under labs/, title, planned minutes and kind (see KINDS)."""

    number: str
    folder: str
    title: str
    minutes: int
    kind: str


LABS: dict[str, Lab] = {lab.number: lab for lab in (
    Lab("00", "00-tour", "Tour of the stack", 45, "stack"),
    Lab("01", "01-contract", "The data contract", 60, "pure"),
    Lab("02", "02-producer", "The producer: CSV to Kafka", 45, "stack"),
    Lab("03", "03-hbase-sink", "The HBase sink and its row key", 60, "stack"),
    Lab("04", "04-landing", "HDFS raw landing, exactly once", 60, "stack"),
    Lab("05", "05-clean", "Spark cleaning", 60, "spark"),
    Lab("06", "06-analytics", "Spark SQL analytics", 60, "spark"),
    Lab("07", "07-streaming", "Structured Streaming into HBase", 60, "spark"),
    Lab("08", "08-dashboard", "The dashboard API", 60, "stack"),
    Lab("09", "09-capstone", "Capstone: the whole pipeline and failure drills", 90, "spark"),
)}


class UnknownLab(LookupError):
    """A lab number the course does not have."""


def course_labs_dir() -> Path:
    """The course's own labs/ folder (in the checkout `lab` runs from)."""
    return provision.REPO / "labs"


def lab(number: str | int) -> Lab:
    """The lab numbered ``number`` ("1", "01" or 1); UnknownLab naming the labs that exist."""
    key = str(number).strip().zfill(2)
    if key not in LABS:
        raise UnknownLab(f"no lab {number!r}; the labs are {', '.join(LABS)}")
    return LABS[key]


def checks_file(number: str | int, labs_dir: Path | None = None) -> Path:
    """labs/<folder>/checks.py of a lab: its public checks (in the course's labs/ unless ``labs_dir``)."""
    return (labs_dir or course_labs_dir()) / lab(number).folder / "checks.py"


def hidden_checks_file(number: str | int) -> Path:
    """labs/<folder>/hidden_checks.py of a lab: the checks that run at grading time only (instructor only)."""
    return course_labs_dir() / lab(number).folder / "hidden_checks.py"


def student_files(number: str | int, labs_dir: Path) -> list[Path]:
    """The files of a lab the student writes in ``labs_dir``: the lab folder's Python files but checks.py
    (the seam file and any helper beside it), its YAML (lab 00's answers) and HTML (lab 08's page); the
    capstone's are also every seam file."""
    chosen = lab(number)
    folders = [chosen.folder]
    if chosen.number == "09":
        folders += [seam.folder for seam in SEAMS.values()]
    files: set[Path] = set()
    for folder in folders:
        directory = labs_dir / folder
        if directory.is_dir():
            files.update(p for pattern in ("*.py", "*.yml", "*.html") for p in directory.rglob(pattern)
                         if p.name not in INSTRUCTOR_FILES | {"checks.py"} and "__pycache__" not in p.parts)
    return sorted(files)


def files_hash(number: str | int, labs_dir: Path) -> str:
    """A SHA-256 over the names and contents of ``student_files`` (changes when the student edits one)."""
    digest = hashlib.sha256()
    for path in student_files(number, labs_dir):
        digest.update(str(path.relative_to(labs_dir)).encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"\0unreadable")
        digest.update(b"\0")
    return digest.hexdigest()
