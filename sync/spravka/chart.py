"""The справка's figures: progress by school and by section as horizontal stacked bars (PNG).

matplotlib (Agg, no display) is heavier than hand-made SVG, but it ships its own Cyrillic font
(DejaVu Sans), so the figure looks the same on a Linux server and a coordinator's Windows PC with
no font or SVG renderer to install; it is imported only when a справка is made.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

from .data import Line

DONE_COLOUR = "#5b9b5b"
OVERDUE_COLOUR = "#d9534f"
OTHER_COLOUR = "#c8c8c8"
WIDTH_INCHES = 6.3  # 16 cm: the text width of an A4 page with official margins
DPI = 200
LABEL_CHARS = 38
MAX_BARS = 40  # more bars than this would not be readable on a page


def chart_lines(lines: Sequence[Line], title: str) -> tuple[list[Line], str]:
    """The bars to draw and the title: beyond MAX_BARS, the ones furthest behind, said so.

    >>> chart_lines([Line("a", 1, 1, 0, 0, 1)], "По школам")[1]
    'По школам'
    """
    if len(lines) <= MAX_BARS:
        return list(lines), title
    behind = sorted(lines, key=lambda line: (line.share, -line.overdue))[:MAX_BARS]
    return behind, f"{title}: {MAX_BARS} с наименьшей долей выполненных из {len(lines)}"


def progress_chart(lines: Sequence[Line], title: str) -> bytes:
    """A PNG: one bar per line, its activities split into done, overdue and the rest, in %."""
    lines, title = chart_lines(lines, title)
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    labels = [textwrap.fill(line.name, LABEL_CHARS) for line in lines]
    done = [_share(line.done, line) for line in lines]
    overdue = [_share(line.overdue, line) for line in lines]
    rest = [max(0.0, 100 - d - o) for d, o in zip(done, overdue, strict=True)]
    rows_of_text = sum(label.count("\n") + 1 for label in labels)
    height = min(9.0, 1.1 + 0.28 * max(len(lines), 1) + 0.12 * rows_of_text)
    with plt.rc_context({"font.family": "DejaVu Sans", "font.size": 8}):
        fig, ax = plt.subplots(figsize=(WIDTH_INCHES, height), dpi=DPI)
        try:
            y = list(range(len(lines)))
            ax.barh(y, done, color=DONE_COLOUR, label="Выполнено")
            ax.barh(y, overdue, left=done, color=OVERDUE_COLOUR, label="Просрочено")
            lefts = [d + o for d, o in zip(done, overdue, strict=True)]
            ax.barh(y, rest, left=lefts, color=OTHER_COLOUR, label="Остальные")
            for i, value in enumerate(done):
                ax.text(101, i, f"{round(value)} %", va="center", fontsize=8)
            ax.set_yticks(y, labels)
            ax.invert_yaxis()
            ax.set_xlim(0, 112)
            ax.set_xticks([0, 25, 50, 75, 100], ["0 %", "25 %", "50 %", "75 %", "100 %"])
            ax.set_title(title, fontsize=9)
            ax.legend(
                loc="upper center",
                bbox_to_anchor=(0.5, -0.08 if len(lines) > 3 else -0.2),
                ncol=3,
                frameon=False,
                fontsize=7.5,
            )
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            fig.tight_layout()
            out = io.BytesIO()
            # No timestamp in the PNG: the same data gives the same bytes.
            fig.savefig(out, format="png", metadata={"Software": None})
        finally:
            plt.close(fig)
    return out.getvalue()


def _share(part: int, line: Line) -> float:
    return 100 * part / line.counted if line.counted else 0.0
