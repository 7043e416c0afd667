"""Dashboard API benchmark with wrk: requests/s and latency percentiles per endpoint, printed as a table.

    lab-venv-python bench/bench_dashboard.py                      # the dashboard under supervisor (:5000)
    lab-venv-python bench/bench_dashboard.py --namespace NS       # an in-process waitress server on NS

Goals: p95 <= 50 ms for the batch endpoints, <= 100 ms for the live ones, no errors.
wrk's own report has no p95, so a small Lua `done` hook prints the percentiles as JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from typing import Annotated

import requests
import typer
from rich.console import Console
from rich.table import Table
from served import served

app = typer.Typer(add_completion=False)
console = Console()

BATCH = ["/api/kpis", "/api/daily", "/api/hourly", "/api/funnel", "/api/products", "/api/brands", "/api/categories",
         "/api/summary"]
LIVE = ["/api/live/minutes", "/api/live/totals", "/api/live/top-products", "/api/live/purchases"]
GOAL_MS = {"batch": 50, "live": 100}
REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "duration_us": %d, "socket_errors": %d, "non_2xx": %d, '
    .. '"p50_us": %d, "p95_us": %d, "p99_us": %d}\\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def wrk(url: str, connections: int, seconds: int, threads: int, script: str) -> dict:
    output = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, url],
                            capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


@app.command()
def main(
    url: Annotated[str, typer.Option(help="Base URL of a running dashboard.")] = "http://127.0.0.1:5000",
    namespace: Annotated[str | None, typer.Option(help="Serve the app in-process on this namespace instead.")] = None,
    connections: Annotated[int, typer.Option(help="Concurrent connections.")] = 32,
    seconds: Annotated[int, typer.Option(help="Duration per endpoint.")] = 10,
    threads: Annotated[int, typer.Option(help="wrk threads.")] = 2,
) -> None:
    """Load every API endpoint in turn and print requests/s, p50/p95/p99 and errors."""
    if shutil.which("wrk") is None:
        raise typer.BadParameter("wrk is not installed (apt-get install wrk; the dashboard role installs it)")
    table = Table(title=f"Dashboard API, wrk -c{connections} -t{threads} -d{seconds}s")
    for column in ("endpoint", "kind", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "goal p95"):
        table.add_column(column, justify="left" if column in ("endpoint", "kind") else "right", no_wrap=True)
    failed = False
    with served(namespace, url) as base, tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(REPORT)
        script.flush()
        for kind, endpoints in (("batch", BATCH), ("live", LIVE)):
            for endpoint in endpoints:
                requests.get(base + endpoint, timeout=30).raise_for_status()  # warm the cache, fail on 503
                result = wrk(base + endpoint, connections, seconds, threads, script.name)
                errors = result["socket_errors"] + result["non_2xx"]
                p95 = result["p95_us"] / 1000
                met = p95 <= GOAL_MS[kind] and errors == 0
                failed |= not met
                table.add_row(endpoint, kind, f"{result['requests'] / (result['duration_us'] / 1e6):,.0f}",
                              f"{result['p50_us'] / 1000:.1f}", f"{p95:.1f}", f"{result['p99_us'] / 1000:.1f}",
                              str(errors), f"≤ {GOAL_MS[kind]} ms " + ("[green]met[/]" if met else "[red]missed[/]"))
    console.print(table)
    raise typer.Exit(1 if failed else 0)


if __name__ == "__main__":
    app()
