"""Run a lab's checks in a worker process and collect the results: `lab check NN` and the grader.

The student's code never runs in the calling process. One worker (labctl/check_worker.py, in its own
process group) runs the lab's checks one after another and reports over a dedicated pipe; its
stdout/stderr go to another pipe that is drained into a bounded buffer, so endless prints neither fill
the memory nor block it. The runner times each check from its start message (a Spark session's start
has its own allowance); on a timeout, or when the worker dies (a segfault, os._exit), it kills the
process group and starts a new worker for the checks left. An overall deadline ends every run.
"""

from __future__ import annotations

import dataclasses
import errno
import getpass
import json
import os
import re
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from labctl import checking, course

LOAD_ALLOWANCE_S = 60  # the worker's start and the checks file's import
SPARK_ALLOWANCE_S = 180  # a local SparkSession's start (a JVM on a busy 2-core VM)
SERVICES_ALLOWANCE_S = 60  # the health checks of the services a check needs
EXIT_GRACE_S = 15  # after its last result, for the worker to stop Spark and exit
OVERALL_MARGIN_S = 60
OUTPUT_BYTES = 64 * 1024  # the output kept: the last 64 KB of the run, and of each check
READ_BYTES = 64 * 1024
MAX_FRUITLESS_WORKERS = 2  # workers in a row that die without running a check: give up


class CheckRunnerError(RuntimeError):
    """The lab's checks cannot run at all (no checks file, a broken one, the worker cannot start)."""


@dataclass
class CheckResult:
    """The outcome of one check: status "passed", "failed", "error" or "timeout"; points all or nothing."""

    name: str
    points: int
    max_points: int
    status: str
    message: str = ""
    seconds: float = 0.0
    output: str = ""  # the tail of what the check printed (bounded)
    hint: str = ""
    traceback: str = ""
    hidden: bool = False  # a hidden check (grading only)

    @property
    def title(self) -> str:
        return self.name.replace("_", " ")

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class LabResult:
    """The results of one run of a lab's checks, in the checks' order, and the totals."""

    lab: str
    checks: list[CheckResult]
    seconds: float
    namespace: str
    seed: int
    labs_dir: str
    reference: bool = False
    files_hash: str = ""
    finished_at: float = field(default_factory=time.time)
    warnings: list[str] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(c.points for c in self.checks)

    @property
    def max_points(self) -> int:
        return sum(c.max_points for c in self.checks)

    @property
    def passed(self) -> bool:
        """Every check passed."""
        return all(c.passed for c in self.checks)

    def __getitem__(self, name: str) -> CheckResult:
        for item in self.checks:
            if item.name == name:
                return item
        raise KeyError(name)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"points": self.points, "max_points": self.max_points}

    @classmethod
    def from_dict(cls, data: dict) -> LabResult:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        check_names = {f.name for f in dataclasses.fields(CheckResult)}
        values["checks"] = [CheckResult(**{k: v for k, v in c.items() if k in check_names})
                            for c in data.get("checks", [])]
        return cls(**values)


def sanitised_user(user: str | None = None) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", (user if user is not None else getpass.getuser()).lower()).strip("_")
    return (name or "user")[:29]


def namespace_for(lab: str, user: str | None = None) -> str:
    """c<lab>_<user>_<6 hex>: a namespace of its own for each run (pipeline.settings.NAMESPACE_PATTERN)."""
    return f"c{lab}_{sanitised_user(user)}_{secrets.token_hex(3)}"


# ---------------------------------------------------------------------------------------------------
# Saved results: ~/.cache/ecommerce-lab/checks/NN.json


def results_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ecommerce-lab" / "checks"


def save(result: LabResult) -> Path:
    """Write the result (outputs shortened) where `lab check` without a number finds it."""
    path = results_dir() / f"{result.lab}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = result.to_dict()
    for item in data["checks"]:
        item["output"] = item["output"][-4000:]
        item["traceback"] = item["traceback"][-4000:]
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(data, indent=1))
    partial.replace(path)
    return path


def saved(lab: str) -> LabResult | None:
    """The last saved result of a lab, if any."""
    path = results_dir() / f"{lab}.json"
    try:
        return LabResult.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


# ---------------------------------------------------------------------------------------------------
# The worker process


def _timeout_message(seconds: float) -> str:
    shown = f"{seconds:g}"
    return f"took longer than {shown} s; look for an endless loop or a wait"


def _death_message(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the check's process was killed by {name} (a crash in native code, or a kill)"
    return (f"the check's process ended abruptly with exit code {returncode} before the check finished "
            f"(does the code call os._exit?)")


class _Output:
    """The worker's stdout and stderr: the last OUTPUT_BYTES, how many bytes came in all, and where the
    current check's output began (the worker writes a marker there, and one where the check ended: the
    output pipe is read in bulk, so the order of its bytes is the only reliable order)."""

    def __init__(self, token: str) -> None:
        self.buffer = bytearray()
        self.total = 0
        self.prefix = f"\x1eLABCHECK-{token}-".encode()
        self.carry = b""
        self.spans: dict[int, list] = {}  # check index: [start, end or None]

    def add(self, data: bytes) -> None:
        data, self.carry = self.carry + data, b""
        while True:
            found = data.find(self.prefix)
            if found < 0:
                break
            end = found + len(self.prefix) + 6  # "0003S\x1e": the check's index, S(tart) or E(nd)
            if len(data) < end:  # a marker cut in two by the read
                self.carry = data[found:]
                data = data[:found]
                break
            self._store(data[:found])
            kind = data[found + len(self.prefix):end]
            if re.fullmatch(rb"[0-9]{4}[SE]\x1e", kind):
                index = int(kind[:4])
                if kind[4:5] == b"S":
                    self.spans[index] = [self.total, None]
                elif index in self.spans:
                    self.spans[index][1] = self.total
            else:
                self._store(data[found:end])
            data = data[end:]
        for size in range(min(len(self.prefix) - 1, len(data)), 0, -1):  # maybe the start of a marker
            if self.prefix.startswith(data[-size:]):
                self.carry = data[-size:] + self.carry
                data = data[:-size]
                break
        self._store(data)

    def _store(self, data: bytes) -> None:
        self.buffer += data
        self.total += len(data)
        if len(self.buffer) > 2 * OUTPUT_BYTES:
            del self.buffer[:-OUTPUT_BYTES]

    def since(self, position: int, end: int | None = None) -> str:
        """What came from ``position`` (a former ``total``) to ``end``, at most its last OUTPUT_BYTES."""
        end = self.total if end is None else end
        skip = self.total - end  # bytes after ``end``
        wanted = max(0, min(end - position, OUTPUT_BYTES, len(self.buffer) - skip))
        kept = bytes(self.buffer[len(self.buffer) - skip - wanted:len(self.buffer) - skip]) if wanted else b""
        text = kept.decode("utf-8", "replace")
        if len(kept) < end - position:
            return f"[… {end - position - len(kept)} earlier bytes of output not kept …]\n" + text
        return text

    def of_check(self, index: int, fallback: int) -> str:
        """A check's output: from its start marker (else ``fallback``) to its end marker (else the end)."""
        start, end = self.spans.get(index, (fallback, None))
        return self.since(start, end)


class _Worker:
    """One worker process and its two pipes."""

    def __init__(self, request: dict, env: dict, cwd: Path, account: Account | None = None) -> None:
        result_r, result_w = os.pipe()
        output_r, output_w = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "labctl.check_worker", "--result-fd", str(result_w)],
                stdin=subprocess.PIPE, stdout=output_w, stderr=subprocess.STDOUT, pass_fds=(result_w,),
                start_new_session=True, env=env, cwd=cwd,
                **({"user": account.uid, "group": account.gid, "extra_groups": []} if account else {}))
        except OSError as error:
            for fd in (result_r, result_w, output_r, output_w):
                os.close(fd)
            raise CheckRunnerError(f"cannot start the checks worker: {error}") from None
        os.close(result_w)
        os.close(output_w)
        self.result_fd, self.output_fd = result_r, output_r
        os.set_blocking(result_r, False)
        os.set_blocking(output_r, False)
        self.pending = b""
        self.result_open = True
        self.output_open = True
        try:
            self.process.stdin.write(json.dumps(request).encode())
            self.process.stdin.close()
        except BrokenPipeError:
            pass

    def exited(self) -> bool:
        """Whether the worker ended (left unreaped, so its process group id stays reserved until kill())."""
        try:
            return os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def kill(self) -> int | None:
        """Kill the whole process group (the worker, Spark's JVM, anything the student's code started)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            return None

    def read_output(self, output: _Output) -> None:
        while self.output_open:
            try:
                data = os.read(self.output_fd, READ_BYTES)
            except BlockingIOError:
                return
            except OSError as error:
                if error.errno == errno.EINTR:
                    continue
                data = b""
            if not data:
                self.output_open = False
                return
            output.add(data)

    def read_messages(self) -> list[dict]:
        messages = []
        while self.result_open:
            try:
                data = os.read(self.result_fd, READ_BYTES)
            except BlockingIOError:
                break
            if not data:
                self.result_open = False
                break
            self.pending += data
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                messages.append(message)
        return messages

    def close(self) -> None:
        for fd in (self.result_fd, self.output_fd):
            try:
                os.close(fd)
            except OSError:
                pass


class _Run:
    def __init__(self, lab: str, request: dict, env: dict, run_dir: Path, only: list[str] | None,
                 on_checks: Callable[[list[dict]], None] | None, on_start: Callable[[str], None] | None,
                 on_result: Callable[[CheckResult], None] | None, account: Account | None = None,
                 limit_s: float | None = None) -> None:
        self.lab = lab
        self.account = account
        self.limit_at = time.monotonic() + limit_s if limit_s else None
        self.request = request
        self.env = env
        self.run_dir = run_dir
        self.only = [name.strip().replace(" ", "_") for name in only] if only is not None else None
        self.on_checks, self.on_start, self.on_result = on_checks, on_start, on_result
        self.infos: dict[str, dict] | None = None  # the lab's checks by name, in order
        self.results: dict[str, CheckResult] = {}
        self.started: list[str] = []
        self.output = _Output(request["marker"])
        self.overall_deadline = time.monotonic() + LOAD_ALLOWANCE_S + OVERALL_MARGIN_S
        self.spark_failed = ""

    # the checks still to run
    def chosen(self) -> list[str]:
        assert self.infos is not None
        return [n for n in self.infos if self.only is None or n in self.only]

    def remaining(self) -> list[str]:
        return [n for n in self.chosen() if n not in self.results]

    def record(self, name: str, status: str, message: str, seconds: float, output: str = "",
               traceback: str = "") -> None:
        info = self.infos[name]
        points = info["points"] if status == "passed" else 0
        result = CheckResult(name, points, info["points"], status, message, round(seconds, 3), output,
                             info["hint"], traceback, bool(info.get("hidden")))
        self.results[name] = result
        if self.on_result:
            self.on_result(result)

    def run(self) -> list[CheckResult]:
        fruitless = 0
        while True:
            if self.infos is not None:
                if self.spark_failed:
                    for name in self.remaining():
                        if self.infos[name]["spark"]:
                            self.record(name, "error", self.spark_failed, 0.0)
                todo = self.remaining()
                if not todo:
                    break
                if time.monotonic() > self.overall_deadline or fruitless >= MAX_FRUITLESS_WORKERS:
                    reason = ("not run: the lab's checks ran out of time" if fruitless < MAX_FRUITLESS_WORKERS
                              else "not run: the checks worker keeps dying before a check starts")
                    for name in todo:
                        self.record(name, "error", reason, 0.0)
                    break
                # a new worker's start, and its Spark session's
                self.overall_deadline += LOAD_ALLOWANCE_S + (
                    SPARK_ALLOWANCE_S if any(self.infos[n]["spark"] for n in todo) else 0)
            else:
                todo = self.only  # None: all of them
            before = len(self.results)
            self.drive(todo)
            if self.infos is None:
                raise CheckRunnerError(f"lab {self.lab}: the checks worker ended before listing the checks:\n"
                                       + self.output.since(0)[-2000:])
            fruitless = fruitless + 1 if len(self.results) == before else 0
        return [self.results[name] for name in self.chosen()]

    def drive(self, names: list[str] | None) -> None:
        """Run one worker until it exits or is killed."""
        request = dict(self.request, names=names)
        worker = _Worker(request, self.env, self.run_dir, self.account)
        selector = selectors.DefaultSelector()
        selector.register(worker.result_fd, selectors.EVENT_READ, "result")
        selector.register(worker.output_fd, selectors.EVENT_READ, "output")
        load_deadline = time.monotonic() + LOAD_ALLOWANCE_S
        ready = self.infos is not None
        current: str | None = None
        check_start = check_deadline = 0.0
        output_start = index = 0
        paused: tuple[str, float] | None = None  # (what, since): a setup outside the check's own time
        done_at: float | None = None
        try:
            while True:
                now = time.monotonic()
                if self.limit_at is not None:
                    self.overall_deadline = min(self.overall_deadline, self.limit_at)
                waits = [self.overall_deadline, now + 0.5]
                if not ready:
                    waits.append(load_deadline)
                if current is not None:
                    waits.append(paused[1] + _allowance(paused[0]) if paused is not None else check_deadline)
                if done_at is not None:
                    waits.append(done_at + EXIT_GRACE_S)
                events = selector.select(timeout=max(0.0, min(waits) - now))
                for key, _ in events:
                    if key.data == "output":
                        worker.read_output(self.output)
                        if not worker.output_open:
                            selector.unregister(worker.output_fd)
                if any(key.data == "result" for key, _ in events) or not worker.result_open:
                    # output printed before a message is in its pipe already: take it first
                    worker.read_output(self.output)
                    for message in worker.read_messages():
                        kind = message.get("type")
                        now = time.monotonic()
                        if kind == "fatal":
                            raise CheckRunnerError(f"lab {self.lab}: the checks cannot be loaded: "
                                                   f"{message.get('message')}\n{message.get('traceback', '')}")
                        if kind == "ready":
                            self.on_ready(message["checks"])
                            ready = True
                        elif kind == "start" and message.get("name") in (self.infos or {}):
                            current = message["name"]
                            index = list(self.infos).index(current)
                            self.started.append(current)
                            check_start, output_start = now, self.output.total
                            check_deadline = now + self.infos[current]["timeout"]
                            if self.on_start:
                                self.on_start(current)
                        elif kind == "setup" and message.get("phase") == "starting":
                            paused = (message.get("what", ""), now)
                        elif kind == "setup" and message.get("phase") == "ready" and paused is not None:
                            check_deadline += now - paused[1]
                            check_start += now - paused[1]
                            paused = None
                        elif kind == "result" and message.get("name") == current:
                            self.record(current, message.get("status", "error"), message.get("message", ""),
                                        float(message.get("seconds", now - check_start)),
                                        self.output.of_check(index, output_start), message.get("traceback", ""))
                            current = None
                        elif kind == "done":
                            done_at = now
                    if not worker.result_open:
                        selector.unregister(worker.result_fd)
                now = time.monotonic()
                if current is not None and paused is not None and now >= paused[1] + _allowance(paused[0]):
                    if paused[0] == "spark":
                        message = self.spark_failed = (
                            f"Spark did not start within {SPARK_ALLOWANCE_S} s "
                            f"(is the machine short of memory? `lab status` says what to stop)")
                    else:
                        message = f"the services' health checks did not answer within {SERVICES_ALLOWANCE_S} s"
                    worker.kill()
                    self.record(current, "error", message, now - check_start,
                                self.output.of_check(index, output_start))
                    return
                if current is not None and paused is None and now >= check_deadline:
                    worker.kill()
                    self.record(current, "timeout", _timeout_message(self.infos[current]["timeout"]),
                                now - check_start, self.output.of_check(index, output_start))
                    return
                if now >= self.overall_deadline:
                    worker.kill()
                    if current is not None:
                        self.record(current, "timeout", "the lab's checks ran out of time (overall limit)",
                                    now - check_start, self.output.of_check(index, output_start))
                    return
                if not ready and now >= load_deadline:
                    worker.kill()
                    raise CheckRunnerError(f"lab {self.lab}: the checks did not load within {LOAD_ALLOWANCE_S} s:\n"
                                           + self.output.since(0)[-2000:])
                if done_at is not None and (worker.exited() or now >= done_at + EXIT_GRACE_S):
                    worker.kill()
                    return
                if not worker.result_open or worker.exited():
                    worker.read_output(self.output)
                    for message in worker.read_messages():  # the last words before it died
                        if message.get("type") == "result" and message.get("name") == current:
                            self.record(current, message.get("status", "error"), message.get("message", ""),
                                        float(message.get("seconds", 0)), self.output.of_check(index, output_start),
                                        message.get("traceback", ""))
                            current = None
                    returncode = worker.kill()
                    if not ready:
                        raise CheckRunnerError(f"lab {self.lab}: the checks worker died before loading the checks "
                                               f"({_death_message(returncode)}):\n" + self.output.since(0)[-2000:])
                    if current is not None:
                        self.record(current, "error", _death_message(returncode), now - check_start,
                                    self.output.of_check(index, output_start))
                    return
        finally:
            if worker.process.returncode is None:
                worker.kill()
            worker.read_output(self.output)
            selector.close()
            worker.close()

    def on_ready(self, checks: list[dict]) -> None:
        if self.infos is not None:
            return
        self.infos = {c["name"]: c for c in checks}
        if self.only is not None:
            unknown = [n for n in self.only if n not in self.infos]
            if unknown:
                raise CheckRunnerError(f"lab {self.lab} has no check named {', '.join(unknown)}; "
                                       f"its checks: {', '.join(self.infos)}")
        chosen = [self.infos[n] for n in self.chosen()]
        self.overall_deadline = (time.monotonic() + OVERALL_MARGIN_S + sum(c["timeout"] for c in chosen)
                                 + (SPARK_ALLOWANCE_S if any(c["spark"] for c in chosen) else 0))
        if self.on_checks:
            self.on_checks(chosen)


def _allowance(what: str) -> float:
    return SPARK_ALLOWANCE_S if what == "spark" else SERVICES_ALLOWANCE_S


@dataclass(frozen=True)
class Account:
    """The unprivileged account the grader runs student code as (``lab grade``, as root)."""

    name: str
    uid: int
    gid: int

    @classmethod
    def named(cls, name: str) -> Account:
        import pwd

        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise CheckRunnerError(f"there is no account {name!r} to run student code as "
                                   f"(the playbook creates it: `sudo ./lab up`)") from None
        return cls(name, entry.pw_uid, entry.pw_gid)


def _environment(run_dir: Path, labs_dir: Path, code_root: Path | None, account: Account | None) -> dict:
    """The user's environment (TZ included), plus what makes the worker import this checkout's code (or
    ``code_root``'s) and, in the student edition, find the student's labs folder."""
    env = dict(os.environ)
    if account is not None:  # nothing of the instructor's environment but what the checks need
        env = {k: v for k, v in env.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "JAVA_HOME")}
        env.update(HOME=str(run_dir / "home"), USER=account.name, LOGNAME=account.name)
    root = str(code_root or Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"  # what a check printed before a timeout is in its output tail
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no stale or stray __pycache__ in the student's folder
    env["SPARK_LOCAL_DIRS"] = str(run_dir / "spark-local")  # Spark's scratch goes with the run
    for name in ("LAB_NAMESPACE", "LAB_STUDENT_LABS"):  # the request's settings decide
        env.pop(name, None)
    env["LAB_LABS_DIR"] = str(labs_dir)
    return env


def checks_files(lab: str, checks_file: Path | None = None, hidden: bool = False, inline: bool = False) -> list[dict]:
    """What the worker loads: the lab's public checks (or ``checks_file``) and, with ``hidden``, its hidden
    checks. Hidden checks (and all of them with ``inline``) go as text, so that the account running
    student code needs no access to their files."""
    public = Path(checks_file).resolve() if checks_file else course.checks_file(lab)
    if not public.is_file():
        raise CheckRunnerError(f"lab {lab} has no checks yet: {public} does not exist")
    files = [{"path": str(public), "source": public.read_text(encoding="utf-8") if inline else None, "hidden": False}]
    if hidden:
        secret = course.hidden_checks_file(lab)
        if not secret.is_file():
            raise CheckRunnerError(f"lab {lab} has no hidden checks: {secret} does not exist")
        files.append({"path": f"<hidden checks of lab {lab}>", "source": secret.read_text(encoding="utf-8"),
                      "hidden": True})
    return files


def run_lab(lab: str, labs_dir: Path | None, *, reference: bool = False, verbose: bool = False,
            checks_file: Path | None = None, hidden: bool = False, inline: bool = False, seed: int | None = None,
            only: list[str] | None = None, user: str | None = None, account: Account | None = None,
            code_root: Path | None = None, limit_s: float | None = None,
            on_checks: Callable[[list[dict]], None] | None = None, on_start: Callable[[str], None] | None = None,
            on_result: Callable[[CheckResult], None] | None = None) -> LabResult:
    """Run lab ``lab``'s public checks (or those of ``checks_file``; and its hidden checks with ``hidden``)
    against the student's functions in ``labs_dir`` (the reference's with ``reference``); ``inline``: every
    checks file goes to the worker as text.
    ``only``: those checks (names, in any order). ``user``: whose run it is (the namespace's name; the
    grader's student id). ``account``: run the worker as this account (as root; the run's files become
    its own). ``code_root``: the tree the worker imports the lab's code from. ``limit_s``: a cap on the
    whole run. ``on_checks``/``on_start``/``on_result``: called as the checks are known, start and finish.
    ``verbose`` keeps the full tracebacks in the results (they are kept anyway; the CLI shows them)."""
    from pipeline import settings as lab_settings

    lab = course.lab(lab).number
    labs_dir = Path(labs_dir).expanduser().resolve() if labs_dir else course.course_labs_dir()
    files = checks_files(lab, checks_file, hidden, inline)
    seed = checking.default_seed(lab) if seed is None else int(seed)
    namespace = namespace_for(lab, user)
    environ = {k: v for k, v in os.environ.items() if k not in ("LAB_NAMESPACE", "LAB_LABS_DIR", "LAB_STUDENT_LABS")}
    settings = checking.check_settings(lab_settings.load(environ=environ), lab, namespace,
                                       None if reference else labs_dir)
    files_hash = course.files_hash(lab, labs_dir)
    started = time.monotonic()
    run_dir = Path(tempfile.mkdtemp(prefix=f"lab-check-{lab}-"))
    if account is not None:
        (run_dir / "home").mkdir()
        for path in (run_dir, run_dir / "home"):
            os.chown(path, account.uid, account.gid)
    request = {"marker": secrets.token_hex(8), "lab": lab, "labs_dir": str(labs_dir), "checks_files": files,
               "seed": seed, "settings": dataclasses.asdict(settings), "run_dir": str(run_dir), "verbose": verbose}
    run = _Run(lab, request, _environment(run_dir, labs_dir, code_root, account), run_dir, only, on_checks,
               on_start, on_result, account, limit_s)
    warnings: list[str] = []
    try:
        checks = run.run()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
        if run.infos and any(run.infos[name]["services"] for name in run.started):
            try:
                from pipeline import topics

                topics.drop_namespace(settings)
            except Exception as error:  # noqa: BLE001 - a run's leftovers must not hide its results
                warnings.append(f"could not drop the namespace {namespace}: {type(error).__name__}: {error}")
    return LabResult(lab, checks, round(time.monotonic() - started, 3), namespace, seed, str(labs_dir),
                     reference, files_hash, warnings=warnings)
