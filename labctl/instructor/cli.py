"""The instructor's commands of `lab`: verify, grade, release (absent from the student edition)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from labctl import course

console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _labs(numbers: list[str] | None) -> list[str]:
    try:
        return [course.lab(n).number for n in numbers] if numbers else list(course.LABS)
    except course.UnknownLab as error:
        err.print(f"[red]{escape(str(error))}[/]")
        raise typer.Exit(2) from None


def verify(labs: list[str] | None = typer.Argument(None, help="Lab numbers (default: every lab).")) -> None:
    """Prove the graders: the solution gets full marks twice (TZ=UTC and another zone), the starter 0,
    every mutant loses points on the checks that name it."""
    from labctl.instructor.verify import verify_lab

    table = Table(title="Graders verified", title_justify="left")
    for column in ("lab", "solution (UTC, +05:45)", "starter", "mutants caught", "seconds", "verdict"):
        table.add_column(column)
    failed = False
    with console.status("verifying") as spinner:
        for number in _labs(labs):
            found = verify_lab(number, on_step=lambda step: spinner.update(step))
            if found.skipped:
                table.add_row(number, "-", "-", "-", "-", f"skipped: {found.skipped}")
                continue
            caught = sum(verdict == "caught" for _, verdict in found.mutants)
            table.add_row(number, ", ".join(found.solution), found.starter, f"{caught}/{len(found.mutants)}",
                          f"{found.seconds:.0f}", "[green]ok[/]" if found.ok else "[red]FAIL[/]")
            for problem in found.problems:
                err.print(f"[red]lab {number}: {escape(problem)}[/]")
            failed |= not found.ok
    console.print(table)
    if failed:
        raise typer.Exit(1)


def release(
    out: Path = typer.Option(..., "--out", help="A new folder for the student edition.", file_okay=False),
    with_solutions: bool = typer.Option(False, "--solutions", help="The reference solutions in the labs' files."),
) -> None:
    """Write the student edition: starters instead of solutions, no hidden checks, mutants or tests."""
    from labctl.instructor.release import ReleaseError
    from labctl.instructor.release import release as write_release

    try:
        written = write_release(out, with_solutions)
    except ReleaseError as error:
        err.print(f"[red]{escape(str(error))}[/]")
        raise typer.Exit(2) from None
    edition = "with the reference solutions" if with_solutions else "for students"
    console.print(f"[green]✓[/] {len(written)} files: the student edition {edition} in {out}", highlight=False)


def grade(
    first: str = typer.Argument(..., metavar="NN", help="The lab's number (with --all: the submissions folder)."),
    second: Path | None = typer.Argument(None, metavar="SUBMISSIONS",
                                         help="A folder with one sub-folder or .zip per student, named by the "
                                              "student's id: their labs/ folder or their whole release tree."),
    out: Path = typer.Option(..., "--out", help="Where grades.csv and a folder per student go.", file_okay=False),
    every_lab: bool = typer.Option(False, "--all", help="Grade every lab into one gradebook."),
    jobs: int = typer.Option(1, "--jobs", min=1, help="Submissions graded at once (labs without services only)."),
    force: bool = typer.Option(False, "--force", help="Regrade submissions already graded."),
    student_timeout: float | None = typer.Option(None, "--student-timeout", min=1,
                                                 help="Seconds a submission may take in all (default by lab)."),
) -> None:
    """Grade a class: public and hidden checks per student, isolated; grades.csv, results.json, feedback.md."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    from labctl.instructor import grading

    if every_lab:
        folder, numbers = Path(first), [n for n in course.LABS if n not in grading.SELF_CHECKED]
        if second is not None:
            err.print("[red]With --all, give only the submissions folder.[/]")
            raise typer.Exit(2)
    else:
        if second is None:
            err.print("[red]Give the lab and the submissions folder: lab grade NN SUBMISSIONS --out GRADES[/]")
            raise typer.Exit(2)
        folder, numbers = second, _labs([first])
    results: dict[str, list] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("ETA"), TimeRemainingColumn(), console=console) as progress:
        for number in numbers:
            task = progress.add_task(f"lab {number}", total=None)

            def graded(result, number=number, task=task) -> None:
                colour = {"ok": "green", "timeout": "yellow"}.get(result.status, "red")
                touched = f"  [red]touched {len(result.touched)} outside its namespace[/]" if result.touched else ""
                progress.console.print(f"lab {number}  {escape(result.student)}  {result.score}/{result.max_score}  "
                                       f"[{colour}]{result.status}[/]  {result.seconds:.0f} s{touched}",
                                       highlight=False)
                progress.advance(task)

            target = out / f"lab-{number}" if every_lab else out
            try:
                results[number] = grading.grade_class(
                    number, folder, target, jobs=jobs, force=force, limit_s=student_timeout,
                    on_start=lambda total, task=task: progress.update(task, total=total), on_graded=graded)
            except grading.GradingError as error:
                err.print(f"[red]{escape(str(error))}[/]")
                raise typer.Exit(2) from None
    if every_lab:
        grading.write_gradebook(out / "gradebook.csv", results)
    for number, grades in results.items():
        counts = {status: sum(g.status == status for g in grades) for status in ("ok", "timeout", "error")}
        touched = sum(bool(g.touched) for g in grades)
        console.print(f"lab {number}: {len(grades)} graded ({counts['ok']} ok, {counts['timeout']} timeout, "
                      f"{counts['error']} error; {touched} touched another namespace) → "
                      f"{(out / f'lab-{number}') if every_lab else out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("grade")(grade)
    app.command("verify")(verify)
    app.command("release")(release)
