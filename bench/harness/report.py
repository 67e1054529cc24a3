"""Rows of the result table, medians and ratios."""

from __future__ import annotations

import dataclasses
import statistics

NOT_YET = "not available yet"


@dataclasses.dataclass
class Row:
    measure: str
    project: str
    peer: str = "—"
    ratio: str = "—"
    goal: str = ""
    note: str = ""


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt(value: float, unit: str = "", digits: int = 0) -> str:
    if value != value:  # NaN
        return "—"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".strip()


def ratio_cell(project: list[float], peer: list[float]) -> str:
    """Ratio of the medians, with the spread of the per-round ratios (same round, same noise)."""
    if not project or not peer or not median(peer):
        return "—"
    per_round = sorted(a / b for a, b in zip(project, peer) if b)
    main = median(project) / median(peer)
    if len(per_round) > 1:
        return f"{main:.2f} ({per_round[0]:.2f}–{per_round[-1]:.2f})"
    return f"{main:.2f}"


def markdown(rows: list[Row]) -> str:
    header = ["measure", "mtlid", "peer", "ratio mtlid/peer", "goal", "notes"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.measure, row.project, row.peer, row.ratio, row.goal, row.note]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


def _cell(text: str, limit: int = 240) -> str:
    text = " ".join(text.split()).replace("|", "/")
    return text if len(text) <= limit else text[: limit - 1] + "…"
