"""The commands a lab README tells students to type, and what it says they will see.

A README's ```console blocks are its executable claims: a line starting with ``$ `` is a
command, the lines after it (up to the next command) are lines the output must contain, in
order. An expected line matches an output line that contains it after both are stripped;
``...`` inside an expected line stands for any text. Every other block is prose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^```console\n(.*?)^```", re.S | re.M)


@dataclass
class Command:
    text: str
    expected: list[str] = field(default_factory=list)
    line: int = 0  # in the README


def commands(readme: Path) -> list[Command]:
    """The README's console commands in order, each with its expected lines."""
    text = readme.read_text(encoding="utf-8")
    found: list[Command] = []
    for block in FENCE.finditer(text):
        first_line = text.count("\n", 0, block.start(1)) + 1
        for offset, line in enumerate(block.group(1).splitlines()):
            if line.startswith("$ "):
                found.append(Command(line[2:].strip(), line=first_line + offset))
            elif line.strip():
                assert found and found[-1].line >= first_line, f"{readme}:{first_line + offset}: output before a command"
                found[-1].expected.append(line.strip())
    return found


def _pattern(expected: str) -> re.Pattern:
    return re.compile(".*?".join(re.escape(part.strip()) for part in expected.split("...")))


def missing(expected: list[str], output: str) -> str | None:
    """The first expected line not found (in order) in ``output``, else None."""
    lines = [line.strip() for line in output.splitlines()]
    position = 0
    for wanted in expected:
        pattern = _pattern(wanted)
        while position < len(lines) and not pattern.search(lines[position]):
            position += 1
        if position == len(lines):
            return wanted
        position += 1
    return None
