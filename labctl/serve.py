"""`lab dashboard`: a dashboard of one namespace, with a student's lab 08 functions and page, on port 5001.

Served by waitress like the provisioned dashboard (never Flask's debug server), on the web bind address the
playbook chose (``/etc/ecommerce-lab/dashboard.yml``: 0.0.0.0 in the VM, so that Vagrant's forwarded port
5001 reaches it; else 127.0.0.1). It reads the student's api.py again when it changes and their page at
every request, so a student starts it once. In the foreground Ctrl-C stops it; ``--background`` starts it
detached, waits until it answers and returns; ``--stop`` ends the one on a port (by the id in its pid file).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import requests
import yaml

from pipeline import seams
from pipeline.settings import Settings

DEFAULT_PORT = 5001  # the provisioned dashboard has 5000; the Vagrantfile forwards both
BIND_CONFIG = Path("/etc/ecommerce-lab/dashboard.yml")  # written by ansible/roles/dashboard
THREADS = 4
START_TIMEOUT_S = 60


class ServeError(RuntimeError):
    """The dashboard cannot be served (port taken, did not start); the message says what to do."""


def bind_address() -> str:
    """The address web UIs listen on as the playbook set it (lab_web_bind_address), else 127.0.0.1."""
    try:
        return str((yaml.safe_load(BIND_CONFIG.read_text()) or {}).get("bind_address") or "127.0.0.1")
    except OSError:
        return "127.0.0.1"


def state_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ecommerce-lab"


def pid_file(port: int) -> Path:
    return state_dir() / f"dashboard-{port}.pid"


def log_file(port: int) -> Path:
    return state_dir() / f"dashboard-{port}.log"


def _local(host: str) -> str:
    """The address to reach a server listening on ``host`` from this machine."""
    return "127.0.0.1" if host in ("", "0.0.0.0") else host


def _answers(host: str, port: int) -> bool:
    """Whether something accepts connections on the port."""
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((_local(host), port)) == 0


def running(port: int) -> int | None:
    """The pid of the `lab dashboard` serving ``port`` (from its pid file), None when there is none."""
    try:
        pid = int(pid_file(port).read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"dashboard" in cmdline else None


def _taken(port: int) -> ServeError:
    pid = running(port)
    if pid is not None:
        return ServeError(f"your dashboard already runs on port {port} (pid {pid}); it reads your files again by "
                          f"itself, or `lab dashboard --stop --port {port}` stops it")
    return ServeError(f"port {port} is in use by another program: choose another with --port")


class _Student:
    """WSGI middleware: forgets the student's lab 08 module when its file changes, so the next request
    imports it again (the page is read at every request anyway)."""

    def __init__(self, app, settings: Settings):
        self.app = app
        self.path = seams.SEAMS["08"].path(seams.labs_dir_of(settings))
        self.changed = self._stamp()

    def _stamp(self) -> int | None:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def __call__(self, environ, start_response):
        stamp = self._stamp()
        if stamp != self.changed:
            self.changed = stamp
            seams.load_file.cache_clear()
        return self.app(environ, start_response)


def app_for(settings: Settings):
    """The dashboard app of ``settings`` (a WSGI callable): unwritten or broken lab code answers 500 with
    one line that says which function, and its traceback goes to the output."""
    from flask import jsonify

    from dashboard import create_app

    app = create_app(settings)

    @app.errorhandler(500)
    def server_error(error):
        cause = getattr(error, "original_exception", None) or error
        message = (seams.unfinished(cause)
                   or f"{type(cause).__name__}: {cause} (the traceback is in the dashboard's output)")
        return jsonify(error=message), 500

    return _Student(app, settings) if seams.uses_student(settings, "08") else app


def serve(settings: Settings, host: str, port: int, seconds: float | None,
          say: Callable[[str], None] = print) -> None:
    """Serve the dashboard in this process until Ctrl-C (or SIGTERM), or for ``seconds``."""
    from waitress.server import create_server

    if _answers(host, port):
        raise _taken(port)
    try:
        seams.load(settings, "08")
    except seams.StudentCodeError as error:  # it is read again when it changes: say so and serve
        say(f"✗ {error}")
    application = app_for(settings)
    try:
        server = create_server(application, host=host, port=port, threads=THREADS, ident="lab dashboard")
    except OSError as error:
        raise _taken(port) from error
    pid_file(port).parent.mkdir(parents=True, exist_ok=True)
    pid_file(port).write_text(str(os.getpid()))
    previous = signal.signal(signal.SIGTERM, _interrupt)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    code = "your lab 08 functions" if seams.uses_student(settings, "08") else "the reference lab 08 functions"
    stopper = "Ctrl-C" if sys.stdin is not None and sys.stdin.isatty() else f"`lab dashboard --stop --port {port}`"
    say(f"serving namespace {settings.namespace} with {code} at http://localhost:{port}/ (listening on {host}:{port}); "
        + (f"it stops after {seconds:g} s or at {stopper}" if seconds else f"{stopper} stops it"))
    try:
        thread.join(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        signal.signal(signal.SIGTERM, previous)
        if running(port) == os.getpid():
            pid_file(port).unlink(missing_ok=True)
    say("dashboard stopped")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def start_background(settings: Settings, host: str, port: int, seconds: float | None) -> tuple[int, Path]:
    """Start ``serve`` in a detached process, wait until it answers; (its pid, its log file)."""
    if _answers(host, port):
        raise _taken(port)
    log = log_file(port)
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-c", "from labctl.cli import main; main()", "dashboard", "--namespace",
            settings.namespace, "--host", host, "--port", str(port)]
    if seams.uses_student(settings, "08"):
        argv += ["--labs", str(seams.labs_dir_of(settings))]
    if seconds:
        argv += ["--for", f"{seconds:g}"]
    with log.open("w") as output:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                 start_new_session=True, env={**os.environ, "LAB_STUDENT_LABS": settings.student_labs})
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise ServeError(f"the dashboard did not start (exit code {child.returncode}); its output:\n"
                             + log.read_text()[-2000:])
        try:
            if requests.get(f"http://{_local(host)}:{port}/api/health", timeout=2).ok:
                return child.pid, log
        except requests.RequestException:
            pass
        time.sleep(0.3)
    child.terminate()
    raise ServeError(f"the dashboard did not answer within {START_TIMEOUT_S} s; its output is in {log}")


def stop(port: int) -> int | None:
    """Stop the `lab dashboard` serving ``port``; its pid, None when none runs."""
    pid = running(port)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and running(port) == pid and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
    return pid
