"""``lab data``: Typer commands for the data set generator."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .generator import DEFAULT_DAYS, DEFAULT_DEFECT_RATE, DEFAULT_START, generate
from .manifest import manifest_path

app = typer.Typer(help="Generate ecommerce events in the REES46 schema.", no_args_is_help=True, add_completion=False)


@app.callback()
def _data() -> None:
    """Synthetic ecommerce events in the REES46 schema."""


@app.command("generate")
def generate_cmd(
    rows: Annotated[int, typer.Option("--rows", min=0, help="Data lines to write (header excluded).")],
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed; same arguments give the same bytes.")],
    out: Annotated[Path, typer.Option("--out", dir_okay=False, help="CSV to write; the manifest goes next to it.")],
    start: Annotated[str, typer.Option("--start", help="First day, YYYY-MM-DD (UTC).")] = DEFAULT_START,
    days: Annotated[int, typer.Option("--days", min=1, help="Number of days the events span.")] = DEFAULT_DAYS,
    defect_rate: Annotated[
        float, typer.Option("--defect-rate", min=0.0, max=1.0, help="Share of rows carrying one defect.")
    ] = DEFAULT_DEFECT_RATE,
) -> None:
    """Write N events to FILE and FILE's manifest (.manifest.json)."""
    console = Console(stderr=True)
    try:
        dt.date.fromisoformat(start)
    except ValueError:
        raise typer.BadParameter(f"not a YYYY-MM-DD date: {start!r}", param_hint="--start") from None
    columns = (TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("rows", total=rows)
        manifest = generate(out, rows, seed, start, days, defect_rate, progress=lambda n: bar.update(task, completed=n))
    exp = manifest.expected
    console.print(
        f"wrote {manifest.rows} rows to {out} ({sum(exp['rejected'].values())} to reject, "
        f"{exp['duplicates_removed']} duplicates, {exp['clean_events']} clean); manifest {manifest_path(out)}"
    )
