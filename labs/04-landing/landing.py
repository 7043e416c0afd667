"""Lab 04 — HDFS raw landing, exactly once: your four functions of the landing consumer.

The lab gives you the consumer around them (pipeline/landing.py, ``_Lander``): it reads the raw topic,
calls your ``ingest_date`` and ``raw_line`` for each record, groups a partition's consecutive records of
one day, and hands each group to your ``write_file`` under the name your ``file_name`` gives. When it
starts, it reads the names of the files already in the raw zone (``PART`` below) to know where each
partition stopped, and carries on from there. Write the functions below, one step of
labs/04-landing/README.md each; `lab check 04` tells you how far you are.

The raw zone: ``/ecommerce/<namespace>/raw/ingest_date=YYYY-MM-DD/part-PPP-FFFFFFFFFFFF-LLLLLLLLLLLL.jsonl``
(P the Kafka partition, F and L the first and last offset in the file), one JSON object per line.
"""

from __future__ import annotations

import json  # noqa: F401 (one JSON object per line)
from datetime import datetime, timezone  # noqa: F401 (dates of timestamps)

from hdfs import InsecureClient  # noqa: F401 (the WebHDFS client write_file receives)

from pipeline.contract import decode  # noqa: F401 (bytes to text, as every stage does)
from pipeline.landing import PART, TEMP  # noqa: F401 (the names the consumer looks for when it starts)


def ingest_date(timestamp_ms: int) -> str:
    """The ``YYYY-MM-DD`` date, UTC, of a Kafka timestamp (milliseconds since the epoch)."""
    raise NotImplementedError("lab 04, step 1: write ingest_date in labs/04-landing/landing.py")


def file_name(partition: int, first: int, last: int) -> str:
    """The name of the file holding a partition's records ``first``..``last`` (offsets, inclusive):
    ``part-PPP-FFFFFFFFFFFF-LLLLLLLLLLLL.jsonl``, zero-padded so names sort in offset order."""
    raise NotImplementedError("lab 04, step 2: write file_name in labs/04-landing/landing.py")


def raw_line(raw: bytes, source: str | None, line: int | None, partition: int, offset: int,
             timestamp_ms: int) -> str:
    """One JSON line of the raw zone (no line terminator): {"raw", "source", "line", "partition", "offset",
    "timestamp_ms"}, ``raw`` the record decoded as ``contract.decode`` does, non-ASCII kept as it is."""
    raise NotImplementedError("lab 04, step 3: write raw_line in labs/04-landing/landing.py")


def write_file(client: InsecureClient, directory: str, name: str, data: bytes) -> None:
    """Make ``<directory>/<name>`` appear whole or not at all: write ``data`` to the hidden
    ``<directory>/.<name>.tmp`` (overwriting a leftover), then rename it to ``<directory>/<name>``."""
    raise NotImplementedError("lab 04, step 4: write write_file in labs/04-landing/landing.py")
