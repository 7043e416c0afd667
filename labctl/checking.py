"""The API of a lab's checks (labs/<folder>/checks.py): the ``check`` decorator and the ``Context``.

```python
from labctl.checking import check, Context

@check(points=2, hint="A quoted field may hold commas: split on commas outside quotes only.")
def quoted_fields_keep_their_commas(ctx: Context) -> None:
    got = ctx.student.split_fields('a,"b,c",d')
    assert got == ["a", "b,c", "d"], f"split_fields('a,\\"b,c\\",d') returned {got!r}"
```

A check passes when it returns, fails on an AssertionError (its message is what the student
reads: make it say what was called and what came back), and errors on any other exception.
Checks run in definition order, in a worker process (labctl/check_worker.py, started by
labctl/check_runner.py), never in the `lab` process; their name is the function's name.

Time zones: the worker keeps the student's TZ. Compare event times as text (Spark's
``date_format`` or the contract's strings): a Spark TIMESTAMP collected into Python becomes a
naive datetime in the local time zone.
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator

from pipeline import seams
from pipeline.settings import Settings

MESSAGE_CHARS = 300

# Names check authors may use in ``services=`` besides the services themselves (`lab status` lists those).
SERVICE_GROUPS = {
    "hdfs": ("namenode", "datanode"),
    "hbase": ("hbase-master", "hbase-regionserver", "hbase-thrift"),
    "spark": ("spark-master", "spark-worker"),
}


@dataclass(frozen=True)
class Check:
    """One registered check."""

    name: str
    function: Callable[[Context], None]
    points: int = 1
    hint: str = ""
    timeout: float = 30
    services: tuple[str, ...] = ()
    spark: bool = False
    hidden: bool = False  # from a lab's hidden_checks.py: run at grading time only

    @property
    def title(self) -> str:
        return self.name.replace("_", " ")

    def describe(self) -> dict:
        """What the runner needs to know of the check (JSON)."""
        return {"name": self.name, "points": self.points, "hint": self.hint, "timeout": self.timeout,
                "services": list(self.services), "spark": self.spark, "hidden": self.hidden}


# The checks of the checks file being loaded, in definition order (see load_checks).
_registry: list[Check] = []


def check(function: Callable | None = None, *, points: int = 1, hint: str = "", timeout: float = 30,
          services: tuple[str, ...] | list[str] = (), spark: bool = False):
    """Register a check of the lab: ``@check(points=2, hint="...", timeout=30, services=("kafka",), spark=False)``
    (or a bare ``@check``). ``services``: those it needs healthy before it runs (else it errors, telling
    the student which `lab start` to run); ``spark``: it uses ``ctx.spark`` (the session starts before the
    check's own time limit begins). Returns the function unchanged."""
    if isinstance(services, str):
        services = (services,)
    if points < 0 or timeout <= 0:
        raise ValueError("a check needs points >= 0 and a positive timeout")

    def register(fn: Callable) -> Callable:
        _registry.append(Check(fn.__name__, fn, int(points), " ".join(hint.split()), float(timeout),
                               tuple(services), bool(spark)))
        return fn

    return register(function) if function is not None else register


@contextmanager
def local_time_zone(zone: str, spark=None) -> Iterator[None]:
    """Run with the local time zone ``zone`` (e.g. "Asia/Kathmandu", UTC+05:45): this process's and, given
    ``spark``, that of the Python workers Spark starts from now on (where a student's UDF runs); both are
    put back afterwards. A local-time mistake then fails a check even on a machine set to UTC."""
    environments = [os.environ] + ([spark.sparkContext.environment] if spark is not None else [])
    saved = [environment.get("TZ") for environment in environments]
    for environment in environments:
        environment["TZ"] = zone
    time.tzset()
    try:
        yield
    finally:
        for environment, before in zip(environments, saved):
            if before is None:
                environment.pop("TZ", None)
            else:
                environment["TZ"] = before
        time.tzset()


def load_checks(path: Path, source: str | None = None, hidden: bool = False) -> tuple[ModuleType, list[Check]]:
    """Import a checks file (from ``source`` when given: the grader passes hidden checks as text, so the
    account that runs student code needs no access to the file) and return its module and checks, in
    definition order."""
    name = f"lab_checks_{abs(hash(str(path))):x}"
    module = ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    del _registry[:]
    try:
        text = source if source is not None else Path(path).read_text(encoding="utf-8")
        exec(compile(text, str(path), "exec"), module.__dict__)  # noqa: S102 - the lab's own checks
        checks = [dataclasses.replace(item, hidden=hidden) for item in _registry]
    finally:
        del _registry[:]
    seen: set[str] = set()
    for item in checks:
        if item.name in seen:
            raise ValueError(f"{path}: two checks are named {item.name}")
        seen.add(item.name)
    return module, checks


# The public checks module each lab's worker loaded (check_worker.py), for the hidden checks (public_checks).
loaded_public: dict[str, ModuleType] = {}


def public_checks(lab: str) -> ModuleType:
    """The public checks module of ``lab``, for its hidden checks to share helpers and state with: the one
    this worker loaded, else the course's, loaded now (its checks are not registered again)."""
    if lab not in loaded_public:
        from labctl import course

        saved = list(_registry)
        try:
            loaded_public[lab], _ = load_checks(course.checks_file(lab))
        finally:
            _registry[:] = saved
    return loaded_public[lab]


def default_seed(lab: str, user: str | None = None) -> int:
    """The seed of a lab's generated data for a user (the grader passes its own)."""
    user = user if user is not None else getpass.getuser()
    return int(hashlib.sha256(f"{lab}:{user}".encode()).hexdigest()[:8], 16)


class SetupError(RuntimeError):
    """A check could not start for a reason outside the student's code (a service down, Spark not starting);
    its message is what the student reads."""


class Shared:
    """What the checks of one worker share: the Spark session and the generated datasets."""

    def __init__(self, settings: Settings, lab: str, run_dir: Path, seed: int,
                 notify: Callable[[dict], None] = lambda message: None) -> None:
        self.settings = settings
        self.lab = lab
        self.run_dir = run_dir
        self.seed = seed
        self.notify = notify
        self.session = None
        self.datasets: dict[int, Path] = {}
        self.pickled_by_value: set[str] = set()
        self.setup_seconds = 0.0  # time spent starting Spark (not the checks' own time)

    def spark(self):
        if self.session is None:
            self.notify({"type": "setup", "what": "spark", "phase": "starting"})
            started = time.monotonic()
            from pipeline import spark as spark_session

            try:
                self.session = spark_session.session(self.settings, f"check-{self.lab}", master="local[2]")
            except Exception as error:  # noqa: BLE001 - Java missing, no memory, ...
                raise SetupError(f"Spark did not start: {outcome(error, ())[1]}") from error
            finally:
                self.setup_seconds += time.monotonic() - started
            self.notify({"type": "setup", "what": "spark", "phase": "ready"})
        self.pickle_by_value()
        return self.session

    def pickle_by_value(self) -> None:
        """Executors cannot import the student's file or the checks file by their made-up names."""
        if "pyspark" not in sys.modules:
            return
        from pyspark import cloudpickle

        for name, module in list(sys.modules.items()):
            if name.startswith(("lab_student_", "lab_checks_")) and name not in self.pickled_by_value:
                cloudpickle.register_pickle_by_value(module)
                self.pickled_by_value.add(name)

    def dataset(self, rows: int) -> Path:
        if rows not in self.datasets:
            import datasets

            final = self.run_dir / "datasets" / f"rows-{rows}-seed-{self.seed}"
            if not (final / "events.csv").is_file():  # another worker of this run may have made it
                partial = final.with_name(final.name + f".partial-{os.getpid()}")
                shutil.rmtree(partial, ignore_errors=True)
                partial.mkdir(parents=True)
                datasets.generate(partial / "events.csv", rows=rows, seed=self.seed)
                partial.rename(final)
            self.datasets[rows] = final / "events.csv"
        return self.datasets[rows]


class Context:
    """What a check receives.

    lab: the lab number ("01"); student: the module with the student's functions of this lab
    (``seams.load(settings, lab)``; the reference module with ``lab check --reference``);
    settings: the Settings of the check run's own namespace, running the student's functions of this
    lab and the reference for the others; labs_dir: the student's labs folder; spark: a local
    SparkSession shared by the checks of the run; tmp: an empty directory of this check; seed: the
    seed of the run's generated data; dataset(rows): a generated CSV (cached per rows).
    """

    def __init__(self, lab: str, settings: Settings, labs_dir: Path, tmp: Path, seed: int, shared: Shared) -> None:
        self.lab = lab
        self.settings = settings
        self.labs_dir = labs_dir
        self.tmp = tmp
        self.seed = seed
        self._shared = shared

    @property
    def student(self) -> ModuleType:
        if self.lab not in seams.SEAMS:
            raise seams.StudentCodeError(f"lab {self.lab} has no student functions of its own "
                                         f"(ctx.student is for labs {', '.join(seams.SEAMS)})")
        module = seams.load(self.settings, self.lab)
        self._shared.pickle_by_value()
        return module

    @property
    def spark(self):
        return self._shared.spark()

    def dataset(self, rows: int = 2000) -> Path:
        """A generated events CSV of ``rows`` lines (datasets.generate with the run's seed)."""
        return self._shared.dataset(int(rows))


def check_settings(base: Settings, lab: str, namespace: str, labs_dir: Path | None) -> Settings:
    """The settings of a check run: its namespace; the student's functions of ``lab`` (all labs for a lab
    without functions of its own: the capstone runs the student's whole pipeline); "" with --reference."""
    student_labs = lab if lab in seams.SEAMS else "all"
    return dataclasses.replace(base, namespace=namespace, labs_dir=str(labs_dir) if labs_dir else "",
                               student_labs=student_labs)


# ---------------------------------------------------------------------------------------------------
# Outcomes: one line a student can act on.


def one_line(text: str, limit: int = MESSAGE_CHARS) -> str:
    text = " ".join(line.strip() for line in str(text).splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _inside(filename: str, folders: tuple[Path, ...]) -> bool:
    try:
        path = Path(filename).resolve()
    except (OSError, ValueError):
        return False
    return any(path.is_relative_to(folder) for folder in folders)


# A traceback frame: (file name, line number, source line, function name).
Frame = tuple[str, int, str, str]


def _innermost(frames: list[Frame], folders: tuple[Path, ...]) -> Frame | None:
    """The innermost frame inside the labs folders, else the innermost frame."""
    inside = [f for f in frames if _inside(f[0], folders)]
    return (inside or frames or [None])[-1]


def _where(frames: list[Frame], folders: tuple[Path, ...]) -> str:
    """" (contract.py line 42)" for the innermost frame inside the labs folders, else the innermost frame."""
    frame = _innermost(frames, folders)
    return f" ({Path(frame[0]).name} line {frame[1]})" if frame else ""


def _frames(error: BaseException) -> list[Frame]:
    import traceback

    return [(f.filename, f.lineno or 0, f.line or "", f.name) for f in traceback.extract_tb(error.__traceback__)]


def _python_error_in(text: str) -> tuple[str, list[Frame]] | None:
    """The exception line and frames of the last Python traceback quoted in ``text`` (a Spark error)."""
    import re

    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if "Traceback (most recent call last):" in line]
    if not starts:
        return None
    frames: list[Frame] = []
    for line in lines[starts[-1] + 1:]:
        if not line.strip() or line.startswith((" ", "\t")):
            match = re.match(r'\s+File "(.*)", line (\d+), in (.*)', line)
            if match:
                frames.append((match.group(1), int(match.group(2)), "", match.group(3)))
            continue
        return line.strip(), frames
    return None


def _is_spark_error(error: BaseException) -> bool:
    return any(cls.__module__.startswith(("pyspark", "py4j")) for cls in type(error).__mro__)


def _spark_message(error: BaseException) -> tuple[str, list[Frame]]:
    """A Spark or Py4J error reduced to the Python exception inside it, else its first meaningful line."""
    import re

    text = str(error)
    found = _python_error_in(text)
    if found:
        return found
    for line in text.splitlines():  # Py4JJavaError: "An error occurred while calling ...\n: java...Exception: ..."
        match = re.match(r"^:?\s*((?:[\w$]+\.)*[\w$]*(?:Exception|Error)): (.*)", line)
        if match:
            return f"{match.group(1).rsplit('.', 1)[-1]}: {match.group(2)}", []
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {first}", []


def outcome(error: BaseException | None, folders: tuple[Path, ...]) -> tuple[str, str]:
    """(status, one-line message) of a check that returned (``error`` None) or raised ``error``;
    ``folders``: the labs folders, whose innermost frame names the place of an error."""
    if error is None:
        return "passed", ""
    frames = _frames(error)
    if isinstance(error, AssertionError):
        message = one_line(str(error))
        if not message:
            statement = next((f[2].strip() for f in reversed(frames) if f[2].strip().startswith("assert")), "")
            message = one_line(f"failed: {statement}" if statement else "an assertion failed") + _where(frames, folders)
        return "failed", message
    if isinstance(error, (seams.StudentCodeError, SetupError)):
        return "error", one_line(str(error))
    if isinstance(error, NotImplementedError):
        frame = _innermost(frames, folders)
        return "error", "not written yet: " + (one_line(str(error)) or (frame[3] if frame else "?"))
    if isinstance(error, SystemExit):
        return "error", f"the code called sys.exit({error.code!r})" + _where(frames, folders)
    if _is_spark_error(error):
        line, spark_frames = _spark_message(error)
        inside = [f for f in spark_frames if _inside(f[0], folders)]
        return "error", one_line(line) + (_where(inside, folders) if inside else "")
    text = one_line(str(error))
    return "error", (f"{type(error).__name__}: {text}" if text else type(error).__name__) + _where(frames, folders)
