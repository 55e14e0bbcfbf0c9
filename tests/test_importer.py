"""import-plan: the four approved roadmaps in ../shared/seeds, and .docx/.xlsx built from them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import pytest
from docx import Document
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from openpyxl import Workbook

from sync.deadlines import parse as parse_deadline
from sync.importer import (
    ImportResult,
    TableRow,
    detect_period,
    import_file,
    import_grid,
    import_plan_command,
    import_text,
    summary,
    text_blocks,
)
from sync.model import Audience, Period, PlanItem
from sync.plan import audience_for, load_plan

ORDA, KOLPNA, KALAR, IZHEVSK = "000", "001", "002", "004"


@pytest.fixture(scope="session")
def seeds(shared_dir: Path) -> Callable[[str], Path]:
    folder = shared_dir / "seeds"
    assert folder.is_dir(), f"seed roadmaps not found in {folder}"

    def find(prefix: str) -> Path:
        found = sorted(folder.glob(f"{prefix}_*.txt"))
        assert found, f"seed {prefix}_*.txt not found in {folder}"
        return found[0]

    return find


@pytest.fixture(scope="session")
def imported(seeds: Callable[[str], Path]) -> Callable[[str], ImportResult]:
    cache: dict[str, ImportResult] = {}

    def get(prefix: str) -> ImportResult:
        if prefix not in cache:
            cache[prefix] = import_file(seeds(prefix))
        return cache[prefix]

    return get


def by_no(result: ImportResult, no: str, section: str | None = None) -> PlanItem:
    found = [i for i in result.items if i.no == no and (section is None or i.section == section)]
    assert len(found) == 1, f"{no} in {section}: {found}"
    return found[0]


def texts(items: Sequence[PlanItem]) -> list[tuple[str, ...]]:
    return [
        (i.section, i.no, i.activity, i.responsible, i.deadline_text, i.planned_result)
        for i in items
    ]


# --- the seeds as text ---------------------------------------------------------------------


def test_kolpna_gives_17_activities_without_sections(imported: Callable[..., ImportResult]):
    result = imported(KOLPNA)
    assert result.found_table
    assert [i.no for i in result.items] == [str(n) for n in range(1, 18)]
    assert result.sections == {"": 17}
    assert result.period == Period(date(2021, 1, 1), date(2021, 12, 31))
    assert "05.03.2021" in result.period_source
    assert "planned_result" not in result.columns  # Колпна has no result column
    row11 = by_no(result, "11")
    # Row 11's text continues below a page break in a row with an empty №.
    assert row11.activity.endswith(
        "повышение доступности и качества оказания психологической помощи, проведение Недели "
        "психологии в школе, создание условий для формирования стрессоустойчивости детей и "
        "подростков"
    )
    assert row11.deadline_text == "в течение года"
    assert row11.responsible == "МОУО, ОО"
    assert by_no(result, "3").deadline_text == "март-апрель"
    assert by_no(result, "12").responsible == "ОО, куратор"
    assert result.unplaced == []
    assert result.unsure == []


def test_kalar_gives_20_with_torn_row_6_and_doubled_responsible(
    imported: Callable[..., ImportResult],
):
    result = imported(KALAR)
    assert [i.no for i in result.items] == [str(n) for n in range(1, 21)]
    assert result.period == Period(date(2021, 9, 1), date(2022, 8, 31))
    assert "на 2021-2022 учебный год" in result.period_source

    row6 = by_no(result, "6")
    assert "4. Проработка активных форм работы" in row6.activity
    assert row6.activity.startswith("Организация подготовительной работы в каждой школе")
    assert row6.planned_result == "Анализ работы, наличие показателей, положение Рекомендации"
    assert row6.deadline_text == "До 1 октября 2021 г"
    assert row6.responsible == "ШНОР, ШНСУ"

    row7 = by_no(result, "7")
    assert row7.responsible == "МОУО"
    assert row7.planned_result == "Справка (экспертное заключение), протокол, рекомендации"
    assert row7.deadline_text == "Сентябрь 2021 г"
    assert by_no(result, "8").responsible == "МОУО, экспертный совет"
    assert by_no(result, "16").planned_result == "Курсовая подготовка"
    row20 = by_no(result, "20")
    assert (row20.responsible, row20.planned_result) == ("МОУО, ШНОР, ШНСУ", "")
    assert any("№ 20" in u and "результат" in u for u in result.unsure)
    assert result.unplaced == []
    assert by_no(result, "2").audience is Audience.COORDINATOR
    assert by_no(result, "3").audience is Audience.SCHOOLS


def test_izhevsk_gives_10_in_three_italic_sections(imported: Callable[..., ImportResult]):
    result = imported(IZHEVSK)
    assert result.sections == {
        "Методическое обеспечение": 6,
        "Организационное обеспечение": 3,
        "Информационное обеспечение": 1,
    }
    assert [i.no for i in result.items] == ["1", "2", "3", "4", "5", "6", "1", "2", "3", "1"]
    assert len({i.key for i in result.items}) == 10  # identity is section + №
    assert result.period == Period(date(2020, 9, 1), date(2021, 8, 31))
    assert "2020-2021 учебном году" in result.period_source
    # Columns in another order: result before deadline, responsible last.
    first = by_no(result, "1", "Методическое обеспечение")
    assert first.deadline_text == "Январь 2021 г."
    assert first.planned_result.startswith("1. Организовано сетевое взаимодействие школ НРО")
    assert first.responsible == "Давыдова С.М., руководители общеобразовательных организаций"
    assert by_no(result, "3", "Организационное обеспечение").deadline_text == "Два раза в год"
    assert by_no(result, "6", "Методическое обеспечение").deadline_text == "Апрель – май 2021"
    assert all(i.audience is Audience.SCHOOLS for i in result.items)
    assert result.unplaced == []


def test_orda_pairs_the_block_a_page_break_tore_off(imported: Callable[..., ImportResult]):
    result = imported(ORDA)
    assert [i.no for i in result.items] == ["1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "3.1"]
    assert result.sections == {
        "1. Нормативно-правовое обеспечение": 2,
        "2. Общесистемные мероприятия": 4,
        "3. Мониторинг управления ходом реализации Плана": 1,
    }
    assert result.period == Period(date(2021, 6, 28), date(2024, 8, 31))
    assert "до 2024" in result.period_source and "28.06.2021" in result.period_source

    row21 = by_no(result, "2.1")
    assert row21.deadline_text == "ежегодно"
    assert row21.planned_result == (
        "Проведены мероприятия в соответствии с региональным планом-графиком"
    )
    assert row21.responsible == "МОУО, ОО"
    assert by_no(result, "2.3").deadline_text == "ежегодно (в соответствии с планом)"
    row24 = by_no(result, "2.4")
    assert row24.deadline_text == "В течение года (по мере необходимости)"
    assert row24.planned_result == "Анализ и рекомендации"
    assert by_no(result, "3.1").deadline_text == "ежегодно (август)"
    assert by_no(result, "1.2").audience is Audience.COORDINATOR
    assert result.unplaced == []
    # The pairing is a guess: each paired row and the glued section title are listed.
    for no in ("2.1", "2.2", "2.3", "2.4"):
        assert any(f"№ {no} " in u and "разрывом страницы" in u for u in result.unsure)
    assert any("Общесистемные мероприятия" in u for u in result.unsure)


def test_orda_block_that_does_not_match_is_listed_never_invented(seeds: Callable[[str], Path]):
    text = seeds(ORDA).read_text(encoding="utf-8")
    torn = text.replace("\tежегодно (в соответствии с планом)\tОтчет (справка)\n", "")
    assert torn != text
    result = import_text(torn)
    assert [i.no for i in result.items] == ["1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "3.1"]
    assert all(by_no(result, f"2.{n}").deadline_text == "" for n in range(1, 5))
    assert len(result.unplaced) == 1
    assert "3 строк" in result.unplaced[0] and "2.1–2.4" in result.unplaced[0]
    assert "ежегодно" in result.unplaced[0]
    assert any("№ 2.1 " in u and "не указан срок" in u for u in result.unsure)


@pytest.mark.parametrize("prefix", [ORDA, KOLPNA, KALAR, IZHEVSK])
def test_each_row_carries_its_parsed_deadline_and_audience(
    imported: Callable[..., ImportResult], prefix: str
):
    result = imported(prefix)
    assert result.period is not None
    for item in result.items:
        assert item.deadline == parse_deadline(item.deadline_text, result.period)
        assert item.audience is audience_for(item.responsible)
        if item.deadline.dated:
            assert item.due == item.deadline.end


def test_summary_in_russian(imported: Callable[..., ImportResult], tmp_path: Path):
    text = summary(imported(IZHEVSK), tmp_path / "plan.tsv")
    assert "Мероприятий: 10" in text
    assert "Методическое обеспечение: 6" in text
    assert "Организационное обеспечение: 3" in text
    assert "Информационное обеспечение: 1" in text
    assert "Для школ (ОО): 10; только для МОУО: 0" in text
    assert "Период: 2020-09-01..2021-08-31" in text
    assert f"План записан: {tmp_path / 'plan.tsv'}" in text
    orda = summary(imported(ORDA))
    assert "Строки, в которых импорт не уверен" in orda
    assert "№ 2.1 (раздел «2. Общесистемные мероприятия»)" in orda


def test_summary_lists_deadlines_it_could_not_read():
    text = (
        "Приказ от 01.09.2021 на 2021-2022 учебный год\n"
        "№\tМероприятие\tСрок\tОтветственный\n"
        "1.\tСовещание\tкогда-нибудь потом\tМОУО\n"
        "2.\tОтчёт\tВ течение года\tОО\n"
    )
    result = import_text(text)
    assert [i.no for i in result.items] == ["1", "2"]
    assert [i.no for i in result.unread_deadlines] == ["1"]
    assert "Сроки не прочитаны (1)" in summary(result)
    assert "№ 1: «когда-нибудь потом»" in summary(result)


# --- the period ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prose", "expected"),
    [
        ("Приказ 16 августа 2021 года. План на 2021-2022 учебный год", "2021-09-01..2022-08-31"),
        ("30.12.2020 года. Дорожная карта в 2020-2021 учебном году", "2020-09-01..2021-08-31"),
        ("28.06.2021 № 283 Об утверждении Плана ... до 2024 года", "2021-06-28..2024-08-31"),
        ("«05» марта 2021 г. № 43 Об утверждении дорожной карты", "2021-01-01..2021-12-31"),
        ("Программа на 2021-2024 годы", "2021-01-01..2024-12-31"),
        ("План на 2022 год", "2022-01-01..2022-12-31"),
    ],
)
def test_period_from_the_order_text(prose: str, expected: str):
    period, source = detect_period(prose)
    assert str(period) == expected
    assert source


def test_period_not_mentioned_in_dates_inside_the_text():
    # "до 1 августа 2021 года" is a deadline, not the roadmap's end.
    period, _ = detect_period("Приказ 30.12.2020. Подготовить справку до 1 августа 2021 года.")
    assert str(period) == "2020-01-01..2020-12-31"
    assert detect_period("никаких дат")[0] is None


def test_given_period_wins_and_the_other_is_noted(seeds: Callable[[str], Path]):
    given = Period(date(2021, 9, 1), date(2022, 6, 30))
    result = import_file(seeds(KALAR), given)
    assert result.period == given
    assert "--period" in result.period_source
    assert any("2021-09-01..2022-08-31" in n for n in result.notes)
    assert by_no(result, "16").deadline == parse_deadline("Февраль", given)


# --- .docx ---------------------------------------------------------------------------------


def _italic(cell, text: str) -> None:
    cell.text = ""
    cell.paragraphs[0].add_run(text).italic = True


def _mark_header(row) -> None:
    """Word's "repeat as header row on each page" flag."""
    tr_pr = row._tr.get_or_add_trPr()
    flag = OxmlElement("w:tblHeader")
    flag.set(qn("w:val"), "true")
    tr_pr.append(flag)


def _seed_table(path: Path) -> tuple[list[str], list[str], list[list[str]]]:
    """A seed as (prose lines, header, rows with sections as one-cell rows), via text_blocks."""
    blocks = text_blocks(path.read_text(encoding="utf-8"))
    rows = [b for b in blocks if isinstance(b, TableRow)]
    h = next(i for i, b in enumerate(rows) if len(b.cells) > 1 and b.cells[0] == "№ п/п")
    prose = [" ".join(c for c in b.cells if c.strip()) for b in rows[:h]]
    header = list(rows[h].cells)
    body = [[c.strip() for c in b.cells] for b in rows[h + 1 :]]
    return prose, header, body


def test_docx_izhevsk_with_merged_and_italic_sections(
    seeds: Callable[[str], Path], imported: Callable[..., ImportResult], tmp_path: Path
):
    prose, header, body = _seed_table(seeds(IZHEVSK))
    doc = Document()
    for line in prose:
        doc.add_paragraph(line)
    table = doc.add_table(rows=1, cols=len(header))
    for cell, name in zip(table.rows[0].cells, header, strict=True):
        cell.text = name
    _mark_header(table.rows[0])
    sections = 0
    for cells in body:
        if len([c for c in cells if c]) == 1 and not cells[0][0].isdigit():
            sections += 1
            row = table.add_row()
            if sections == 1:  # a section row merged across the whole table
                merged = row.cells[0].merge(row.cells[-1])
                merged.text = cells[0]
            else:  # an italic section written in the activity column, the rest empty
                _italic(row.cells[1], cells[0])
            continue
        if cells[0] == "1" and sections == 2:  # a new page: the header row again
            for cell, name in zip(table.add_row().cells, header, strict=True):
                cell.text = name
        row = table.add_row()
        for cell, value in zip(row.cells, cells, strict=True):
            cell.text = value
    # A multi-paragraph planned result, as Word keeps it.
    last = table.rows[-1].cells[2]
    last.text = "Разработана страница на сайте МАУ ИМЦ «Альтернатива»"
    last.add_paragraph("с ресурсами")
    doc.add_paragraph("Начальник Управления образования")
    signatures = doc.add_table(rows=2, cols=2)
    signatures.cell(0, 0).text = "СОГЛАСОВАНО:"
    signatures.cell(1, 0).text = "Зам. начальника"
    path = tmp_path / "izhevsk.docx"
    doc.save(str(path))

    result = import_file(path)
    assert texts(result.items) == texts(imported(IZHEVSK).items)
    assert result.sections == {
        "Методическое обеспечение": 6,
        "Организационное обеспечение": 3,
        "Информационное обеспечение": 1,
    }
    assert result.period == Period(date(2020, 9, 1), date(2021, 8, 31))
    assert any("повторы строки заголовков" in n.lower() for n in result.notes)
    assert result.unplaced == []


def test_docx_kalar_with_multi_paragraph_cell_and_vertical_merge(
    imported: Callable[..., ImportResult], tmp_path: Path
):
    kalar = imported(KALAR)
    doc = Document()
    doc.add_paragraph("РАСПОРЯЖЕНИЕ")
    doc.add_paragraph("16 августа 2021 года № 608-р")
    doc.add_paragraph("Об утверждении плана мероприятий на 2021-2022 учебный год")
    header = [
        "№ п/п",
        "Наименование\nмероприятия",
        "Сроки реализации",
        "Ответственные исполнители",
        "Ожидаемый результат",
    ]
    table = doc.add_table(rows=1, cols=5)
    for cell, name in zip(table.rows[0].cells, header, strict=True):
        cell.text = name
    for item in kalar.items:
        row = table.add_row()
        values = [item.no + ".", item.activity, item.deadline_text, item.responsible]
        for cell, value in zip(row.cells, values, strict=False):
            cell.text = value
        row.cells[4].text = item.planned_result
        if item.no == "6":  # the two parts of row 6 as two paragraphs of one cell
            first, _, second = item.activity.partition(" 4. ")
            row.cells[1].text = first
            row.cells[1].add_paragraph("4. " + second)
    # Rows 8 and 9 share one vertically merged responsible cell.
    r8 = next(r for r in table.rows if r.cells[0].text == "8.")
    r9 = next(r for r in table.rows if r.cells[0].text == "9.")
    r8.cells[3].merge(r9.cells[3]).text = "МОУО, экспертный совет"
    path = tmp_path / "kalar.docx"
    doc.save(str(path))

    result = import_file(path)
    assert texts(result.items) == texts(kalar.items)
    assert by_no(result, "9").responsible == "МОУО, экспертный совет"
    assert "4. Проработка активных форм работы" in by_no(result, "6").activity
    assert result.period == kalar.period


def _docx_with_section_between(tmp_path: Path, italic: bool) -> Path:
    doc = Document()
    doc.add_paragraph("Приказ от 01.09.2021. План на 2021-2022 учебный год")
    table = doc.add_table(rows=1, cols=4)
    header = ["№", "Мероприятие", "Срок", "Ответственный"]
    for cell, name in zip(table.rows[0].cells, header, strict=True):
        cell.text = name
    for cells in (["1", "Совещание", "Сентябрь 2021 г.", "МОУО"], ["2", "Семинар", "Май", "ОО"]):
        for cell, value in zip(table.add_row().cells, cells, strict=True):
            cell.text = value
    row = table.add_row()
    if italic:
        _italic(row.cells[1], "Работа с родителями")
    else:
        row.cells[1].text = "Работа с родителями"
    for cells in (["3", "Собрание", "Октябрь 2021 г.", "ОО"],):
        for cell, value in zip(table.add_row().cells, cells, strict=True):
            cell.text = value
    path = tmp_path / f"section-{italic}.docx"
    doc.save(str(path))
    return path


def test_docx_italic_row_is_a_section_plain_row_continues_the_one_above(tmp_path: Path):
    result = import_file(_docx_with_section_between(tmp_path, italic=True))
    assert [(i.section, i.no) for i in result.items] == [
        ("", "1"),
        ("", "2"),
        ("Работа с родителями", "3"),
    ]
    plain = import_file(_docx_with_section_between(tmp_path, italic=False))
    assert [(i.section, i.no) for i in plain.items] == [("", "1"), ("", "2"), ("", "3")]
    assert by_no(plain, "2").activity == "Семинар Работа с родителями"


def test_docx_numbered_section_row_with_children(tmp_path: Path):
    doc = Document()
    doc.add_paragraph("Приказ от 28.06.2021 до 2024 года")
    table = doc.add_table(rows=1, cols=5)
    header = ["№ п/п", "Мероприятие", "Ответственные", "Сроки", "Планируемый результат"]
    for cell, name in zip(table.rows[0].cells, header, strict=True):
        cell.text = name
    for cells in (
        ["1.", "Нормативно-правовое обеспечение", "", "", ""],
        ["1.1.", "Критерии", "МОУО, ОО", "июль, 2021г.", "Утверждены"],
        ["1.2.", "План", "МОУО", "июль, 2021г.", "Утвержден"],
    ):
        for cell, value in zip(table.add_row().cells, cells, strict=True):
            cell.text = value
    path = tmp_path / "numbered.docx"
    doc.save(str(path))
    result = import_file(path)
    assert [(i.section, i.no) for i in result.items] == [
        ("1. Нормативно-правовое обеспечение", "1.1"),
        ("1. Нормативно-правовое обеспечение", "1.2"),
    ]


# --- .xlsx ---------------------------------------------------------------------------------


def test_xlsx_orda_with_merged_sections_and_repeated_header(
    imported: Callable[..., ImportResult], tmp_path: Path
):
    orda = imported(ORDA)
    header = [
        "№ п/п",
        "Мероприятие (содержание деятельности)",
        "Ответственные исполнители",
        "Сроки исполнения",
        "Планируемый результат",
    ]
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Дорожная карта"
    ws.append(["План мероприятий («дорожная карта») ... до 2024 года"])
    ws.merge_cells("A1:E1")
    ws.append(["Приказ управления образования от 28.06.2021 № 283"])
    ws.merge_cells("A2:E2")
    ws.append(header)
    section = None
    for item in orda.items:
        if item.section != section:
            section = item.section
            ws.append([section])
            ws.merge_cells(start_row=ws.max_row, start_column=1, end_row=ws.max_row, end_column=5)
            if section.startswith("3."):
                ws.append(header)  # the header again, as printed on a new page
        ws.append(
            [item.no, item.activity, item.responsible, item.deadline_text, item.planned_result]
        )
    # 2.1 and 2.2 share one vertically merged responsible cell.
    r21 = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "2.1")
    ws.merge_cells(start_row=r21, start_column=3, end_row=r21 + 1, end_column=3)
    wb.create_sheet("Справка").append(["Пояснения к плану"])
    path = tmp_path / "orda.xlsx"
    wb.save(path)

    result = import_file(path)
    assert texts(result.items) == texts(orda.items)
    assert result.period == Period(date(2021, 6, 28), date(2024, 8, 31))
    assert by_no(result, "2.2").responsible == "МОУО, ОО"
    assert result.unplaced == []
    assert "лист «Дорожная карта»" in result.source


def test_xlsx_on_a_later_sheet_and_numbers_as_numbers(tmp_path: Path):
    wb = Workbook()
    first = wb.active
    assert first is not None
    first.append(["Титульный лист"])
    ws = wb.create_sheet("План")
    ws.append(["План на 2021-2022 учебный год"])
    ws.append(["№", "Наименование мероприятия", "Сроки", "Ответственный", "Ожидаемый результат"])
    ws.append([1, "Совещание", "Сентябрь 2021 г.", "МОУО", "Протокол"])
    ws.append([2, "Отчёт школ", date(2021, 12, 20), "ОО", "Отчёт"])
    path = tmp_path / "later.xlsx"
    wb.save(path)
    result = import_file(path)
    assert [i.no for i in result.items] == ["1", "2"]
    assert by_no(result, "2").deadline_text == "20.12.2021"
    assert result.period == Period(date(2021, 9, 1), date(2022, 8, 31))


def test_grid_without_number_column_is_numbered_in_order():
    result = import_grid(
        [
            ["План на 2021 год"],
            ["Мероприятие", "Срок", "Ответственный"],
            ["Совещание", "Январь 2021 г.", "МОУО"],
            ["Семинар", "Февраль 2021 г.", "ОО"],
        ]
    )
    assert [(i.no, i.activity) for i in result.items] == [("1", "Совещание"), ("2", "Семинар")]
    assert any("№ п/п" in n for n in result.notes)


# --- the command ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".xlsx"])
@pytest.mark.parametrize("prefix", [ORDA, KALAR, IZHEVSK])
def test_command_writes_a_plan_that_loads_back(
    seeds: Callable[[str], Path], prefix: str, suffix: str, tmp_path: Path
):
    out = tmp_path / f"plan{suffix}"
    code, text = import_plan_command(seeds(prefix), out, None)
    assert code == 0, text
    assert f"План записан: {out}" in text
    result = import_file(seeds(prefix))
    assert result.period is not None
    plan = load_plan(out, result.period)
    assert list(plan.items) == result.items


def test_command_kolpna_summary(seeds: Callable[[str], Path], tmp_path: Path):
    code, text = import_plan_command(seeds(KOLPNA), tmp_path / "plan.tsv", None)
    assert code == 0, text
    assert "Мероприятий: 17" in text
    assert "(без раздела): 17" in text
    assert "Период: 2021-01-01..2021-12-31" in text
    assert "05.03.2021" in text


def test_command_garbage_has_no_table(tmp_path: Path):
    garbage = tmp_path / "letter.txt"
    garbage.write_text("Уважаемые коллеги!\nПросим\tпредставить\tотчёт.\n\x07\x00мусор", "utf-8")
    out = tmp_path / "plan.tsv"
    code, text = import_plan_command(garbage, out, None)
    assert code == 1
    assert "Таблица дорожной карты не найдена" in text
    assert not out.exists()


def test_command_binary_noise_has_no_table(tmp_path: Path):
    noise = tmp_path / "noise.txt"
    noise.write_bytes(bytes(range(256)) * 8)
    code, text = import_plan_command(noise, tmp_path / "plan.tsv", None)
    assert code == 1
    assert "не найдена" in text


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("missing.docx", None),
        ("broken.docx", b"this is not a zip archive"),
        ("broken.xlsx", b"PK\x03\x04 not really a workbook"),
        ("old.doc", b"\xd0\xcf\x11\xe0"),
        ("scan.pdf", b"%PDF-1.4"),
    ],
)
def test_command_unreadable_file(tmp_path: Path, name: str, content: bytes | None):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "plan.tsv"
    code, text = import_plan_command(path, out, None)
    assert code == 2
    assert name in text
    assert "Traceback" not in text
    assert not out.exists()


def test_command_rejects_an_unknown_plan_suffix(seeds: Callable[[str], Path], tmp_path: Path):
    code, text = import_plan_command(seeds(KALAR), tmp_path / "plan.json", None)
    assert code == 2
    assert "plan.json" in text


def test_command_with_given_period(seeds: Callable[[str], Path], tmp_path: Path):
    given = Period(date(2021, 1, 1), date(2021, 12, 31))
    code, text = import_plan_command(seeds(IZHEVSK), tmp_path / "plan.tsv", given)
    assert code == 0, text
    assert "Период: 2021-01-01..2021-12-31 — задан параметром --period" in text


def test_text_debris_inside_the_table():
    text = "\n".join(
        [
            "Приказ от 01.09.2021 № 1. План на 2021-2022 учебный год",
            "№ п/п\tМероприятие\tСроки\tОтветственные\tРезультат",
            "1\t2\t3\t4\t5",  # the row of column numbers
            "I.\tОрганизационные мероприятия\t\t\t",
            "1.\tСовещание\tСентябрь 2021 г.\tМОУО\tПротокол",
            "- 2 -",  # a page number
            "Продолжение таблицы",
            "№ п/п\tМероприятие\tСроки\tОтветственные\tРезультат",  # the header on a new page
            "2.\tСеминар\tОктябрь 2021 г.\tОО\tПрограмма\tлишнее",
            "Подпись неразборчива",  # a stray line in the middle: listed, not a section
            "3.\tОтчёт\tМай\tОО\tОтчёт",
            "",
            "Начальник отдела образования",  # prose after the table
        ]
    )
    result = import_text(text, source="debris.txt")
    assert [(i.section, i.no) for i in result.items] == [
        ("I. Организационные мероприятия", "1"),
        ("I. Организационные мероприятия", "2"),
        ("I. Организационные мероприятия", "3"),
    ]
    assert by_no(result, "2").planned_result == "Программа лишнее"
    assert any("больше ячеек" in u for u in result.unsure)
    assert result.unplaced == ["строка 10: «Подпись неразборчива» — вне таблицы."]
    assert any("повторы строки заголовков" in n.lower() and "1" in n for n in result.notes)


def test_continuation_before_any_row_is_listed():
    text = (
        "План на 2021 год\n"
        "№\tМероприятие\tСрок\tОтветственный\n"
        "\tкусок текста\t\t\n"
        "1.\tА\tМай\tОО\n"
    )
    result = import_text(text)
    assert [i.no for i in result.items] == ["1"]
    assert result.unplaced == ["строка 3: строка без номера вне мероприятий — «кусок текста»."]


def test_command_without_any_period_asks_for_one(tmp_path: Path):
    doc = tmp_path / "plan.txt"
    doc.write_text("№\tМероприятие\tСрок\tОтветственный\n1.\tСовещание\tСентябрь\tМОУО\n", "utf-8")
    code, text = import_plan_command(doc, tmp_path / "plan.tsv", None)
    assert code == 1
    assert "--period" in text
    assert not (tmp_path / "plan.tsv").exists()
    given = Period(date(2021, 9, 1), date(2022, 8, 31))
    code, text = import_plan_command(doc, tmp_path / "plan.tsv", given)
    assert code == 0, text


def test_docx_row_split_in_two_with_the_number_merged_down(tmp_path: Path):
    doc = Document()
    doc.add_paragraph("Распоряжение 16 августа 2021 года. План на 2021-2022 учебный год")
    table = doc.add_table(rows=1, cols=4)
    header = ["№ п/п", "Наименование мероприятия", "Сроки", "Ответственные исполнители"]
    for cell, name in zip(table.rows[0].cells, header, strict=True):
        cell.text = name
    for cells in (
        ["1.", "Собеседование с руководителями", "Сентябрь 2021 г.", "МОУО"],
        ["", "и заместителями директоров", "", ""],
        ["2.", "Отчёты руководителей ШНОР", "В течение года", "ШНОР, ШНСУ"],
    ):
        for cell, value in zip(table.add_row().cells, cells, strict=True):
            cell.text = value
    table.cell(1, 0).merge(table.cell(2, 0)).text = "1."
    table.cell(1, 3).merge(table.cell(2, 3)).text = "МОУО"
    path = tmp_path / "split.docx"
    doc.save(str(path))
    result = import_file(path)
    assert [i.no for i in result.items] == ["1", "2"]
    first = by_no(result, "1")
    assert first.activity == "Собеседование с руководителями и заместителями директоров"
    assert first.responsible == "МОУО"  # the merged cell is not repeated into the text
