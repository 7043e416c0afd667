"""`lab`: one command for the whole lab (stack control; data and pipeline sub-commands)."""

from __future__ import annotations

import os
import subprocess
import sys

import typer
from rich.console import Console
from rich.table import Table

from datasets.cli import app as data_app
from labctl import demo as demo_stage
from labctl import provision, stack, supervisor
from labctl.services import Service, UnknownService, load_services, select
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


def _print_status(services: list[Service]) -> bool:
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
    return all(row.healthy for row in rows if not row.service.demo)


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
    if not _print_status(every):
        raise typer.Exit(1)


@app.command()
def status() -> None:
    """One row per service; exit code 1 if any service is unhealthy."""
    _, every = _services()
    if not _print_status(every):
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


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def test(ctx: typer.Context) -> None:
    """`lab up`, then the whole test suite (extra arguments go to pytest, e.g. `-m smoke`)."""
    up(reprovision=False, skip_provision=False)
    result = subprocess.run([sys.executable, "-m", "pytest", *ctx.args], cwd=provision.REPO, check=False)
    raise typer.Exit(result.returncode)


def main() -> None:
    app()
