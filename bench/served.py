"""The dashboard app served in-process by waitress, for the benchmarks that need it on their own namespace."""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Iterator

from waitress.server import create_server

from dashboard import create_app
from pipeline import settings


@contextmanager
def served(namespace: str | None, url: str) -> Iterator[str]:
    """The base URL to load: ``url``, or a waitress server of the app on ``namespace`` (8 threads, as deployed)."""
    if namespace is None:
        yield url
        return
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth" under 32 connections
    server = create_server(create_app(settings.load(namespace=namespace)), host="127.0.0.1", port=0, threads=8)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
