"""`lab`: one command for the whole lab (stack control; data and pipeline sub-commands)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from datasets.cli import app as data_app
from labctl import demo as demo_stage
from labctl import check_runner, course, health, memory, provision, serve, stack, supervisor
from labctl.services import Service, UnknownService, load_services, select
from pipeline import edition, seams
from pipeline.cli import app as pipeline_app

app = typer.Typer(help="Control the ecommerce big-data lab.", no_args_is_help=True, add_completion=False)
app.add_typer(data_app, name="data", help="Generate ecommerce event datasets.")
app.add_typer(pipeline_app, name="pipeline", help="Run the ecommerce pipeline's stages.")
demo_app = typer.Typer(help="The demo that keeps the dashboard moving.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
# Wide tables also when the output is a log file (CI), not a terminal.
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

SERVICE_ARG = typer.Argument(None, help="One service (default: all). `lab status` lists them.")


def _services(name: str | None = None) -> tuple[list[Service], list[Service]]:
    every = load_services()
    if not every:
        err.print("[red]This host is not provisioned yet:[/] run [bold]sudo ./lab up[/] from the checkout.")
        raise typer.Exit(1)
    try:
        return select(every, name), every
    except UnknownService as error:
        err.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None


def _print_status(services: list[Service]) -> list[stack.Status]:
    """The table of ``services``' states and health; their rows."""
    table = Table(title="Lab services", title_justify="left")
    for column in ("service", "state", "pid", "ports", "health", "web UI"):
        table.add_column(column)
    rows = stack.status(services)
    for row in rows:
        if row.healthy:
            health = f"[green]ok[/] {row.detail}"
        elif row.service.demo and row.state != "RUNNING":
            health = "off (lab demo start)"
        else:
            health = f"[red]FAIL[/] {row.detail}"
        table.add_row(row.service.name, row.state, str(row.pid or "-"),
                      ",".join(map(str, row.service.ports)), health, row.service.ui or "-")
    console.print(table)
    _warn_low_memory({row.pid for row in rows if row.service.demo and row.pid})
    return rows


def _healthy(rows: list[stack.Status]) -> bool:
    """Is every service of the stack (the demo aside: it may be off) healthy?"""
    return all(row.healthy for row in rows if not row.service.demo)


def _print_consumer_groups(kafka_up: bool) -> bool:
    """The pipeline's consumer groups of $LAB_NAMESPACE (default: the demo's) and their health; False when one is
    stuck (records wait and it commits nothing). Not checked while Kafka is down (its row says so)."""
    from kafka.errors import KafkaError

    from pipeline import settings as pipeline_settings

    settings = pipeline_settings.load()
    if not kafka_up:
        console.print(f"consumer groups of namespace {settings.namespace}: not checked (Kafka is down)")
        return True
    table = Table(title=f"Consumer groups of {settings.raw_topic}", title_justify="left")
    for column in ("group", "lag", "health"):
        table.add_column(column)
    try:
        with console.status("watching the consumer groups' commits"):
            groups = health.consumer_groups(settings)
    except KafkaError as error:
        err.print(f"[red]✗ Kafka could not report the consumer groups: {type(error).__name__}[/]")
        return False
    for group in groups:
        state = "[green]ok[/]" if group["healthy"] else "[red]FAIL[/]"
        table.add_row(group["group"], f"{group['lag']:,}", f"{state} {escape(group['detail'])}")
    console.print(table)
    for group in groups:
        if not group["healthy"]:
            err.print(f"[red]✗ {escape(group['group'])}: {escape(group['detail'])}[/]. To fix it: "
                      f"[bold]{escape(group['fix'])}[/]", highlight=False, soft_wrap=True)
    return all(group["healthy"] for group in groups)


def _warn_low_memory(demo_pids: set[int] | None = None) -> None:
    """A yellow warning naming what to stop when a Spark job would not fit in the available memory."""
    if demo_pids is None:
        demo_pids = {state.pid for name, state in supervisor.states().items()
                     if state.pid and name in {s.name for s in load_services() if s.demo}}
    for line in memory.low_memory_advice(demo_pids):
        err.print(f"[yellow]{escape(line)}[/]", highlight=False)


def _core(services: list[Service]) -> list[Service]:
    """The stack without the demo programs (`lab demo start` starts those)."""
    return [s for s in services if not s.demo]


def _start(services: list[Service], every: list[Service]) -> None:
    try:
        with console.status("starting") as spinner:
            def report(service: Service, detail: str) -> None:
                console.print(f"[green]✓[/] {service.name}: {detail}")

            for service in services:
                spinner.update(f"starting {service.name}, waiting until it is healthy")
                stack.start([service], every, on_healthy=report)
    except stack.StartFailed as failure:
        err.print(f"[red]✗ {failure}[/]\n[bold]last lines of {failure.service.log}:[/]\n{failure.log_tail}")
        err.print(f"More: [bold]lab logs {failure.service.name}[/]")
        raise typer.Exit(1) from None
    except supervisor.SupervisorError as error:
        err.print(f"[red]{error}[/]")
        raise typer.Exit(1) from None


@app.command()
def up(
    reprovision: bool = typer.Option(False, "--provision", help="Run the playbook even if nothing changed."),
    skip_provision: bool = typer.Option(False, "--no-provision", help="Only start the services."),
) -> None:
    """Provision this host if needed, start everything in order, wait until healthy."""
    if not skip_provision:
        try:
            if provision.provision(force=reprovision):
                console.print("[green]✓[/] provisioned with ansible/site.yml")
            else:
                console.print("provisioning is current (use --provision to run the playbook anyway)")
        except PermissionError as error:
            err.print(f"[red]{error}[/]")
            raise typer.Exit(1) from None
        except subprocess.CalledProcessError:
            err.print("[red]the playbook failed; its output above names the failing task[/]")
            raise typer.Exit(1) from None
    services, every = _services()
    _start(_core(services), every)
    if demo_stage.autostart():
        demo_start()
    if not _healthy(_print_status(every)):
        raise typer.Exit(1)


@app.command()
def status() -> None:
    """One row per service, then the pipeline's consumer groups; exit code 1 if a service is unhealthy or a
    consumer group is stuck."""
    _, every = _services()
    rows = _print_status(every)
    kafka_up = any(row.healthy for row in rows if row.service.health.get("kind") == "kafka")
    if not (_print_consumer_groups(kafka_up) and _healthy(rows)):
        raise typer.Exit(1)


@app.command()
def start(service: str | None = SERVICE_ARG) -> None:
    """Start all services (in dependency order) or one."""
    services, every = _services(service)
    _start(services if service else _core(services), every)


@app.command()
def stop(service: str | None = SERVICE_ARG) -> None:
    """Stop all services (in reverse order) or one."""
    services, _ = _services(service)
    with console.status("stopping"):
        try:
            stack.stop(services)
        except supervisor.SupervisorError as error:
            err.print(f"[red]{error}[/]")
            raise typer.Exit(1) from None
    console.print(f"stopped: {', '.join(s.name for s in services)}")


@app.command()
def restart(service: str | None = SERVICE_ARG) -> None:
    """Stop then start all services or one."""
    stop(service)
    start(service)


@app.command()
def logs(
    service: str = typer.Argument(..., help="The service whose log to show."),
    lines: int = typer.Option(50, "--lines", "-n", help="How many lines."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
) -> None:
    """The tail of a service's log file."""
    (chosen,), _ = _services(service)
    if follow:
        os.execvp("tail", ["tail", "-n", str(lines), "-F", chosen.log])
    text = stack.tail(chosen.log, lines)
    sys.stdout.write(text or f"(no log yet at {chosen.log})\n")


@demo_app.command("start")
def demo_start() -> None:
    """Push the sample through the pipeline (once), then start the demo programs."""
    every = load_services()
    demo = [s for s in every if s.demo]
    if not demo:
        err.print("[red]the demo is not provisioned:[/] run [bold]sudo lab up[/]")
        raise typer.Exit(1)
    with console.status("preparing the demo") as spinner:
        if demo_stage.prepare(step=spinner.update):
            console.print("[green]✓[/] the demo dataset went through the whole pipeline")
    _start(demo, every)


@demo_app.command("stop")
def demo_stop() -> None:
    """Stop the demo programs (the data stays)."""
    stack.stop([s for s in load_services() if s.demo])
    console.print("demo stopped")


@app.command()
def dashboard(
    namespace: str = typer.Option(None, "--namespace", "-n", envvar="LAB_NAMESPACE",
                                  help="The namespace whose data it shows (default: lab)."),
    mine: bool = typer.Option(False, "--mine", help="Your lab 08 functions and page (labs/08-dashboard of "
                              "$LAB_LABS_DIR, else this checkout) instead of the reference; "
                              "saved edits apply at once."),
    labs: Path = typer.Option(None, "--labs", file_okay=False, exists=True, help="Like --mine, with this labs folder."),
    port: int = typer.Option(serve.DEFAULT_PORT, help="Its port (the provisioned dashboard has 5000)."),
    host: str = typer.Option(None, help="The address it listens on (default: the web UIs' bind address of the "
                             "playbook: 0.0.0.0 in the VM, for the forwarded port; else 127.0.0.1)."),
    seconds: float = typer.Option(None, "--for", min=1, help="Stop after this many seconds (default: at Ctrl-C)."),
    background: bool = typer.Option(False, "--background", help="Start it detached, wait until it answers, return."),
    stop_it: bool = typer.Option(False, "--stop", help="Stop the dashboard that `lab dashboard` serves on --port."),
) -> None:
    """Serve a dashboard of your namespace with waitress (lab 08), by default on port 5001."""
    from pipeline import settings as pipeline_settings

    if stop_it:
        pid = serve.stop(port)
        console.print(f"stopped the dashboard on port {port} (pid {pid})" if pid else f"no dashboard on port {port}")
        return
    if mine and labs is None:
        labs = seams.default_labs_dir()
    try:
        settings = pipeline_settings.load(namespace=namespace, labs_dir=str(labs.resolve()) if labs else None)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--namespace") from None
    host = host or serve.bind_address()
    try:
        if not background:
            serve.serve(settings, host, port, seconds, say=lambda line: console.print(line, markup=False,
                                                                                      highlight=False))
            return
        pid, log = serve.start_background(settings, host, port, seconds)
    except serve.ServeError as error:
        err.print(f"[red]✗ {escape(str(error))}[/]")
        raise typer.Exit(1) from None
    code = "your lab 08 functions" if seams.uses_student(settings, "08") else "the reference"
    console.print(f"your dashboard of namespace {settings.namespace} ({code}) answers at http://localhost:{port}/ "
                  f"(pid {pid}, output in {log}); `lab dashboard --stop --port {port}` stops it",
                  markup=False, highlight=False, soft_wrap=True)


HIDDEN_CHECKS_LINE = "Hidden checks run at grading time: passing every public check does not guarantee full marks."


def _labs_dir(labs: Path | None) -> Path:
    """--labs, else $LAB_LABS_DIR, else the checkout's labs/."""
    chosen = labs or (Path(os.environ["LAB_LABS_DIR"]) if os.environ.get("LAB_LABS_DIR") else None)
    return (chosen or course.course_labs_dir()).expanduser().resolve()


def _ago(moment: float) -> str:
    seconds = max(0, time.time() - moment)
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''} ago"
    return "just now"


def _progress(labs_dir: Path) -> None:
    table = Table(title="Your labs", title_justify="left")
    for column in ("lab", "title", "last score", "when", "files"):
        table.add_column(column)
    for lab in course.LABS.values():
        result = check_runner.saved(lab.number)
        if result is None:
            table.add_row(lab.number, lab.title, "not checked", "-", "")
            continue
        score = f"{result.points}/{result.max_points}"
        score = f"[green]{score}[/]" if result.passed else score
        folder = Path(result.labs_dir) if result.labs_dir else labs_dir
        changed = "[yellow]changed since[/]" if course.files_hash(lab.number, folder) != result.files_hash else ""
        table.add_row(lab.number, lab.title, score, _ago(result.finished_at), changed)
    console.print(table)


@app.command("check")
def check_lab(
    lab: str | None = typer.Argument(None, help="The lab's number, e.g. 01 (none: your score in every lab)."),
    labs: Path | None = typer.Option(None, "--labs", help="Your labs folder (default: $LAB_LABS_DIR, "
                                     "else the checkout's labs/).", file_okay=False),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Full tracebacks and output of failing checks."),
    reference: bool = typer.Option(False, "--reference", help="Check the reference implementation instead."),
    checks_file: Path | None = typer.Option(None, "--checks-file", hidden=True, dir_okay=False),
    seed: int | None = typer.Option(None, "--seed", hidden=True),
) -> None:
    """Run a lab's public checks against your code; without a number, your progress over all labs."""
    labs_dir = _labs_dir(labs)
    if lab is None:
        _progress(labs_dir)
        return
    if reference and edition.STUDENT_EDITION:
        err.print("[red]The student edition has no reference solutions to check.[/]")
        raise typer.Exit(2)
    try:
        number = course.lab(lab).number
    except course.UnknownLab as error:
        err.print(f"[red]{escape(str(error))}[/]")
        raise typer.Exit(2) from None
    width = [30]
    with console.status(f"lab {number}: starting the checks") as spinner:
        def on_checks(checks: list[dict]) -> None:
            width[0] = max([len(c["name"]) for c in checks] + [10])
            if any(c["spark"] for c in checks):
                _warn_low_memory()

        def on_start(name: str) -> None:
            spinner.update(f"lab {number}: {name.replace('_', ' ')}")

        def on_result(result: check_runner.CheckResult) -> None:
            mark = "[green]✓[/]" if result.passed else "[red]✗[/]"
            console.print(f"{mark} {escape(result.title).ljust(width[0])}  {result.points}/{result.max_points}",
                          highlight=False)
            if result.passed:
                return
            if result.hint:
                console.print(f"    {escape(result.hint)}", highlight=False)
            console.print(f"    [red]{result.status}:[/] {escape(result.message)}", highlight=False)
            if verbose:
                if result.traceback:
                    console.print(escape(result.traceback.rstrip()), highlight=False)
                if result.output.strip():
                    console.print("[bold]output (last lines):[/]")
                    console.print(escape("\n".join(result.output.rstrip().splitlines()[-40:])), highlight=False)

        try:
            result = check_runner.run_lab(number, labs_dir, reference=reference, verbose=verbose,
                                          checks_file=checks_file, seed=seed, on_checks=on_checks,
                                          on_start=on_start, on_result=on_result)
        except check_runner.CheckRunnerError as error:
            err.print(f"[red]{escape(str(error))}[/]")
            raise typer.Exit(2) from None
    for warning in result.warnings:
        err.print(f"[yellow]{escape(warning)}[/]")
    console.print(f"[bold]{result.points}/{result.max_points} points[/]", highlight=False)
    console.print(HIDDEN_CHECKS_LINE)
    if not reference:
        try:
            check_runner.save(result)
        except OSError as error:
            err.print(f"[yellow]could not save the result: {escape(str(error))}[/]")
    if not result.passed:
        raise typer.Exit(1)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def test(ctx: typer.Context) -> None:
    """`lab up`, then the whole test suite (extra arguments go to pytest, e.g. `-m smoke`)."""
    up(reprovision=False, skip_provision=False)
    result = subprocess.run([sys.executable, "-m", "pytest", *ctx.args], cwd=provision.REPO, check=False)
    raise typer.Exit(result.returncode)


if (Path(__file__).parent / "instructor").is_dir():  # the student edition has no instructor tools
    from labctl.instructor.cli import register

    register(app)


def main() -> None:
    try:
        app()
    except Exception as error:
        message = seams.unfinished(error)
        if message is None:
            raise
        err.print(f"[red]✗ {message}[/]")
        sys.exit(1)
