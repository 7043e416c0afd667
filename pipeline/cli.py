"""`lab pipeline ...`: each stage on its own, or all of them in order."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from datasets.manifest import manifest_path
from pipeline import analyze as analyze_stage
from pipeline import contract
from pipeline import clean as clean_stage
from pipeline import hbase_sink, landing, produce as produce_stage, realtime
from pipeline import run as run_stage
from pipeline import seams
from pipeline import settings as settings_module
from pipeline.settings import Settings
from pipeline.spark import Phases

app = typer.Typer(help="Run the ecommerce pipeline's stages.", no_args_is_help=True)
console = Console()

INPUT = typer.Option(..., "--input", "-i", exists=True, dir_okay=False, readable=True,
                     help="CSV file in the REES46 schema (generated, the sample, or a real Kaggle file).")


def _settings(ctx: typer.Context) -> Settings:
    return ctx.obj


@app.callback()
def namespace_option(
    ctx: typer.Context,
    namespace: str = typer.Option(None, "--namespace", "-n", envvar="LAB_NAMESPACE",
                                  help="Prefix of every topic, HBase table and HDFS directory (default: lab)."),
    mine: bool = typer.Option(False, "--mine", help="Run the functions you wrote in your labs folder "
                              "($LAB_LABS_DIR, else this checkout's labs/) instead of the reference."),
    labs: Path = typer.Option(None, "--labs", file_okay=False, exists=True,
                              help="Like --mine, with this labs folder."),
    only: str = typer.Option(None, "--only", envvar="LAB_STUDENT_LABS",
                             help="With --mine: only these labs' functions are yours, e.g. 03 or 01,03 (default: all)."),
    spark_master: str = typer.Option(None, "--spark-master", help="Where the Spark stages run: local[*] (one JVM "
                                     "on this machine, the default) or spark://127.0.0.1:7077 (the standalone cluster)."),
) -> None:
    if mine and labs is None:
        labs = seams.default_labs_dir()
    try:
        ctx.obj = settings_module.load(namespace=namespace, labs_dir=str(labs.resolve()) if labs else None,
                                       student_labs=only, spark_master=spark_master)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--namespace/--only") from None


@app.command()
def validate(
    ctx: typer.Context,
    input_csv: Path = INPUT,
    examples: int = typer.Option(2, min=0, help="Rejected records to show per reason."),
) -> None:
    """Apply the data contract (lab 01's validate) to every record of a CSV file and count the verdicts."""
    settings = _settings(ctx)
    validate_record = seams.function(settings, "01", "validate")
    counts: dict[str, int] = {}
    shown: dict[str, list[str]] = {}
    row_ids: set[str] = set()
    with input_csv.open("rb") as stream:
        for _, raw in contract.read_records(stream, settings.max_record_bytes):
            verdict = validate_record(contract.decode(raw), settings.max_record_bytes)
            reason = getattr(verdict, "reason", None) or "valid"
            counts[reason] = counts.get(reason, 0) + 1
            if reason == "valid":
                row_ids.add(verdict.row_id)
            elif len(shown.setdefault(reason, [])) < examples:
                shown[reason].append(verdict.raw)
    manifest = manifest_path(input_csv)
    expected = json.loads(manifest.read_text())["expected"] if manifest.exists() else None
    table = Table(title=f"Verdicts on {input_csv.name}", title_justify="left")
    table.add_column("verdict")
    table.add_column("records", justify="right")
    if expected:
        table.add_column(f"expected ({manifest.name})", justify="right")
    # .get: a manifest written before record_too_large existed expects none (the generator writes none)
    rows = [("valid", counts.pop("valid", 0), expected and expected["valid"]),
            *((reason, counts.pop(reason, 0), expected and expected["rejected"].get(reason, 0))
              for reason in contract.REASONS),
            *((reason, n, expected and "-") for reason, n in counts.items()),
            ("distinct row ids", len(row_ids), expected and expected["clean_events"])]
    for verdict, n, wanted in rows:
        table.add_row(verdict, f"{n:,}", *([] if expected is None else [f"{wanted:,}" if isinstance(wanted, int) else wanted]))
    console.print(table)
    for reason, records in shown.items():
        for record in records:
            console.print(f"{reason}: {record!r}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def produce(
    ctx: typer.Context,
    input_csv: Path = INPUT,
    rate: float = typer.Option(None, help="Events per second (default: as fast as possible)."),
    loop: bool = typer.Option(False, help="Replay the file forever (stop with Ctrl-C)."),
    live: bool = typer.Option(False, help="Stamp each event with the current time (a live demo)."),
    processes: int = typer.Option(produce_stage.DEFAULT_PROCESSES, min=1, max=3,
                                  help="Producer processes, each sending its share of the partitions."),
) -> None:
    """Replay a CSV file into the raw topic."""
    settings = _settings(ctx)
    stats = produce_stage.produce(settings, input_csv, rate=rate, loop=loop, live=live, processes=processes)
    console.print(f"produced {stats.records:,} records into {settings.raw_topic} at {stats.rate:,.0f}/s"
                  f"{_skipped(stats, settings)}")


@app.command()
def ingest(
    ctx: typer.Context,
    sink: str = typer.Option("both", help="hbase, hdfs or both."),
    idle_timeout: float = typer.Option(None, help="Stop after this many seconds without new records."),
    sink_workers: int = typer.Option(hbase_sink.WORKERS, min=1, help="HBase sink processes (one per partition "
                                     "of the raw topic by default; the demo's 20 events/s need one)."),
) -> None:
    """Consume the raw topic into HBase (validated) and the HDFS raw zone; Ctrl-C stops cleanly."""
    settings = _settings(ctx)
    if sink not in {"hbase", "hdfs", "both"}:
        raise typer.BadParameter("choose hbase, hdfs or both", param_hint="--sink")
    if sink == "both":
        with run_stage.Consumers(settings, idle_timeout_s=idle_timeout, sink_workers=sink_workers) as consumers:
            console.print(f"consuming {settings.raw_topic} into HBase and HDFS; Ctrl-C stops")
            try:
                failed = consumers.wait()
            except KeyboardInterrupt:
                failed = None
        if failed:
            console.print(f"[red]consumer failed:[/] {failed}; see its error above. The others were stopped.")
            raise typer.Exit(1)
        return
    try:
        if sink == "hbase":
            stats = hbase_sink.run(settings, idle_timeout_s=idle_timeout, workers=sink_workers)
        else:
            stats = landing.run(settings, idle_timeout_s=idle_timeout)
    except run_stage.STAGE_STOPS as error:
        console.print(f"[red]{sink}:[/] {error}")
        raise typer.Exit(1) from None
    console.print(stats)


WATERMARK = typer.Option(realtime.WATERMARK_DELAY, help="How far behind the latest event time an event may arrive "
                         "and still count, e.g. '31 days' for a whole REES46 month replayed at full speed.")


@app.command()
def stream(
    ctx: typer.Context,
    available_now: bool = typer.Option(False, help="Process what the topic holds now, then stop."),
    trigger: str = typer.Option(realtime.PROCESSING_TIME, help="Time between micro-batches, e.g. '1 second'."),
    watermark_delay: str = WATERMARK,
) -> None:
    """Real-time aggregates (Spark Structured Streaming) into HBase; Ctrl-C stops cleanly."""
    realtime.run(_settings(ctx), available_now=available_now, processing_time=trigger, watermark_delay=watermark_delay)


TIMINGS = typer.Option(False, "--timings", help="Also print the seconds of each phase of the Spark stages.")


def _print_timings(phases: Phases) -> None:
    table = Table(title="Where the time went (Spark is lazy: a phase holds the work its action needed)",
                  title_justify="left")
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    for phase, seconds in phases.seconds.items():
        table.add_row(phase, f"{seconds:.2f}")
    console.print(table)


@app.command()
def clean(ctx: typer.Context, timings: bool = TIMINGS) -> None:
    """Clean the raw zone into Parquet (and the quarantine), print the quality counts."""
    phases = Phases()
    console.print_json(json.dumps(clean_stage.run(_settings(ctx), phases=phases)))
    if timings:
        _print_timings(phases)


@app.command()
def analyze(
    ctx: typer.Context,
    summary_out: Path = typer.Option(None, help="Also write the summary JSON to this local file."),
    timings: bool = TIMINGS,
) -> None:
    """Spark SQL analytics over the clean events: the marts and the summary JSON."""
    phases = Phases()
    summary = analyze_stage.run(_settings(ctx), summary_out=summary_out, phases=phases)
    _print_summary(summary)
    if timings:
        _print_timings(phases)


@app.command()
def run(
    ctx: typer.Context,
    input_csv: Path = INPUT,
    summary_out: Path = typer.Option(..., help="Where to write the summary JSON."),
    watermark_delay: str = WATERMARK,
    timings: bool = TIMINGS,
) -> None:
    """Every stage in order, waiting for the consumers to catch up; prints the summary."""
    settings = _settings(ctx)
    phases = Phases()
    with console.status("starting") as status:
        report = run_stage.run(settings, input_csv, summary_out=summary_out, step=status.update,
                               watermark_delay=watermark_delay, phases=phases)
    console.print(f"produced {report.produced.records:,} records at {report.produced.rate:,.0f}/s"
                  f"{_skipped(report.produced, settings)}")
    _print_summary(report.summary)
    console.print(f"summary written to {summary_out} and hdfs://{settings.summary_path}")
    if timings:
        _print_timings(phases)


def _skipped(stats: produce_stage.ProduceStats, settings: Settings) -> str:
    """What ``produce`` said of the lines it did not send."""
    return f"; {stats.skipped:,} lines skipped, longer than {settings.max_record_bytes:,} bytes (max_record_bytes)"


def _print_summary(summary: dict) -> None:
    quality, kpis = summary["quality"], summary["kpis"]
    table = Table(title="Pipeline summary", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("input records", quality["input_records"]),
        *((f"rejected: {reason}", n) for reason, n in quality["rejected"].items()),
        ("duplicates removed", quality["duplicates_removed"]),
        ("clean events", quality["clean_events"]),
        ("unique users", kpis["unique_users"]),
        ("sessions", kpis["unique_sessions"]),
        ("purchases", kpis["purchases"]),
        ("orders", kpis["orders"]),
        ("revenue", f"{kpis['revenue']:,.2f}"),
        ("AOV", f"{kpis['aov']:,.2f}"),
        ("conversion rate", f"{kpis['conversion_rate']:.2%}"),
        ("cart abandonment", f"{kpis['cart_abandonment_rate']:.2%}"),
    ]
    for measure, value in rows:
        table.add_row(measure, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)
