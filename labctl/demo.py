"""The demo: the sample pushed through the pipeline once, then the demo programs keep the
dashboard moving (ingest consumers, the real-time job, a slow replaying producer)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import yaml

from pipeline import settings as pipeline_settings

CONFIG = Path("/etc/ecommerce-lab/demo.yml")


def config() -> dict:
    """namespace, input and autostart, as the demo role wrote them (empty when not provisioned)."""
    return yaml.safe_load(CONFIG.read_text()) if CONFIG.exists() else {}


def autostart() -> bool:
    return bool(config().get("autostart"))


def prepare(step: Callable[[str], None]) -> bool:
    """Run the whole pipeline over the demo dataset unless its namespace has a summary already."""
    from pipeline import run as pipeline_run  # imports Spark, which `lab status` and the dashboard never need

    demo = config()
    settings = pipeline_settings.load(namespace=demo["namespace"])
    client = settings.webhdfs()
    if client.status(settings.summary_path, strict=False) is not None:
        return False
    pipeline_run.run(settings, demo["input"], step=step, progress=False)
    return True
