"""`lab grade NN SUBMISSIONS --out GRADES`: grade a class, one submission at a time (or in parallel for a
lab without services), each isolated from the others and from the instructor's files.

SUBMISSIONS holds one folder or ``.zip`` per student, named by the student's id; each is the student's
``labs/`` folder or their whole release tree (a zip may wrap either in one top folder). Per student:
the lab's files (only those, copied afresh: no leftovers) are checked by the public and hidden checks,
on a dataset seeded from the student id, the lab and the instructor's secret, under TZ=GRADING_ZONE,
in a namespace of the
student's own that is dropped afterwards, by a worker running as the unprivileged grading account
(it gets the checks as text and the seed, never the checks' files or the secret). Kafka topics, HBase
tables and HDFS trees outside that namespace are compared before and after: a change is reported.

GRADES gets ``grades.csv``, and per student ``results.json`` (Gradescope's format), ``feedback.md``
(for the student) and ``log.txt`` (for the instructor: messages, tracebacks, output). A rerun skips
the submissions already graded with the same files, checks and secret (``force`` regrades).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from labctl import check_runner, course
from labctl.instructor.verify import SELF_CHECKED, ZONES, time_zone

GRADING_CONFIG = Path("/etc/ecommerce-lab/grading.yml")  # written by ansible/roles/common
SECRET_FILE = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "ecommerce-lab" / "grading-secret"
STUDENT_LIMIT_S = {"pure": 120, "stack": 600, "spark": 900}  # a whole submission, by the lab's kind
CODE_PACKAGES = ("labctl", "pipeline", "dashboard", "datasets")
# Student code runs in this time zone whatever the grading machine's: the same grade everywhere, and a
# local-time mistake shows (UTC+05:45 shifts hours and dates).
GRADING_ZONE = ZONES[1]
ZIP_LIMIT_BYTES = 200 * 1024 * 1024  # an unpacked submission larger than this is refused


class GradingError(RuntimeError):
    """Grading cannot start (no submissions, not root, no grading account, ...)."""


@dataclass
class Grade:
    """One student's grade in one lab."""

    student: str
    lab: str
    score: int
    max_score: int
    status: str  # ok, timeout or error
    seconds: float
    checks: list[dict] = field(default_factory=list)  # name, points, max_points, status, message, hint, hidden
    problem: str = ""  # why the submission could not be graded (status error)
    touched: list[str] = field(default_factory=list)  # what changed outside its namespace
    key: str = ""  # what the grade depends on: files, checks, secret (a rerun with the same key skips it)


# ---------------------------------------------------------------------------------------------------
# The instructor's side: secret, account, code snapshot


def grading_secret(path: Path = SECRET_FILE) -> str:
    """The instructor's secret (``$LAB_GRADING_SECRET``, else a file made once, readable by its owner only)."""
    if os.environ.get("LAB_GRADING_SECRET"):
        return os.environ["LAB_GRADING_SECRET"]
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
    path.chmod(0o600)
    return path.read_text().strip()


def student_seed(secret: str, student: str, lab: str) -> int:
    """The seed of a student's grading data: hard-coded counts from another seed fail."""
    return int(hashlib.sha256(f"{secret}\0{student}\0{lab}".encode()).hexdigest()[:8], 16)


def grading_account() -> check_runner.Account:
    """The account student code runs as (/etc/ecommerce-lab/grading.yml); grading needs root to use it."""
    if os.geteuid() != 0:
        raise GradingError("`lab grade` runs each student's code as an unprivileged account: run it as root "
                           "(sudo lab grade ...)")
    try:
        name = (yaml.safe_load(GRADING_CONFIG.read_text()) or {})["account"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        raise GradingError(f"{GRADING_CONFIG} does not name the grading account: run `sudo ./lab up --provision`") from None
    return check_runner.Account.named(name)


def protect_instructor_files() -> None:
    """Hidden checks and mutants readable by their owner only (the grading account cannot open them)."""
    for lab in course.LABS.values():
        for name in course.INSTRUCTOR_FILES:
            path = course.course_labs_dir() / lab.folder / name
            if path.is_file():
                path.chmod(path.stat().st_mode & ~(stat.S_IRWXG | stat.S_IRWXO))


def code_snapshot(into: Path) -> Path:
    """The lab's Python packages, without the instructor's tools, where the grading account can read them."""
    root = Path(__file__).resolve().parents[2]
    for package in CODE_PACKAGES:
        shutil.copytree(root / package, into / package,
                        ignore=shutil.ignore_patterns("__pycache__", "instructor", "*.pyc"))
    _readable(into)
    return into


def _readable(path: Path) -> None:
    """Owned by the caller, readable (not writable) by everyone."""
    for directory, _, files in os.walk(path):
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(Path(directory) / name, 0o644)


# ---------------------------------------------------------------------------------------------------
# Submissions


def submissions(folder: Path) -> dict[str, Path]:
    """Student id: submission (a folder or a .zip), sorted by id."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"{folder} is not a folder of submissions")
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        student = entry.name.removesuffix(".zip") if entry.suffix == ".zip" and entry.is_file() else entry.name
        if entry.is_dir() or entry.suffix == ".zip":
            if student in found:
                raise GradingError(f"two submissions for {student}: a folder and a zip")
            found[student] = entry
    if not found:
        raise GradingError(f"{folder} holds no submissions (one folder or .zip per student)")
    return found


def _unzip(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as bundle:
        if sum(item.file_size for item in bundle.infolist()) > ZIP_LIMIT_BYTES:
            raise GradingError(f"{archive.name} unpacks to more than {ZIP_LIMIT_BYTES // 2**20} MB")
        for item in bundle.infolist():
            target = (into / item.filename).resolve()
            if not target.is_relative_to(into.resolve()):
                raise GradingError(f"{archive.name} has a path outside itself: {item.filename}")
        bundle.extractall(into)


def labs_folder(root: Path) -> Path | None:
    """The labs folder of an unpacked submission: itself, its labs/, or either inside one top folder."""
    def holds_labs(path: Path) -> bool:
        return path.is_dir() and any((path / lab.folder).is_dir() for lab in course.LABS.values())

    for candidate in (root, root / "labs"):
        if holds_labs(candidate):
            return candidate
    inner = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))] if root.is_dir() else []
    if len(inner) == 1:
        return labs_folder(inner[0])
    return None


def lab_copy(source_labs: Path, lab: str, into: Path) -> Path:
    """A fresh labs folder holding only the student's files of ``lab`` (the capstone: every lab's)."""
    for path in course.student_files(lab, source_labs):
        if path.is_symlink():
            continue  # a link could point at another student's files or the instructor's
        target = into / path.relative_to(source_labs)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    into.mkdir(parents=True, exist_ok=True)
    _readable(into)
    return into


# ---------------------------------------------------------------------------------------------------
# Footprint: what exists outside a run's namespace


def footprint(settings) -> dict[str, str]:
    """Every Kafka topic (with its end offsets), HBase table and namespace HDFS tree (size and counts)."""
    seen: dict[str, str] = {}
    try:
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, client_id="lab-grade-footprint")
        try:
            for topic in sorted(consumer.topics()):
                partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
                seen[f"kafka topic {topic}"] = str(sum(consumer.end_offsets(partitions).values()))
        finally:
            consumer.close()
    except Exception as error:  # noqa: BLE001 - a service down: say so instead of guessing
        seen["kafka"] = f"unreadable: {type(error).__name__}"
    try:
        with settings.hbase_using() as connection:
            for table in connection.tables():
                seen[f"hbase table {table.decode()}"] = ""
    except Exception as error:  # noqa: BLE001
        seen["hbase"] = f"unreadable: {type(error).__name__}"
    try:
        client = settings.webhdfs()
        for name in client.list(settings.hdfs_base):
            summary = client.content(f"{settings.hdfs_base}/{name}")
            seen[f"hdfs {settings.hdfs_base}/{name}"] = (
                f"{summary['length']}/{summary['fileCount']}/{summary['directoryCount']}")
    except Exception as error:  # noqa: BLE001
        seen["hdfs"] = f"unreadable: {type(error).__name__}"
    return seen


# The scratch namespace of a `lab check` run (check_runner.namespace_for): other runs' come and go meanwhile.
CHECK_RUN = re.compile(r"(?:^|/)c[0-9]{2}_[a-z0-9_]*_[0-9a-f]{6}(?:$|[._])")


def _owned_by(key: str, namespace: str) -> bool:
    name = key.split(" ", 2)[-1]
    return name.startswith((f"{namespace}.", f"{namespace}_")) or name.endswith(f"/{namespace}")


def _check_run(key: str) -> bool:
    return bool(CHECK_RUN.search(key.split(" ", 2)[-1]))


def changes(before: dict[str, str], after: dict[str, str], namespace: str, moving: set[str]) -> list[str]:
    """What appeared, went or changed between two footprints, outside ``namespace`` and the scratch
    namespaces of other check runs; ``moving``: keys that change on their own (a running demo), whose
    existence only is compared."""
    found = []
    for key in sorted(before.keys() | after.keys()):
        if _owned_by(key, namespace) or _check_run(key) or key in ("kafka", "hbase", "hdfs"):
            continue
        if key not in before:
            found.append(f"created {key}")
        elif key not in after:
            found.append(f"deleted {key}")
        elif before[key] != after[key] and key not in moving:
            found.append(f"changed {key}")
    return found


# ---------------------------------------------------------------------------------------------------
# Grading one submission


@dataclass
class Session:
    """What the grading of a class shares."""

    lab: str
    out: Path
    secret: str
    account: check_runner.Account | None
    code_root: Path | None
    scratch: Path
    limit_s: float
    settings: object
    watch: bool  # compare footprints (labs with services)
    moving: set[str] = field(default_factory=set)
    checks_key: str = ""
    force: bool = False  # regrade submissions graded before


def _checks_key(lab: str) -> str:
    digest = hashlib.sha256()
    for item in check_runner.checks_files(lab, hidden=True):
        digest.update((item["source"] or Path(item["path"]).read_text(encoding="utf-8")).encode() + b"\0")
    return digest.hexdigest()


def _key(session: Session, labs: Path | None) -> str:
    files = course.files_hash(session.lab, labs) if labs else "none"
    return hashlib.sha256(f"{session.lab}\0{files}\0{session.checks_key}\0{session.secret}".encode()).hexdigest()


def grade_one(session: Session, student: str, submission: Path) -> Grade:
    """Grade one submission; whatever it does costs only its own grade."""
    lab = session.lab
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="student-", dir=session.scratch))
    os.chmod(work, 0o755)  # the grading account reads the lab's copy in it, not the submission itself
    try:
        unpacked = work / "submission"
        try:
            if submission.is_dir():
                shutil.copytree(submission, unpacked, symlinks=True)
            else:
                unpacked.mkdir()
                _unzip(submission, unpacked)
            os.chmod(unpacked, 0o700)
        except (OSError, zipfile.BadZipFile, GradingError) as error:
            return _error_grade(session, student, f"cannot read the submission: {error}", started)
        source = labs_folder(unpacked)
        if source is None:
            return _error_grade(session, student, "no labs folder in the submission (expected labs/<NN-name>/ "
                                "or the lab folders themselves)", started)
        key = _key(session, source)
        previous = load_grade(session.out, student)
        if previous is not None and previous.key == key and not session.force:
            return previous
        labs = lab_copy(source, lab, work / "labs")
        if not course.student_files(lab, labs):
            return _error_grade(session, student, f"no files of lab {lab} in the submission (expected "
                                f"labs/{course.LABS[lab].folder}/)", started, key)
        before = footprint(session.settings) if session.watch else {}
        try:
            result = check_runner.run_lab(
                lab, labs, hidden=True, inline=True, seed=student_seed(session.secret, student, lab), user=student,
                account=session.account, code_root=session.code_root, limit_s=session.limit_s)
        except check_runner.CheckRunnerError as error:
            return _error_grade(session, student, str(error).replace(f"{labs}/", "labs/"), started, key)
        touched = changes(before, footprint(session.settings), result.namespace, session.moving) \
            if session.watch else []
        statuses = {c.status for c in result.checks}
        status = ("timeout" if "timeout" in statuses
                  else "error" if result.checks and statuses == {"error"} else "ok")
        grade = Grade(student, lab, result.points, result.max_points, status,
                      round(time.monotonic() - started, 1),
                      [{"name": c.name, "points": c.points, "max_points": c.max_points, "status": c.status,
                        "message": c.message.replace(f"{labs}/", "labs/"), "hint": c.hint, "hidden": c.hidden, "seconds": c.seconds,
                        "output": c.output[-4000:], "traceback": c.traceback[-4000:]} for c in result.checks],
                      touched=touched, key=key)
        write_outputs(session.out, grade)
        return grade
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _error_grade(session: Session, student: str, problem: str, started: float, key: str = "") -> Grade:
    grade = Grade(student, session.lab, 0, max_points(session.lab), "error", round(time.monotonic() - started, 1),
                  problem=problem, key=key)
    write_outputs(session.out, grade)
    return grade


def max_points(lab: str) -> int:
    """The points of a lab's public and hidden checks (read without running them)."""
    from labctl import checking

    total = 0
    for item in check_runner.checks_files(lab, hidden=True):
        _, checks = checking.load_checks(Path(item["path"]), item["source"])
        total += sum(c.points for c in checks)
    return total


# ---------------------------------------------------------------------------------------------------
# Outputs


def student_dir(out: Path, student: str) -> Path:
    return out / student


def load_grade(out: Path, student: str) -> Grade | None:
    try:
        data = json.loads((student_dir(out, student) / "grade.json").read_text())
        return Grade(**data)
    except (OSError, ValueError, TypeError):
        return None


def results_json(grade: Grade) -> dict:
    """Gradescope's results.json: hidden checks are shown once the grades are published."""
    lab = course.LABS[grade.lab]
    tests = []
    for number, item in enumerate(grade.checks, start=1):
        visible = not item["hidden"]
        detail = item["message"] if visible else ""
        output = "\n".join(part for part in (
            "passed" if item["status"] == "passed" else f"{item['status']}: {detail}".rstrip(": "),
            "" if item["status"] == "passed" else f"Hint: {item['hint']}" if item["hint"] else "") if part)
        tests.append({"name": item["name"].replace("_", " "), "number": str(number), "score": item["points"],
                      "max_score": item["max_points"], "output": output,
                      "visibility": "visible" if visible else "after_published"})
    public = [c for c in grade.checks if not c["hidden"]]
    lines = [f"Lab {grade.lab}, {lab.title}: {grade.score}/{grade.max_score} points."]
    if public:
        lines.append(f"Public checks: {sum(c['points'] for c in public)}/{sum(c['max_points'] for c in public)}. "
                     "Hidden checks are shown when the grades are published.")
    if grade.problem:
        lines.append(f"Your submission could not be graded: {grade.problem}")
    return {"score": grade.score, "max_score": grade.max_score, "execution_time": round(grade.seconds),
            "output": " ".join(lines), "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def feedback_md(grade: Grade) -> str:
    """What the student reads: each check, what went wrong and a hint (hidden checks: the hint only)."""
    lab = course.LABS[grade.lab]
    lines = [f"# Lab {grade.lab}: {lab.title}", "", f"**{grade.score}/{grade.max_score} points**", ""]
    if grade.problem:
        lines += [f"Your submission could not be graded: {grade.problem}", ""]
    for hidden in (False, True):
        shown = [c for c in grade.checks if c["hidden"] == hidden]
        if not shown:
            continue
        lines += ["## Hidden checks" if hidden else "## Checks", ""]
        for item in shown:
            mark = "✓" if item["status"] == "passed" else "✗"
            lines.append(f"- {mark} {item['name'].replace('_', ' ')}: {item['points']}/{item['max_points']}")
            if item["status"] != "passed":
                if not hidden and item["message"]:
                    lines.append(f"  - {item['status']}: {item['message']}")
                if item["hint"]:
                    lines.append(f"  - Hint: {item['hint']}")
        lines.append("")
    if grade.status == "timeout":
        lines += ["Some checks ran out of time: look for an endless loop or a wait.", ""]
    return "\n".join(lines)


def log_txt(grade: Grade) -> str:
    """The instructor's log of a grade: every message, traceback and output tail."""
    lines = [f"student {grade.student}, lab {grade.lab}: {grade.score}/{grade.max_score}, {grade.status}, "
             f"{grade.seconds} s"]
    if grade.problem:
        lines.append(f"problem: {grade.problem}")
    for change in grade.touched:
        lines.append(f"outside its namespace: {change}")
    for item in grade.checks:
        lines.append(f"\n== {item['name']} ({'hidden' if item['hidden'] else 'public'}): {item['status']} "
                     f"{item['points']}/{item['max_points']} in {item['seconds']} s")
        for part in ("message", "traceback", "output"):
            if item.get(part, "").strip():
                lines.append(f"-- {part}:\n{item[part].rstrip()}")
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, grade: Grade) -> None:
    folder = student_dir(out, grade.student)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results_json(grade), indent=1))
    (folder / "feedback.md").write_text(feedback_md(grade))
    (folder / "log.txt").write_text(log_txt(grade))
    partial = folder / "grade.json.partial"
    partial.write_text(json.dumps(dataclasses.asdict(grade)))
    partial.replace(folder / "grade.json")  # last: a grade.json means the outputs are complete


def write_csv(path: Path, grades: list[Grade]) -> None:
    """grades.csv: a row per student and lab, a column per check (its points)."""
    names: list[str] = []
    for grade in grades:
        for item in grade.checks:
            column = item["name"] if len({g.lab for g in grades}) == 1 else f"{grade.lab}:{item['name']}"
            if column not in names:
                names.append(column)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["student", "lab", "score", "max_score", "status", "seconds", "touched", *names])
        for grade in grades:
            points = {(item["name"] if len({g.lab for g in grades}) == 1 else f"{grade.lab}:{item['name']}"):
                      item["points"] for item in grade.checks}
            writer.writerow([grade.student, grade.lab, grade.score, grade.max_score, grade.status, grade.seconds,
                             "; ".join(grade.touched), *(points.get(n, "") for n in names)])


# ---------------------------------------------------------------------------------------------------
# A class


def grade_class(lab: str, folder: Path, out: Path, *, jobs: int = 1, force: bool = False,
                limit_s: float | None = None, on_start: Callable[[int], None] = lambda total: None,
                on_graded: Callable[[Grade], None] = lambda grade: None) -> list[Grade]:
    """Grade every submission of ``folder`` in lab ``lab`` into ``out``; the grades, by student id."""
    from pipeline import settings as lab_settings

    number = course.lab(lab).number
    if number in SELF_CHECKED:
        raise GradingError(f"lab {number} is checked on each student's own services and files "
                           f"(`lab check {number}` there); it is not graded from submissions")
    kind = course.LABS[number].kind
    if jobs > 1 and kind != "pure":
        raise GradingError(f"lab {number} uses the services: its submissions are graded one at a time "
                           f"(--jobs is for labs without services: "
                           f"{', '.join(n for n, l in course.LABS.items() if l.kind == 'pure')})")
    found = submissions(folder)
    account = grading_account()
    protect_instructor_files()
    out = Path(out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="lab-grade-"))
    os.chmod(scratch, 0o755)
    try:
        settings = lab_settings.load()
        session = Session(number, out, grading_secret(), account, code_snapshot(scratch / "code"), scratch,
                          limit_s or STUDENT_LIMIT_S[kind], settings, watch=kind != "pure",
                          checks_key=_checks_key(number), force=force)
        if session.watch:  # what changes on its own (the demo) between two looks is not a student's doing
            first = footprint(settings)
            time.sleep(3)
            second = footprint(settings)
            session.moving = {k for k in first.keys() & second.keys() if first[k] != second[k]}
        on_start(len(found))
        grades: list[Grade] = []

        def one(item: tuple[str, Path]) -> Grade:
            grade = grade_one(session, *item)
            on_graded(grade)
            return grade

        with time_zone(GRADING_ZONE), ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            grades = list(pool.map(one, found.items()))
        write_csv(out / "grades.csv", grades)
        return grades
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_gradebook(path: Path, results: dict[str, list[Grade]]) -> None:
    """gradebook.csv of `lab grade --all`: a row per student, each lab's score, the total."""
    students = sorted({grade.student for grades in results.values() for grade in grades})
    by = {(grade.student, lab): grade for lab, grades in results.items() for grade in grades}
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["student", *(f"lab {lab}" for lab in results), "score", "max_score"])
        for student in students:
            grades = [by.get((student, lab)) for lab in results]
            writer.writerow([student, *(g.score if g else "" for g in grades),
                             sum(g.score for g in grades if g), sum(max_points(lab) for lab in results)])
