"""Write a REES46-schema events CSV and its manifest, streaming, in constant memory.

Clean lines come time-ordered from :mod:`datasets.sessions`; a
:class:`~datasets.defects.DefectInjector` (its own random stream, so the
clean events do not depend on the defect rate) spoils a share of them.
Exact duplicates of valid rows are counted per second: valid rows keep
their clean, sorted timestamp, so equal rows always share a second.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

from pipeline.contract import REASONS

from .catalogue import build_catalogue
from .clock import Clock
from .defects import KINDS, DefectInjector
from .manifest import Manifest, expected_outcome, manifest_path
from .sessions import clean_lines

HEADER = ("event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price", "user_id",
          "user_session")
DEFAULT_START = "2019-10-01"
DEFAULT_DAYS = 7
DEFAULT_DEFECT_RATE = 0.01
_CHUNK = 8192


def _as_date(start: str | dt.date) -> dt.date:
    if isinstance(start, dt.datetime):
        return start.date()
    if isinstance(start, dt.date):
        return start
    return dt.date.fromisoformat(start)


def generate(
    out_path: str | Path,
    rows: int,
    seed: int,
    start: str | dt.date = DEFAULT_START,
    days: int = DEFAULT_DAYS,
    defect_rate: float = DEFAULT_DEFECT_RATE,
    progress: Callable[[int], None] | None = None,
) -> Manifest:
    """Write ``rows`` data lines (plus the header) to ``out_path`` and the manifest next to it.

    The same arguments give byte-identical files. ``progress`` is called now and
    then with the number of rows written so far, and once at the end.
    """
    if rows < 0:
        raise ValueError("rows must not be negative")
    start_date = _as_date(start)
    clock = Clock(start_date, days)
    injector = DefectInjector(seed, defect_rate)
    lines = clean_lines(build_catalogue(seed), clock, rows, seed)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256()
    written = duplicates = 0
    second, seen = "", set()
    buf = [",".join(HEADER) + "\n"]
    due, apply = injector.due, injector.apply

    with open(out, "wb") as fh:

        def flush() -> None:
            chunk = "".join(buf).encode()
            sha.update(chunk)
            fh.write(chunk)
            buf.clear()
            if progress is not None:
                progress(written)

        for line in lines:
            if written >= rows:
                break
            hit = apply(line, rows - written) if due() else None
            if hit is None:
                text, n, keys = line, 1, (line,)
            else:
                text, n, keys = hit
            buf.append(text)
            written += n
            if keys:
                if line[:19] != second:
                    second = line[:19]
                    seen.clear()
                for key in keys:
                    if key in seen:
                        duplicates += 1
                    else:
                        seen.add(key)
            if len(buf) >= _CHUNK:
                flush()
        lines.close()
        flush()

    counts = dict(injector.counts)
    variants: dict[str, dict[str, int]] = {k: {} for k in KINDS}
    for (kind, variant), n in sorted(injector.variants.items()):
        variants[kind][variant] = n
    manifest = Manifest(
        file=out.name,
        seed=seed,
        rows=written,
        args={"rows": rows, "seed": seed, "start": start_date.isoformat(), "days": days, "defect_rate": defect_rate},
        sha256=sha.hexdigest(),
        defects=counts,
        defect_variants=variants,
        expected=expected_outcome(written, {reason: counts.get(reason, 0) for reason in REASONS}, duplicates),
        header=list(HEADER),
    )
    manifest.write(manifest_path(out))
    return manifest
