"""The manifest: ground truth about a generated file, as JSON next to it.

``events.csv`` gets ``events.manifest.json`` with the seed, the generator
arguments, the row count, the SHA-256 of the CSV, the rows carrying each
defect kind (and a breakdown by variant), and the ``expected`` outcome of
the cleaning contract: ``input_records``, ``rejected`` per reason, ``valid``,
``duplicates_removed`` and ``clean_events``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1


def manifest_path(csv_path: str | Path) -> Path:
    """``dir/events.csv`` -> ``dir/events.manifest.json``."""
    p = Path(csv_path)
    return p.with_name(p.stem + ".manifest.json") if p.suffix else p.with_name(p.name + ".manifest.json")


@dataclass
class Manifest:
    """What :func:`datasets.generate` wrote; ``to_json``/``load`` round-trip it."""

    file: str
    seed: int
    rows: int
    args: dict[str, Any]
    sha256: str
    defects: dict[str, int]
    defect_variants: dict[str, dict[str, int]]
    expected: dict[str, Any]
    header: list[str] = field(default_factory=list)
    generator: str = "datasets.generator"
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


def expected_outcome(rows: int, rejected: dict[str, int], duplicates: int) -> dict[str, Any]:
    """The ``expected`` block of the cleaning contract."""
    valid = rows - sum(rejected.values())
    return {
        "input_records": rows,
        "rejected": dict(rejected),
        "valid": valid,
        "duplicates_removed": duplicates,
        "clean_events": valid - duplicates,
    }
