"""The [report] table: the department's template, the reporting dates, the signature block."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sync.config import Config
from sync.service.config import MonthDay, parse_day

# The plans' «2 раза в год»: half-year reports by 15 January and 10 June.
DEFAULT_DATES: tuple[MonthDay, ...] = ((1, 15), (6, 10))
DEFAULT_DAYS_BEFORE = 3
DEFAULT_FOLDER = "Справки"  # beside the master


@dataclass(frozen=True)
class ReportSettings:
    """How and when the справка is made. `template` None: the default one shipped here."""

    template: Path | None = None
    dates: tuple[date | MonthDay, ...] = DEFAULT_DATES
    days_before: int = DEFAULT_DAYS_BEFORE
    folder: Path | None = None
    department: str = ""
    signer: str = ""
    signer_position: str = ""

    def due_dates(self, around: date) -> list[date]:
        """The reporting dates of the year before, this year and the next, in order."""
        out = set()
        for d in self.dates:
            if isinstance(d, date):
                out.add(d)
                continue
            for year in (around.year - 1, around.year, around.year + 1):
                try:
                    out.add(date(year, d[0], d[1]))
                except ValueError:  # 29 February in a common year
                    out.add(date(year, d[0], d[1] - 1))
        return sorted(out)

    def due_now(self, today: date) -> date | None:
        """The reporting date whose справка is due today: within `days_before` days before it."""
        for due in self.due_dates(today):
            if due - timedelta(days=self.days_before) <= today <= due:
                return due
        return None


def load_report_settings(config: Config) -> ReportSettings:
    """Read [report]; every key is optional. Errors name the key and the line."""
    s = config.section("report")
    template = None
    if "template" in s.data:
        template = s.path_value("template")
        if template.suffix.lower() != ".docx":
            raise s.fail(
                "template", f"«{template.name}» — шаблон справки должен быть файлом .docx."
            )
        if not template.is_file():
            raise s.fail("template", f"шаблон справки не найден: {template}")
    dates: list[date | MonthDay] = []
    for text in s.get("dates", list, ["01-15", "06-10"]):
        parsed = parse_day(text) if isinstance(text, str) else None
        if parsed is None:
            raise s.fail(
                "dates", f"«{text}» — ожидается день вида 01-15 (каждый год) или 2022-01-15."
            )
        dates.append(parsed)
    days_before = s.get("days_before", int, DEFAULT_DAYS_BEFORE)
    if not 0 <= days_before <= 60:
        raise s.fail("days_before", "ожидается число дней от 0 до 60.")
    folder = (
        s.path_value("folder") if "folder" in s.data else config.master_path.parent / DEFAULT_FOLDER
    )
    return ReportSettings(
        template=template,
        dates=tuple(dates),
        days_before=days_before,
        folder=folder,
        department=s.text_value("department", "", required=False).strip(),
        signer=s.text_value("signer", "", required=False).strip(),
        signer_position=s.text_value("signer_position", "", required=False).strip(),
    )
