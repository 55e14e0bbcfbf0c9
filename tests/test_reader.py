import doctest
from datetime import date, datetime

import pytest

import sync.cells
from sync.cells import a1, cell_date
from sync.model import RawWorkbook, School, Severity
from sync.reader import UnreadableWorkbook, header_key, locate
from sync.spec import load_spec
from tests.fixtures import SCHOOL, VALID_PASSPORT, raw_school_workbook, small_plan

SPEC = load_spec()
META = [["template_version", "1.0"], ["school_id", "sch-07"], ["school_name", "СОШ № 7"]]
PASSPORT = [["Поле", "Значение"], ["Полное наименование ОО", "МБОУ «СОШ № 7»"]]


def workbook(main, *, name="Дорожная карта", meta=META, passport=PASSPORT, first=None):
    sheets = {}
    if first is not None:
        sheets.update(first)
    sheets[name] = main
    if passport is not None:
        sheets["Паспорт ОО"] = passport
    if meta is not None:
        sheets["_служебный"] = meta
    return RawWorkbook(sheets)


def test_cells_doctests():
    assert doctest.testmod(sync.cells).failed == 0


def test_a1_and_dates():
    assert a1(2, 9) == "I2"
    assert a1(100, 52) == "AZ100"
    assert cell_date(datetime(2021, 10, 5, 13, 0)) == date(2021, 10, 5)
    assert cell_date("05.10.21") == date(2021, 10, 5)
    assert cell_date(44474.0) == date(2021, 10, 5)
    assert cell_date("  ") is None
    for bad in ("вчера", "31.02.2021", 12, True, 90000):
        with pytest.raises(ValueError):
            cell_date(bad)


def test_standard_layout_round_trip():
    plan = small_plan()
    raw = raw_school_workbook(plan, SCHOOL, SPEC, {2: {"status": "Выполнено", "comment": " ок "}})
    sheet = locate(raw, SPEC)
    assert sheet.header_row == 1
    assert sheet.columns == {c.key: SPEC.index(c.key) for c in SPEC.columns}
    assert [r.row for r in sheet.rows] == [2, 3, 4, 5]
    first = sheet.rows[0].values
    assert first["no"] == "1"
    assert first["activity"] == plan.items[0].activity
    assert first["status"] == "Выполнено"
    assert first["comment"] == "ок"
    assert first["done_on"] is None
    assert sheet.meta["school_id"] == SCHOOL.id
    assert sheet.meta["period"] == "2021-09-01..2022-08-31"
    assert sheet.passport["pupils"] == VALID_PASSPORT["pupils"]
    assert sheet.passport_cells["full_name"] == "B2"
    assert sheet.passport_cells["notes"] == f"B{len(SPEC.passport) + 1}"
    assert sheet.problems == ()


def test_coordinator_workbook_holds_only_its_rows():
    raw = raw_school_workbook(small_plan(), School("m", "МОУО", is_coordinator=True), SPEC)
    assert [r.values["activity"] for r in locate(raw, SPEC).rows] == [
        "Утверждение муниципальной программы"
    ]


def test_columns_moved_and_inserted_are_found_and_unknown_ones_ignored():
    main = [
        ["Статус", "Доп. сведения", "№", "Наименование мероприятия", "Комментарий", "Фото"],
        ["В работе", "x", "1", "Анализ ВПР", "", "img"],
    ]
    sheet = locate(workbook(main), SPEC)
    assert sheet.columns == {"status": 1, "no": 3, "activity": 4, "comment": 5}
    assert sheet.rows[0].values == {
        "status": "В работе",
        "no": "1",
        "activity": "Анализ ВПР",
        "comment": None,
    }


def test_headers_tolerate_spaces_case_line_breaks_and_marks():
    main = [
        ["  № П/П ", " МЕРОПРИЯТИЕ ", "Статус*", "Дата\nвыполнения:", "подтверждающий   документ"],
        ["1", "Анализ ВПР", "Выполнено", "05.10.2021", "Справка"],
    ]
    sheet = locate(workbook(main), SPEC)
    assert sheet.columns == {"no": 1, "activity": 2, "status": 3, "done_on": 4, "evidence": 5}


def test_header_with_a_hint_in_brackets():
    main = [["Мероприятие", "Статус (выберите из списка)", "Срок (дата)"], ["А", "", ""]]
    assert locate(workbook(main), SPEC).columns == {"activity": 1, "status": 2, "due": 3}


def test_two_row_header_with_merged_group_above():
    main = [
        ["Дорожная карта МБОУ «СОШ № 7»", None, None, None, None, None, None],
        ["№ п/п", "Мероприятие", "Сроки исполнения", "Заполняет ОО", "", "", ""],
        [None, "", None, "Статус", "Дата выполнения", "Подтверждающий документ", "Комментарий"],
        ["1", "Анализ ВПР", "Февраль", "Выполнено", date(2021, 10, 5), "Справка", ""],
    ]
    sheet = locate(workbook(main), SPEC)
    assert sheet.header_row == 3
    assert sheet.columns == {
        "no": 1,
        "activity": 2,
        "deadline_text": 3,
        "status": 4,
        "done_on": 5,
        "evidence": 6,
        "comment": 7,
    }
    assert [r.row for r in sheet.rows] == [4]
    assert sheet.rows[0].values["done_on"] == date(2021, 10, 5)


def test_two_row_header_with_sub_columns_under_a_group():
    main = [
        ["№ п/п", "Мероприятие", "Статус", "Отметка о выполнении", None, "Комментарий"],
        [None, None, None, "Дата выполнения", "Подтверждающий документ", None],
        ["1", "Анализ ВПР", "Выполнено", "05.10.2021", "Справка", ""],
    ]
    sheet = locate(workbook(main), SPEC)
    assert sheet.header_row == 2
    assert sheet.columns == {
        "no": 1,
        "activity": 2,
        "status": 3,
        "done_on": 4,
        "evidence": 5,
        "comment": 6,
    }
    assert [r.row for r in sheet.rows] == [3]


def test_title_rows_above_a_one_row_header():
    main = [
        ["Дорожная карта"],
        [],
        ["", "Мероприятие", "Статус", "Комментарий"],
        ["", "Анализ ВПР", "Выполнено", ""],
    ]
    sheet = locate(workbook(main), SPEC)
    assert sheet.header_row == 3
    assert sheet.columns == {"activity": 2, "status": 3, "comment": 4}
    assert [r.row for r in sheet.rows] == [4]


def test_a_data_row_does_not_extend_a_one_row_header():
    # "Примечание" is a header alias; as data under a complete header it stays data.
    main = [["Мероприятие", "Статус", ""], ["Анализ ВПР", "Выполнено", "Примечание"]]
    sheet = locate(workbook(main), SPEC)
    assert sheet.header_row == 1
    assert sheet.columns == {"activity": 1, "status": 2}


def test_blank_rows_anywhere_are_skipped_and_row_numbers_kept():
    main = [
        ["№ п/п", "Мероприятие", "Статус", "Комментарий", "Контроль", "Прочее"],
        ["1", "Первое", "", "", "", ""],
        ["", "", "", "", "", ""],
        [None, "  ", "\u00a0", None, None, None],
        ["", "", "", "", "", "не наш столбец"],
        ["", "", "", "", "Просрочено", ""],  # the sync's own column alone is not a row
        ["2", "Второе\nв две строки  ", " В работе ", "", "", ""],
        ["", "", "", "Только комментарий", "", ""],
        ["", "", "", "", "", ""],
        [],
        [None, None],
    ]
    sheet = locate(workbook(main), SPEC)
    assert [r.row for r in sheet.rows] == [2, 7, 8]
    assert sheet.rows[1].values["activity"] == "Второе\nв две строки"
    assert sheet.rows[1].values["status"] == "В работе"
    assert sheet.rows[2].values["comment"] == "Только комментарий"


def test_short_rows_read_as_empty_cells():
    main = [["Мероприятие", "Статус", "Комментарий"], ["Первое"]]
    sheet = locate(workbook(main), SPEC)
    assert sheet.rows[0].values == {"activity": "Первое", "status": None, "comment": None}


def test_main_sheet_found_by_name_despite_case_and_spaces():
    main = [["Мероприятие", "Статус"], ["Первое", ""]]
    decoy = {"Лист1": [["Мероприятие", "Статус"], ["Чужое", ""], ["Ещё", ""]]}
    sheet = locate(workbook(main, name=" дорожная  КАРТА", first=decoy), SPEC)
    assert [r.values["activity"] for r in sheet.rows] == ["Первое"]


def test_renamed_main_sheet_is_the_first_sheet_with_a_header():
    main = [["Мероприятие", "Статус"], ["Первое", ""]]
    first = {"Инструкция": [["Как заполнять дорожную карту"], ["1. Выберите статус"]]}
    sheet = locate(workbook(main, name="Лист1", first=first), SPEC)
    assert [r.values["activity"] for r in sheet.rows] == ["Первое"]


def test_named_sheet_without_a_header_falls_back_to_another():
    sheets = {
        "Дорожная карта": [["Всё удалено"]],
        "Копия": [["Мероприятие", "Статус"], ["Первое", ""]],
    }
    assert locate(RawWorkbook(sheets), SPEC).columns == {"activity": 1, "status": 2}


@pytest.mark.parametrize(
    "main",
    [
        [["№ п/п", "Мероприятие", "Комментарий"], ["1", "Первое", ""]],  # no status
        [["№ п/п", "Статус"], ["1", "Выполнено"]],  # no activity
        [[]],
        [],
        [[""]] * 15 + [["Мероприятие", "Статус"], ["Первое", ""]],  # header below row 15
    ],
)
def test_unreadable_without_activity_and_status_in_the_first_rows(main):
    with pytest.raises(UnreadableWorkbook) as e:
        locate(workbook(main), SPEC)
    assert "«Мероприятие» и «Статус»" in str(e.value)
    assert "Дорожная карта" in str(e.value)


def test_header_in_row_15_is_still_found():
    main = [[""]] * 14 + [["Мероприятие", "Статус"], ["Первое", ""]]
    sheet = locate(workbook(main), SPEC)
    assert sheet.header_row == 15
    assert [r.row for r in sheet.rows] == [16]


def test_empty_workbook_is_unreadable():
    with pytest.raises(UnreadableWorkbook):
        locate(RawWorkbook({}), SPEC)


def test_meta_values_as_text_and_missing_sheet():
    main = [["Мероприятие", "Статус"], ["Первое", ""]]
    meta = [
        ["school_id", 7.0],
        ["template_version", 1.5],
        ["built_at", datetime(2021, 9, 10, 8, 0)],
        ["", "ignored"],
        ["school_name", None],
        ["period", " 2021-09-01..2022-08-31 "],
    ]
    sheet = locate(workbook(main, meta=meta), SPEC)
    assert sheet.meta == {
        "school_id": "7",
        "template_version": "1.5",
        "built_at": "2021-09-10T08:00:00",
        "school_name": "",
        "period": "2021-09-01..2022-08-31",
    }
    assert locate(workbook(main, meta=None), SPEC).meta == {}


def test_meta_sheet_name_is_folded():
    main = [["Мероприятие", "Статус"], ["Первое", ""]]
    raw = RawWorkbook({"Дорожная карта": main, "_Служебный ": [["school_id", "x"]]})
    assert locate(raw, SPEC).meta == {"school_id": "x"}


def test_passport_labels_matched_exactly_or_by_their_start():
    main = [["Мероприятие", "Статус"], ["Первое", ""]]
    passport = [
        ["Поле", "Значение"],
        ["Телефон", " 8 (3412) 55-12-07 "],
        ["", "строка без подписи"],
        ["Категория", "шнор"],
        ["Руководитель ОО (ФИО директора)", "Иванова М. П."],
        ["ПОЛНОЕ  наименование ОО:", "МБОУ «СОШ № 7»"],
        ["Количество обучающихся", 412.0],
        ["Что-то своё", "x"],
        ["Телефон", "второй телефон не читается"],
        ["Количество педагогических работников", ""],
    ]
    sheet = locate(workbook(main, passport=passport), SPEC)
    assert sheet.passport == {
        "phone": "8 (3412) 55-12-07",
        "category": "шнор",
        "head": "Иванова М. П.",
        "full_name": "МБОУ «СОШ № 7»",
        "pupils": 412.0,
        "teachers": None,
    }
    assert sheet.passport_cells == {
        "phone": "B2",
        "category": "B4",
        "head": "B5",
        "full_name": "B6",
        "pupils": "B7",
        "teachers": "B10",
    }
    assert sheet.problems == ()


def test_missing_passport_sheet_is_a_problem_not_an_exception():
    main = [["Мероприятие", "Статус"], ["Первое", ""]]
    sheet = locate(workbook(main, passport=None), SPEC)
    assert sheet.passport == {}
    assert sheet.passport_cells == {}
    [problem] = sheet.problems
    assert problem.code == "passport_missing"
    assert problem.severity is Severity.ERROR
    assert problem.sheet == "Паспорт ОО"
    assert "«Паспорт ОО»" in problem.message


def test_header_key():
    assert header_key(" Дата\nвыполнения *: ") == "дата выполнения"
    assert header_key("Подтверждающий  документ:") == "подтверждающий документ"
    assert header_key(None) == ""


def test_renamed_main_sheet_name_is_kept_for_problems():
    main = [["Мероприятие", "Статус"], ["Первое", ""]]
    assert locate(workbook(main, name="Лист1"), SPEC).sheet_name == "Лист1"
    assert locate(workbook(main), SPEC).sheet_name == ""


def test_a_built_workbook_reads_back_as_the_spec_says(tmp_path):
    """Against drift: the builder's xlsx, read by calamine, is what the reader expects."""
    from sync.backends.xlsxio import read_sheets
    from sync.builders.school_xlsx import build_school_workbook
    from sync.validation import check_school

    plan = small_plan()
    path = tmp_path / "school.xlsx"
    build_school_workbook(SPEC, plan, SCHOOL, built_at=datetime(2021, 9, 10)).save(path)
    sheet = locate(RawWorkbook(read_sheets(path.read_bytes())[0]), SPEC)
    assert sheet.header_row == 1
    assert sheet.columns == {c.key: SPEC.index(c.key) for c in SPEC.columns}
    assert [r.values["activity"] for r in sheet.rows] == [
        i.activity for i in plan.for_audience(SCHOOL.audience)
    ]
    assert sheet.meta["school_id"] == SCHOOL.id
    assert sheet.meta["plan_hash"] == plan.digest(SCHOOL.audience)
    assert set(sheet.passport_cells) == {f.key for f in SPEC.passport}
    rows, problems = check_school(sheet, SCHOOL, plan, SPEC, date(2021, 11, 15))
    # A fresh file lacks only what the school has to write into its passport.
    assert {p.code for p in problems} == {"passport_required"}
    assert [r.item for r in rows] == list(plan.for_audience(SCHOOL.audience))
