"""Build a school's roadmap workbook from the template spec, the plan and the school (openpyxl)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.formatting.rule import CellIsRule, FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter
from openpyxl.utils.indexed_list import IndexedList
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from sync.model import Period, Plan, PlanItem, School
from sync.plan import plan_values
from sync.spec import TemplateSpec
from sync.states import ControlKey

PLAN_FILL = "EDEDED"  # plan columns: grey, locked
SCHOOL_FILL = "FFFFFF"
HEADER_FILL = "D9E1F2"
EXTRA_ROWS = 15  # empty unlocked rows below the plan for the school's own activities
DATE_FORMAT = "DD.MM.YYYY"
# One font family for every cell, headers included (a cell without a font of its own is drawn in
# the workbook's default font; LibreOffice has no Calibri and would fall back to a serif).
FONT = "Arial"

_thin = Side(style="thin", color="BFBFBF")
BORDER = Border(left=_thin, right=_thin, top=_thin, bottom=_thin)


def meta_values(
    spec: TemplateSpec, school: School, plan: Plan, built_at: datetime
) -> list[tuple[str, str]]:
    """The hidden sheet's key/value rows: whose workbook this is and which plan it answers."""
    return [
        ("template_version", spec.version),
        ("school_id", school.id),
        ("school_name", school.name),
        ("plan_hash", plan.digest(school.audience)),
        ("period", str(plan.period)),
        ("audience", school.audience.value),
        ("built_at", built_at.isoformat(timespec="seconds")),
        *control_record(spec),
    ]


def control_record(spec: TemplateSpec) -> list[tuple[str, str]]:
    """The hidden sheet's record of the «Контроль» column: write-back fills only this column."""
    i = spec.index("control")
    left = spec.columns[i - 2].header if i > 1 else ""
    right = spec.columns[i].header if i < len(spec.columns) else ""
    return [
        ("control_column", get_column_letter(i)),
        ("control_header", spec.column("control").header),
        ("control_neighbours", f"{left}\n{right}"),  # follows the column when one is inserted
    ]


def row_height(cells: Iterable[tuple[str, float]], line: float = 15.0) -> float:
    """Points a row needs so that every wrapped text shows whole (about one char per width unit).

    >>> row_height([("short", 10), ("x" * 45, 20)])
    45.0
    """
    lines = 1
    for text, width in cells:
        per_line = max(1, int(width) - 1)
        lines = max(lines, sum(-(-len(part) // per_line) or 1 for part in text.split("\n")))
    return min(409.0, line * lines)


def _fill(rgb: str) -> PatternFill:
    return PatternFill(fill_type="solid", start_color=rgb, end_color=rgb)


def _text(ws: Worksheet, row: int, col: int, value: object) -> None:
    """Write plan text as text: an approved plan cell never becomes a formula."""
    cell = ws.cell(row, col, value)
    if isinstance(value, str):
        cell.data_type = "s"


def build_school_workbook(
    spec: TemplateSpec,
    plan: Plan,
    school: School,
    *,
    built_at: datetime,
    password: str = "",
    soon_days: int | None = None,
) -> Workbook:
    """The standard workbook for one school (or the coordinator), ready to save."""
    wb = Workbook()
    _default_font(wb)
    main = wb.active
    assert main is not None
    main.title = spec.main_sheet
    items = plan.for_audience(school.audience)
    _build_main(main, spec, items, password, spec.soon_days if soon_days is None else soon_days)
    if not school.is_coordinator:  # the МОУО is not a school: no school passport to fill
        _build_passport(wb.create_sheet(spec.passport_sheet), spec, school, password)
    _build_instructions(wb.create_sheet(spec.instructions_sheet), spec, school, plan.period)
    meta = wb.create_sheet(spec.meta_sheet)
    for r, (key, value) in enumerate(meta_values(spec, school, plan, built_at), start=1):
        _text(meta, r, 1, key)
        _text(meta, r, 2, value)
    meta.sheet_state = "hidden"
    _protect(meta, password)
    wb.properties.title = f"Дорожная карта: {school.name}"
    for ws in wb.worksheets:
        if ws.sheet_state == "visible":
            _page(ws, wb.properties.title)
    wb.properties.creator = "roadmap-sync"
    wb.security = None
    return wb


def _default_font(wb: Workbook) -> None:
    """Make FONT the workbook's default (style 0), so unstyled cells use it too."""
    wb._fonts = IndexedList([Font(name=FONT, size=11, family=2)])


def _page(ws: Worksheet, title: str) -> None:
    """Printed pages say whose workbook it is, which sheet and which page of how many."""
    title = title.replace("&", "&&")[:120]
    ws.oddHeader.left.text = title
    ws.oddHeader.left.font = f"{FONT},Bold"
    ws.oddHeader.left.size = 9
    ws.oddHeader.right.text = "&A"
    ws.oddHeader.right.size = 9
    ws.oddFooter.right.text = "Страница &P из &N"
    ws.oddFooter.right.size = 9


def _build_main(
    ws: Worksheet, spec: TemplateSpec, items: tuple[PlanItem, ...], password: str, soon_days: int
) -> None:
    cols = spec.columns
    last_row = 1 + len(items) + EXTRA_ROWS
    header_font = Font(name=FONT, bold=True)
    for c, col in enumerate(cols, start=1):
        cell = ws.cell(1, c, col.header)
        cell.font = header_font
        cell.fill = _fill(HEADER_FILL)
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        cell.border = BORDER
        cell.protection = Protection(locked=True)
        ws.column_dimensions[get_column_letter(c)].width = col.width
    ws.row_dimensions[1].height = 32

    for r, item in enumerate(items, start=2):
        values: dict[str, object] = dict(plan_values(item))
        for c, col in enumerate(cols, start=1):
            if col.key in values:
                _text(ws, r, c, values[col.key])
        # Neither Excel nor LibreOffice grows rows to fit wrapped text on open: size them here.
        ws.row_dimensions[r].height = row_height(
            (str(values.get(col.key) or ""), col.width) for col in cols
        )
    for r in range(2, last_row + 1):
        own = r > 1 + len(items)
        for c, col in enumerate(cols, start=1):
            cell = ws.cell(r, c)
            editable = col.filled_by == "school" or (own and col.filled_by == "plan")
            cell.protection = Protection(locked=not editable)
            cell.border = BORDER
            cell.alignment = Alignment(wrap_text=col.type == "text", vertical="top")
            if col.filled_by == "plan" and not own:
                cell.fill = _fill(PLAN_FILL)
            if col.type == "date":
                cell.number_format = DATE_FORMAT

    letter = {c.key: get_column_letter(spec.index(c.key)) for c in cols}
    span = f"2:{last_row}"

    def rng(key: str) -> str:
        a, b = span.split(":")
        return f"{letter[key]}{a}:{letter[key]}{b}"

    for col in cols:
        if col.type == "choice" and col.choices:
            _choice_list(ws, rng(col.key), col.choices, prompt_title=col.header)
    if "done_on" in letter:
        _validate(
            ws,
            rng("done_on"),
            type="date",
            operator="between",
            formula1="DATE(2000,1,1)",
            formula2="TODAY()",
            errorTitle="Неверная дата",
            error="Введите дату выполнения в виде ДД.ММ.ГГГГ, не позже сегодняшнего дня.",
            promptTitle="Дата выполнения",
            prompt="ДД.ММ.ГГГГ",
        )

    _conditional_colours(ws, spec, letter, last_row, soon_days)

    # Keep №, section and activity in view while scrolling right.
    ws.freeze_panes = f"{get_column_letter(spec.index('activity') + 1)}2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{last_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_margins.left = ws.page_margins.right = 0.4
    # One page wide only while the text stays at 8 pt or more; else 8 pt, more pages across,
    # №, section and activity repeated on each (as the master prints).
    total_pt = sum(int(c.width * 7 + 5) for c in cols) * 0.75
    if total_pt * 8 / 11 <= (297 / 25.4 - 0.8) * 72:
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
    else:
        ws.page_setup.scale = 73  # 11 pt text printed at 8 pt
        ws.print_title_cols = f"A:{get_column_letter(spec.index('activity'))}"
    ws.print_title_rows = "1:1"
    ws.print_options.gridLines = False
    _protect(ws, password, autofilter=True)


def _conditional_colours(
    ws: Worksheet, spec: TemplateSpec, letter: dict[str, str], last_row: int, soon_days: int
) -> None:
    """Colours that stay alive between syncs: the written control value, and live dates."""
    ctl = f"{letter['control']}2:{letter['control']}{last_row}"
    # First the values the sync writes, in the control's precedence order.
    for key in (ControlKey.ERROR, ControlKey.DONE, ControlKey.OVERDUE, ControlKey.SOON):
        c = spec.controls[key]
        if c.fill:
            ws.conditional_formatting.add(
                ctl,
                CellIsRule(
                    operator="equal", formula=[f'"{c.value}"'], fill=_fill(c.fill), stopIfTrue=True
                ),
            )
    # Then live dates, so a row turns red on the day it is overdue even before the next sync.
    due, status = f"${letter['due']}2", f"${letter['status']}2"
    done, not_needed = spec.statuses["done"], spec.statuses["not_needed"]
    open_row = f'TRIM({status})<>"{done}",TRIM({status})<>"{not_needed}",ISNUMBER({due})'
    overdue, soon = spec.controls["overdue"].fill, spec.controls["soon"].fill
    assert overdue and soon
    ws.conditional_formatting.add(
        ctl, FormulaRule(formula=[f"AND({open_row},{due}<TODAY())"], fill=_fill(overdue))
    )
    ws.conditional_formatting.add(
        ctl,
        FormulaRule(formula=[f"AND({open_row},{due}-TODAY()<={soon_days})"], fill=_fill(soon)),
    )
    done_fill = spec.controls["done"].fill
    assert done_fill
    st = f"{letter['status']}2:{letter['status']}{last_row}"
    ws.conditional_formatting.add(
        st, CellIsRule(operator="equal", formula=[f'"{done}"'], fill=_fill(done_fill))
    )


def _validate(ws: Worksheet, ref: str, **rule: str) -> None:
    """A data validation that refuses anything else, with a Russian message; blanks allowed."""
    dv = DataValidation(allow_blank=True, showErrorMessage=True, **rule)
    dv.add(ref)
    ws.add_data_validation(dv)


def _choice_list(
    ws: Worksheet, ref: str, choices: tuple[str, ...], prompt_title: str | None = None
) -> None:
    """A dropdown of the template's values."""
    extra = {"promptTitle": prompt_title, "prompt": "Выберите из списка."} if prompt_title else {}
    _validate(
        ws,
        ref,
        type="list",
        formula1='"' + ",".join(choices) + '"',
        errorTitle="Недопустимое значение",
        error="Выберите значение из списка: " + ", ".join(choices) + ".",
        **extra,
    )


def _build_passport(ws: Worksheet, spec: TemplateSpec, school: School, password: str) -> None:
    ws.cell(1, 1, "Поле").font = Font(name=FONT, bold=True)
    ws.cell(1, 2, "Значение").font = Font(name=FONT, bold=True)
    for c in (1, 2):
        ws.cell(1, c).fill = _fill(HEADER_FILL)
        ws.cell(1, c).border = BORDER
    ws.column_dimensions["A"].width = 60
    ws.column_dimensions["B"].width = 60
    prefill = {"full_name": school.name, "category": school.category}
    for r, f in enumerate(spec.passport, start=2):
        label = ws.cell(r, 1)
        _text(ws, r, 1, f.label + (" *" if f.required else ""))
        label.fill = _fill(PLAN_FILL)
        label.alignment = Alignment(wrap_text=True, vertical="top")
        label.border = BORDER
        value = ws.cell(r, 2)
        if prefill.get(f.key):
            _text(ws, r, 2, prefill[f.key])
        value.protection = Protection(locked=False)
        value.alignment = Alignment(wrap_text=True, vertical="top")
        value.border = BORDER
        ws.row_dimensions[r].height = row_height([(f.label + " *", 60 * 0.9)])
        if f.choices:
            _choice_list(ws, f"B{r}", f.choices)
        if f.type == "integer":
            _validate(
                ws,
                f"B{r}",
                type="whole",
                operator="between",
                formula1="0",
                formula2="100000",
                errorTitle="Нужно число",
                error="Введите целое число.",
            )
    ws.cell(len(spec.passport) + 3, 1, "* — обязательные поля").font = Font(name=FONT, italic=True)
    ws.freeze_panes = "A2"
    _print_pages(ws)
    _protect(ws, password)


def _build_instructions(ws: Worksheet, spec: TemplateSpec, school: School, period: Period) -> None:
    ws.column_dimensions["A"].width = 120
    ws.cell(1, 1, spec.instructions_title).font = Font(name=FONT, bold=True, size=14)
    ws.cell(
        2,
        1,
        f"Школа: {school.name}. Период дорожной карты: {_ru(period.start)} — "
        f"{_ru(period.end)}. Версия шаблона: {spec.version}.",
    )
    r = 4
    for line in spec.instructions:
        cell = ws.cell(r, 1, line)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.row_dimensions[r].height = row_height([(line, 120 * 0.9)])
        r += 1
    r += 1
    ws.cell(r, 1, "Цвета столбца «Контроль»:").font = Font(name=FONT, bold=True)
    for c in spec.controls.values():
        r += 1
        cell = ws.cell(r, 1, c.value)
        if c.fill:
            cell.fill = _fill(c.fill)
    _print_pages(ws)
    _protect(ws, "")


def _print_pages(ws: Worksheet) -> None:
    """A4 landscape, as the roadmap sheet prints (these sheets fit its width at full size)."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4


def _ru(d: date) -> str:
    return d.strftime("%d.%m.%Y")


def _protect(ws: Worksheet, password: str, *, autofilter: bool = False) -> None:
    """Protect the sheet, still letting people resize, filter and select."""
    p = ws.protection
    p.sheet = True
    if password:
        p.password = password
    p.formatColumns = False
    p.formatRows = False
    p.formatCells = False
    if autofilter:
        p.autoFilter = False
        p.sort = False
    p.selectLockedCells = False
    p.selectUnlockedCells = False
