"""The worker process of `lab check`: runs a lab's checks against the student's code, one after another.

Started by labctl/check_runner.py as ``python -m labctl.check_worker --result-fd N`` in its own process
group, with the request as JSON on stdin. It writes JSON lines to fd N:

    {"type": "ready", "checks": [{"name", "points", "hint", "timeout", "services", "spark", "hidden"}, ...]}
    {"type": "fatal", "message", "traceback"}            the checks file cannot be loaded
    {"type": "start", "name"}                              a check begins (its time limit starts)
    {"type": "setup", "what": "spark" | "services", "phase": "starting" | "ready"}
                                                           Spark starts, the services' health is checked:
                                                           not the check's own time (an allowance each)
    {"type": "result", "name", "status", "message", "traceback", "seconds"}
    {"type": "done"}

Everything the checks and the student's code print goes to stdout/stderr, a pipe the runner drains.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

HEALTHY_FOR_S = 60  # a service found healthy is not probed again for this long


class Worker:
    def __init__(self, request: dict, result_fd: int) -> None:
        self.request = request
        self.out = os.fdopen(result_fd, "w", encoding="utf-8", buffering=1)
        self.healthy: dict[str, float] = {}

    def send(self, message: dict) -> None:
        self.send_output_flush()  # what was printed so far reaches the output pipe before this message
        self.out.write(json.dumps(message) + "\n")
        self.out.flush()

    def mark(self, index: int, kind: str) -> None:
        """A marker in the output where a check's output begins (S) or ends (E); the runner removes it."""
        self.send_output_flush()
        try:
            os.write(1, f"\x1eLABCHECK-{self.request['marker']}-{index:04d}{kind}\x1e".encode())
        except OSError:
            pass

    def send_output_flush(self) -> None:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - student code may have replaced or closed a stream
                pass

    def require(self, services: tuple[str, ...]) -> None:
        from labctl import health
        from labctl.checking import SERVICE_GROUPS, SetupError
        from labctl.services import load_services

        registry = {s.name: s for s in load_services()}
        for name in services:
            for member in SERVICE_GROUPS.get(name, (name,)):
                if time.monotonic() - self.healthy.get(member, -HEALTHY_FOR_S) < HEALTHY_FOR_S:
                    continue
                if member not in registry:
                    if not registry:
                        raise SetupError(f"service {member} is not provisioned on this host: run `sudo ./lab up`")
                    raise SetupError(f"the check needs an unknown service {member!r}; "
                                     f"known: {', '.join(registry)}")
                healthy, _ = health.check(registry[member].health)
                if not healthy:
                    raise SetupError(f"service {member} is down: run `lab start {member}`")
                self.healthy[member] = time.monotonic()

    def run(self) -> int:
        from labctl import checking
        from pipeline.settings import Settings

        request = self.request
        lab = request["lab"]
        checks, names = [], set()
        try:
            for item in request["checks_files"]:
                module, loaded = checking.load_checks(Path(item["path"]), item.get("source"), item.get("hidden", False))
                if Path(item["path"]).name == "checks.py":  # the lab's public checks (not --checks-file's)
                    checking.loaded_public.setdefault(lab, module)
                twice = names & {c.name for c in loaded}
                if twice:
                    raise ValueError(f"{item['path']}: checks named as in another checks file: {', '.join(twice)}")
                names.update(c.name for c in loaded)
                checks += loaded
        except BaseException as error:  # noqa: BLE001 - a broken checks file is reported, not raised
            self.send({"type": "fatal", "message": checking.outcome(error, ())[1],
                       "traceback": "".join(traceback.format_exception(error))})
            return 3
        self.send({"type": "ready", "checks": [c.describe() for c in checks]})
        names = request.get("names")
        chosen = [c for c in checks if names is None or c.name in names]
        if any(c.spark for c in chosen):
            import pyspark  # noqa: F401 - loaded first, seams ships the student's module to executors by value

        settings = Settings(**request["settings"])
        labs_dir = Path(request["labs_dir"]) if request["labs_dir"] else Path()
        run_dir = Path(request["run_dir"])
        folders = tuple({p.resolve() for p in (labs_dir, *(Path(c["path"]).parent for c in request["checks_files"]))
                         if str(p) != "."})
        shared = checking.Shared(settings, lab, run_dir, request["seed"], notify=self.send)
        for item in chosen:
            index = checks.index(item)
            tmp = run_dir / "checks" / item.name
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            context = checking.Context(lab, settings, labs_dir, tmp, request["seed"], shared)
            self.send({"type": "start", "name": item.name})
            self.mark(index, "S")
            started, error = time.monotonic(), None
            shared.setup_seconds = 0.0
            try:
                os.chdir(tmp)
                if item.services:
                    self.send({"type": "setup", "what": "services", "phase": "starting"})
                    try:
                        self.require(item.services)
                    finally:
                        self.send({"type": "setup", "what": "services", "phase": "ready"})
                    started = time.monotonic()
                if item.spark:
                    shared.spark()  # before the check's own time: a session's start is not the check's
                item.function(context)
            except BaseException as raised:  # noqa: BLE001 - whatever the student's code does costs one check
                error = raised
            seconds = time.monotonic() - started - shared.setup_seconds
            self.mark(index, "E")
            status, message = checking.outcome(error, folders)
            self.send({"type": "result", "name": item.name, "status": status, "message": message,
                       "traceback": _traceback(error),
                       "seconds": round(seconds, 3)})
            error = None
        self.send({"type": "done"})
        if shared.session is not None:
            try:
                shared.session.stop()
            except Exception:  # noqa: BLE001 - the runner ends the process group anyway
                pass
        return 0


def _traceback(error: BaseException | None) -> str:
    """The full traceback, from the check's own frame on (not the worker's); none when the message says all."""
    from labctl.checking import SetupError
    from pipeline.seams import StudentCodeError

    if error is None or isinstance(error, (SetupError, StudentCodeError)):
        return ""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__.tb_next
                                              if error.__traceback__ else None))


def main() -> None:
    result_fd = int(sys.argv[sys.argv.index("--result-fd") + 1])
    request = json.loads(sys.stdin.read())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # input() in student code gets EOF instead of waiting forever
    os.close(devnull)
    # Spark's Python workers run this interpreter (it has the pipeline), unless the user chose another.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    code = Worker(request, result_fd).run()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # threads the student's code left running do not keep the worker alive


if __name__ == "__main__":
    main()
