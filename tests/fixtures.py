"""The one home of shared test helpers (no test module imports another's helpers).

- a small municipality on disk, filled as schools fill it (`municipality`, `setup`, ...);
- test data laid out as the template spec orders it (`small_plan`, `raw_school_workbook`, ...);
- for the service tests: a controllable clock, a stand-in sync, config tables (`FakeClock`, ...);
- for the web intake: uploads over HTTP, a page's text, a school's edit (`upload`, `edit`, ...);
- for consolidation and the master: school reports built by hand (`school_one`, `master`, ...);
- for validation: a sample workbook checked as a school's (`check_sample`, `codes`, `only`).
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import threading
import zipfile
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from openpyxl import load_workbook

from sync.backends.folder import FolderBackend
from sync.backends.xlsxio import read_sheets
from sync.backends.xlsxpatch import DOC_REL_NS, Package, Rels, workbook_sheets
from sync.builders.fill import fill_workbook
from sync.config import Config, load_config
from sync.consolidate import HEADER_ROW, ROWS_SHEET, Master, MasterSheet, consolidate
from sync.distribute import distribute
from sync.model import (
    Audience,
    CellValue,
    Control,
    Period,
    Plan,
    PlanItem,
    Problem,
    RawWorkbook,
    RowReport,
    School,
    SchoolReport,
    Severity,
)
from sync.paint import NOTE_CELLS_KEY, Paint, paint_school
from sync.pipeline import RunResult, load_context
from sync.plan import make_item
from sync.reader import locate
from sync.spec import TemplateSpec, load_spec
from sync.validation import check_school
from sync.workbook_check import read_school_workbook

if TYPE_CHECKING:
    from tests.web_server import Running

# --- a municipality on disk ------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
KALAR_PLAN = ROOT / "config" / "kalar-plan.tsv"
TODAY = date(2022, 1, 10)
BUILT_AT = datetime(2021, 9, 1, 9, 0)

SCHOOLS = [
    ("s1", "МОУ СОШ № 1 с. Чара", "ШНОР"),
    ("s2", "МОУ СОШ № 2 с. Куанда", "ШНСУ"),
    ("s3", "МОУ СОШИ № 4 с. Кюсть-Кемда", "ШНОР и ШНСУ"),
]


def municipality(tmp_path: Path, schools: list[tuple[str, str, str]] = SCHOOLS) -> Config:
    """A config with the Kalar plan, the given schools and the coordinator, in tmp_path."""
    shutil.copyfile(KALAR_PLAN, tmp_path / "plan.tsv")
    lines = [
        "[municipality]",
        'name = "Тестовый округ"',
        'timezone = "Asia/Chita"',
        'period = "2021-09-01..2022-08-31"',
        "[plan]",
        'file = "plan.tsv"',
        "[storage]",
        'schools_dir = "schools"',
        'master = "master/Свод.xlsx"',
        'history = "history.sqlite"',
        'backups = "backups"',
        "keep_backups = 3",
        "[coordinator]",
        'name = "МОУО"',
    ]
    for sid, name, category in schools:
        lines += ["[[schools]]", f'id = "{sid}"', f'name = "{name}"', f'category = "{category}"']
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_config(path)


PASSPORT = {
    "full_name": "Муниципальное общеобразовательное учреждение СОШ № 1",
    "category": "ШНОР",
    "head": "Карнакова Л. Г.",
    "phone": "8 (30261) 4-12-34",
    "email": "school1@example.ru",
    "quality_officer": "Иванова Н. П., заместитель директора по УВР",
    "quality_order": "Приказ № 101 от 01.09.2021",
    "pupils": 320,
    "teachers": 28,
    "locality": "с. Чара",
}


# --- the end-to-end setup (a folder municipality the schools have filled) ------------------

SPEC = load_spec()


def sheet_rows(path: str, sheet: str) -> list[list[object]]:
    ws = load_workbook(path)[sheet]
    return [[c.value for c in row] for row in ws.iter_rows(min_row=HEADER_ROW)]


def setup(tmp_path: Path) -> Config:
    config = municipality(tmp_path)
    distribute(config, built_at=BUILT_AT)
    s1, s2, s3 = (Path(s.source) for s in config.schools)
    # s1: a careful school. Rows 3 and 4 (due 30.09.2021) done; 5 (due 30.11.2021) in work.
    fill_workbook(
        s1,
        SPEC,
        {
            "3": {
                "status": "Выполнено",
                "done_on": datetime(2021, 9, 20),
                "evidence": "Приказ № 45 от 20.09.2021",
                "executor": "Иванова Н. П.",
            },
            "4": {
                "status": "выполнено ",
                "done_on": datetime(2021, 9, 28),
                "evidence": '=HYPERLINK("http://x.example","отчёт")',
            },
            "5": {"status": "В работе", "comment": "=1+1"},
        },
        PASSPORT,
    )
    # s2: mistakes. Done without a date, an unknown status, Не требуется without a reason.
    fill_workbook(
        s2,
        SPEC,
        {
            "3": {"status": "Выполнено", "evidence": "Справка"},
            "4": {"status": "Сделано"},
            "6": {"status": "Не требуется"},
        },
        PASSPORT | {"phone": None},
    )
    # s3: nothing filled but the passport.
    fill_workbook(s3, SPEC, {}, PASSPORT)
    return config


# --- test data in the template's layout -----------------------------------------------------

PERIOD = Period(date(2021, 9, 1), date(2022, 8, 31))
SECTION_1 = "1. Нормативно-правовое обеспечение"
SECTION_2 = "2. Методическое обеспечение"
SCHOOL = School(id="sch-07", name="МБОУ «СОШ № 7»", category="ШНОР")
OTHER_SCHOOL = School(id="sch-12", name="МБОУ «СОШ № 12»", category="ШНСУ")

VALID_PASSPORT: dict[str, CellValue] = {
    "full_name": "Муниципальное бюджетное общеобразовательное учреждение «СОШ № 7»",
    "category": "ШНОР",
    "head": "Иванова Мария Петровна",
    "phone": "+7 3412 55-12-07",
    "email": "school7@example.ru",
    "quality_officer": "Петров И. С., заместитель директора",
    "quality_order": "Приказ № 45 от 12.10.2021",
    "pupils": 412,
    "teachers": 31,
    "locality": "село Малая Пурга",
    "notes": "",
}


def small_plan(period: Period = PERIOD) -> Plan:
    """Five plan rows: four for schools (two sections numbered from 1), one for the МОУО."""
    rows = [
        (
            SECTION_1,
            "1",
            "Назначение ответственного за обеспечение качества образования",
            "Руководители ОО",
            "До 1 октября 2021 г",
            "Приказ",
        ),
        (SECTION_1, "2", "Анализ результатов ВПР", "ШНОР, ШНСУ", "в течение года", "Справка"),
        (
            SECTION_1,
            "3",
            "Утверждение муниципальной программы",
            "МОУО",
            "Сентябрь 2021 г",
            "Приказ МОУО",
        ),
        (
            SECTION_2,
            "1",
            "Разработка программы повышения качества образования",
            "Руководители ОО",
            "Февраль",
            "Программа",
        ),
        (SECTION_2, "2", "Участие в семинарах ММС", "Педагоги ОО", "По графику", "Сертификаты"),
    ]
    items = tuple(
        make_item(
            section=s,
            no=no,
            activity=a,
            responsible=r,
            deadline_text=d,
            planned_result=p,
            period=period,
        )
        for s, no, a, r, d, p in rows
    )
    return Plan(period, items)


def meta_values(plan: Plan, school: School, spec: TemplateSpec) -> dict[str, str]:
    """What the builder writes to the service sheet."""
    return {
        "template_version": spec.version,
        "school_id": school.id,
        "school_name": school.name,
        "plan_hash": plan.digest(school.audience),
        "period": str(plan.period),
        "audience": school.audience.value,
        "built_at": "2021-09-10T08:00:00+04:00",
    }


def raw_school_workbook(
    plan: Plan,
    school: School,
    spec: TemplateSpec,
    fills: Mapping[int | tuple[str, str], Mapping[str, CellValue]] | None = None,
    *,
    passport: Mapping[str, CellValue] | None = None,
    meta: Mapping[str, str | None] | None = None,
    with_meta: bool = True,
    with_passport: bool = True,
) -> RawWorkbook:
    """A school's workbook as calamine returns it: header in row 1, plan rows from row 2.

    fills: school columns by sheet row (2 is the first plan row) or by plan row key (section, no).
    passport: values by passport key (a complete valid passport by default); meta: service sheet
    values replacing the builder's (None removes a key).
    """
    fills = fills or {}
    keys = [c.key for c in spec.columns]
    grid: list[list[CellValue]] = [[c.header for c in spec.columns]]
    for n, item in enumerate(plan.for_audience(school.audience), start=2):
        fill = {**fills.get(item.key, {}), **fills.get(n, {})}
        plan_values: dict[str, CellValue] = {
            "no": item.no,
            "section": item.section,
            "activity": item.activity,
            "responsible": item.responsible,
            "deadline_text": item.deadline_text,
            "due": datetime(item.due.year, item.due.month, item.due.day) if item.due else "",
            "planned_result": item.planned_result,
        }
        grid.append([fill.get(k, plan_values.get(k, "")) for k in keys])

    sheets: dict[str, list[list[CellValue]]] = {spec.main_sheet: grid}
    if with_passport:
        values = dict(VALID_PASSPORT if passport is None else passport)
        # As the builder writes it: required labels marked " *", a note two rows below.
        sheets[spec.passport_sheet] = [
            ["Поле", "Значение"],
            *[
                [f.label + (" *" if f.required else ""), values.get(f.key, "")]
                for f in spec.passport
            ],
            ["", ""],
            ["* — обязательные поля", ""],
        ]
    sheets[spec.instructions_sheet] = [[spec.instructions_title], *[[x] for x in spec.instructions]]
    if with_meta:
        values_meta: dict[str, str | None] = {**meta_values(plan, school, spec), **(meta or {})}
        sheets[spec.meta_sheet] = [[k, v] for k, v in values_meta.items() if v is not None]
    return RawWorkbook(sheets)


# --- the service: clock, stand-in sync, config tables ----------------------------------------


def with_tables(config: Config, tables: str = "", timezone: str | None = None) -> Config:
    """The same municipality with extra TOML tables appended (and another zone, if given)."""
    text = config.path.read_text(encoding="utf-8")
    if timezone is not None:
        text = re.sub(r'(?m)^timezone = ".*"$', f'timezone = "{timezone}"', text)
    config.path.write_text(text + "\n" + tables.strip() + "\n", encoding="utf-8")
    return load_config(config.path)


class FakeClock:
    """An aware clock that only moves when the service sleeps; stops the service at `until`."""

    def __init__(self, start: datetime, until: datetime, stop: threading.Event) -> None:
        assert start.tzinfo is not None
        self.now, self.until, self.stop = start, until, stop
        self.sleeps = 0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += timedelta(seconds=max(seconds, 0.001))
        if self.now >= self.until:
            self.stop.set()


class FakeSync:
    """Stands in for sync.pipeline.run: records when it was called and with what."""

    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_first = fail_first

    def __call__(self, config: Config, **kwargs: Any) -> RunResult:
        at = kwargs["now"]()
        self.calls.append(kwargs | {"at": at})
        if len(self.calls) <= self.fail_first:
            raise RuntimeError("сбой для проверки")
        today: date = kwargs["today"]
        return RunResult(len(self.calls), today, at, finished=at)

    @property
    def times(self) -> list[datetime]:
        return [c["at"] for c in self.calls]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- the web intake: uploads over HTTP, what a page says, a school edits its workbook ----------


def csrf_of(client: httpx.Client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def upload(
    client: httpx.Client, url: str, data: bytes, name: str = "книга.xlsx", **extra: str
) -> httpx.Response:
    csrf = extra.pop("csrf", None) or csrf_of(client, url)
    return client.post(
        f"{url}/upload",
        data={"csrf": csrf},
        files={"workbook": (name, data, "application/octet-stream")},
        headers=extra,
        follow_redirects=True,
    )


def school_path(config: Config, sid: str) -> Path:
    return Path(next(s.source for s in config.schools if s.id == sid))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#34;", '"')


def edit(data: bytes, key: str, index: int, text: str, r: Running, out: Path) -> str:
    """Type `text` into column `key` of the `index`-th row of a workbook; returns the cell."""
    spec, _plan = load_context(r.config)
    src = out.with_suffix(".src.xlsx")
    src.write_bytes(data)
    _raw, sheet = read_school_workbook(src, spec)
    row = sheet.rows[index].row
    col = sheet.columns[key]
    wb = load_workbook(src)
    ws = wb[sheet.sheet_name or spec.main_sheet]
    ws.cell(row, col).value = text
    wb.save(out)
    return f"{ws.title}!{ws.cell(row, col).coordinate}"


# --- school reports and a master, for consolidation and the master's builders -------------

MASTER_TODAY = date(2022, 3, 1)


def item(section: str, no: str, activity: str, due: date | None, **kw: object) -> PlanItem:
    return PlanItem(
        section=section,
        no=no,
        activity=activity,
        responsible=str(kw.get("responsible", "ОО")),
        deadline_text=str(kw.get("deadline_text", "в течение года")),
        planned_result="Справка",
        audience=kw.get("audience", Audience.SCHOOLS),  # type: ignore[arg-type]
        due=due,
    )


A1 = item(
    "1. Нормативное обеспечение", "1", "Приказ о назначении ответственного", date(2021, 10, 1)
)
A2 = item("1. Нормативное обеспечение", "2", "Программа повышения качества", date(2022, 3, 10))
M1 = item(
    "2. Мониторинг",
    "1",
    "Аналитическая справка по итогам мониторинга",
    None,
    responsible="МОУО",
    deadline_text="ежегодно (август)",
    audience=Audience.COORDINATOR,
)
B1 = item("2. Мониторинг", "2", "Анализ результатов ВПР", date(2022, 5, 31))
MASTER_PLAN = Plan(Period(date(2021, 9, 1), date(2022, 8, 31)), (A1, A2, M1, B1))


def ctl(key: str, spec: TemplateSpec = SPEC) -> Control:
    c = spec.controls[key]
    return Control(key, c.value, c.fill)


def row(it: PlanItem | None, key: str, n: int = 5, **values: CellValue) -> RowReport:
    return RowReport(it, n, dict(values), ctl(key))


def report(name: str, rows: list[RowReport], **kw: object) -> SchoolReport:
    school = School(
        id=str(kw.pop("id", name)),
        name=name,
        category=str(kw.pop("category", "ШНОР")),
        is_coordinator=bool(kw.pop("is_coordinator", False)),
    )
    return SchoolReport(school, rows, **kw)  # type: ignore[arg-type]


def school_one() -> SchoolReport:
    return report(
        "МБОУ СОШ № 1",
        [
            row(A1, "done", 5, status="Выполнено", done_on=date(2021, 9, 20), evidence="=1+1"),
            row(A2, "soon", 6, status="В работе"),
            row(B1, "on_time", 7, status="Не начато"),
            row(None, "none", 8, no="4", activity="Своё мероприятие школы", status="Не требуется"),
        ],
        passport={"full_name": "Муниципальное бюджетное ОУ № 1", "pupils": 512, "phone": "+7 999"},
        problems=[
            Problem("w1", Severity.WARNING, "Дорожная карта", "B8", "no", "Своё мероприятие"),
            Problem("e1", Severity.ERROR, "Паспорт ОО", "B5", "email", "Нет почты"),
        ],
        modified=datetime(2022, 2, 28, 17, 5),
        synced_at=datetime(2022, 3, 1, 2, 0),
    )


def school_two() -> SchoolReport:
    return report(
        "МКОУ ООШ с. Берёзовка",
        [
            row(A1, "overdue", 5, status="В работе"),
            row(B1, "done", 7, status="Выполнено", done_on=date(2022, 2, 1)),
        ],
        problems=[Problem("e2", Severity.ERROR, "Дорожная карта", "I5", "done_on", "Нет даты")],
        outcome="unchanged",
        synced_at=datetime(2022, 3, 1, 2, 1),
    )


def failed_school() -> SchoolReport:
    return report("МБОУ СОШ № 3", [], outcome="failed", message="файл повреждён")


def coordinator() -> SchoolReport:
    return report(
        "Управление образования",
        [row(M1, "none", 5, status="В работе")],
        is_coordinator=True,
        category="",
    )


def master(*reports: SchoolReport, **kw: str) -> Master:
    return consolidate(list(reports), MASTER_PLAN, SPEC, MASTER_TODAY, **kw)


def as_dicts(sheet: MasterSheet) -> list[dict[str, CellValue]]:
    return [dict(zip(sheet.headers, r, strict=True)) for r in sheet.rows]


# --- a sample workbook checked as a school's (validation) ------------------------------------

VALIDATION_TODAY = date(2021, 11, 15)
SMALL_PLAN = small_plan()


def check_sample(
    raw: RawWorkbook | None = None,
    *,
    school: School | None = SCHOOL,
    plan: Plan | None = SMALL_PLAN,
    today: date = VALIDATION_TODAY,
    soon_days: int | None = None,
    **kw: Any,
) -> tuple[list[RowReport], list[Problem]]:
    """`raw` (or SMALL_PLAN's workbook of SCHOOL, filled with `kw`) checked as `school`'s
    against `plan` (None: no plan, no school, as the checks allow)."""
    if raw is None:
        raw = raw_school_workbook(SMALL_PLAN, SCHOOL, SPEC, kw.pop("fills", None), **kw)
    sheet = locate(raw, SPEC)
    return check_school(sheet, school, plan, SPEC, today, soon_days)


def codes(problems: list[Problem]) -> list[str]:
    return sorted(p.code for p in problems)


def only(problems: list[Problem], code: str) -> Problem:
    found = [p for p in problems if p.code == code]
    assert len(found) == 1, problems
    return found[0]


# --- the coordinator's hand on the master -------------------------------------------------


def type_into_master(
    path: Path,
    marks: dict[tuple[str, str], dict[str, object]],
    by: str = "Петрова А. А.",
) -> None:
    """The coordinator opens the master, types into «Мероприятия» and saves (as Excel does)."""
    wb = load_workbook(path)
    ws = wb[ROWS_SHEET]
    header = [c.value for c in ws[HEADER_ROW]]
    for row in ws.iter_rows(min_row=HEADER_ROW + 1):
        typed = marks.get((str(row[0].value), str(row[1].value)))
        for name, value in (typed or {}).items():
            row[header.index(name)].value = value
    wb.properties.lastModifiedBy = by
    wb.save(path)


# --- write-back: a school's workbook painted, and what may change in it --------------------

CONTROL = SPEC.index("control")
LETTER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[CONTROL - 1]
LETTER_AFTER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[CONTROL]
WRITEBACK_FILLS = {
    "3": {"status": "Выполнено", "evidence": "Приказ № 45", "executor": "Иванова Н. П."},
    "4": {"status": "Сделано", "comment": "=1+1"},  # an unknown status: an error and a note
    "5": {"status": "В работе", "comment": "начали"},
}


def writeback_setup(tmp_path: Path) -> Config:
    config = municipality(tmp_path)
    distribute(config, built_at=BUILT_AT)
    for school in config.schools:
        fill_workbook(Path(school.source), SPEC, WRITEBACK_FILLS, PASSPORT)
    return config


def backend_of(config: Config) -> FolderBackend:
    return FolderBackend(config.master_path, config.backups_dir, config.keep_backups)


def paint_of(config: Config, school: School, backend: FolderBackend) -> tuple[Paint, str]:
    """What a run would paint into this school's workbook, and the fingerprint it read."""
    spec, plan = load_context(config)
    raw = backend.read(school)
    sheet = locate(raw, spec)
    rows, problems = check_school(sheet, school, plan, spec, TODAY, config.soon_days)
    report = SchoolReport(school, rows, dict(sheet.passport), problems)
    return paint_school(report, sheet, spec), raw.fingerprint


def parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def our_parts(data: bytes) -> set[str]:
    """The parts a write-back may change: the main and hidden sheets, styles, notes, their rels."""
    pkg = Package(data)
    wb_part, sheets = workbook_sheets(pkg)
    ours = {"[Content_Types].xml"}
    for s in sheets:
        if s.title in (SPEC.main_sheet, SPEC.meta_sheet):
            ours |= {s.part, Rels(pkg, s.part).name}
    ours |= {t for _, t in Rels(pkg, wb_part).by_type(DOC_REL_NS + "/styles")}
    return ours


def assert_only_ours_changed(before: bytes, after: bytes) -> None:
    old, new = parts(before), parts(after)
    allowed = our_parts(before)
    assert set(old) <= set(new), "a part of the school's file disappeared"
    changed = {n for n in old if old[n] != new[n]}
    assert changed <= allowed | {n for n in old if re.fullmatch(r"xl/comments\d*\.xml", n)} | {
        n for n in old if n.endswith(".vml")
    }, changed
    for n in set(new) - set(old):
        assert re.fullmatch(r"xl/comments\d+\.xml|xl/drawings/vmlDrawing\d+\.vml|.*\.rels", n), n


def cells(data: bytes) -> dict[str, list[list[object]]]:
    """Every sheet as calamine reads it (cached values of formulas included)."""
    return read_sheets(data)[0]


def school_values(data: bytes) -> dict[str, list[list[object]]]:
    """Every cell but the ones the sync owns: «Контроль» and the hidden sheet's note list."""
    out = {}
    for name, grid in cells(data).items():
        rows = [list(r) for r in grid]
        if name == SPEC.main_sheet:
            for r in rows[1:]:
                if len(r) >= CONTROL:
                    r[CONTROL - 1] = None
        if name == SPEC.meta_sheet:
            rows = [r for r in rows if r and r[0] != NOTE_CELLS_KEY]
        out[name] = [[v for v in r] for r in rows]
    return out


def without_trailing_empties(grid: list[list[object]]) -> list[list[object]]:
    rows = [list(r) for r in grid]
    for r in rows:
        while r and r[-1] in (None, ""):
            r.pop()
    while rows and not rows[-1]:
        rows.pop()
    return rows


def same_school_values(before: bytes, after: bytes) -> None:
    a, b = school_values(before), school_values(after)
    assert a.keys() == b.keys()
    for name in a:
        assert without_trailing_empties(a[name]) == without_trailing_empties(b[name]), name
