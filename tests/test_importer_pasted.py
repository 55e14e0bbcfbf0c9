"""import-plan of tables pasted without tabs: pipes, one cell per line, columns of spaces."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sync.importer import ImportResult, import_file, import_plan_command, import_text
from sync.plan import load_plan
from tests.seed_docs import field_of, seed_parts

SEEDS = ("000", "001", "002", "004")
FIELDS = ("section", "no", "activity", "responsible", "deadline_text", "planned_result")


@pytest.fixture(scope="session")
def seed_path(shared_dir: Path) -> Callable[[str], Path]:
    def find(prefix: str) -> Path:
        found = sorted((shared_dir / "seeds").glob(f"{prefix}_*.txt"))
        assert found, f"seed {prefix}_*.txt not found"
        return found[0]

    return find


def pasted(seed: Path) -> tuple[ImportResult, dict[str, str]]:
    """The seed (the truth) and its table as a coordinator pastes it in three layouts."""
    truth = import_file(seed)
    prose, header = seed_parts(seed)
    keys = [field_of(h) for h in header]
    rows: list[list[str]] = []
    section = ""
    for item in truth.items:
        if item.section != section:
            section = item.section
            rows.append([section])
        rows.append([item.no + "." if k == "no" else getattr(item, k) for k in keys])
    width = len(header)
    pipes = [
        *prose,
        "| " + " | ".join(header) + " |",
        "|" + "---|" * width,
        *("| " + " | ".join(r + [""] * (width - len(r))) + " |" for r in rows),
    ]
    # What PDF text extraction gives: every non-empty cell on its own line.
    lines = [*prose, *header, *(c for r in rows for c in r if c)]
    widths = [
        max(len(h), *(len(r[i]) for r in rows if len(r) > 1)) + 3 for i, h in enumerate(header)
    ]
    spaced = [
        *prose,
        "".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
        *(
            "".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            if len(r) > 1
            else r[0]
            for r in rows
        ),
    ]
    return truth, {
        "pipes": "\n".join(pipes),
        "lines": "\n".join(lines),
        "spaces": "\n".join(spaced),
    }


@pytest.mark.parametrize("layout", ["pipes", "lines", "spaces"])
@pytest.mark.parametrize("prefix", SEEDS)
def test_pasted_layout_gives_every_cell_of_the_seed(
    seed_path: Callable[[str], Path], prefix: str, layout: str
):
    truth, texts = pasted(seed_path(prefix))
    assert "\t" not in texts[layout]
    result = import_text(texts[layout])
    assert result.found_table
    assert result.period == truth.period
    assert result.sections == truth.sections
    for want, got in zip(truth.items, result.items, strict=True):
        for field in FIELDS:
            assert getattr(got, field) == getattr(want, field), (want.no, field)
    assert len(result.items) == len(truth.items)
    assert result.unplaced == []
    assert any("без знаков табуляции" in n for n in result.notes)


def test_pasted_file_through_the_command(seed_path: Callable[[str], Path], tmp_path: Path):
    truth, texts = pasted(seed_path("002"))
    source = tmp_path / "из-pdf.txt"
    source.write_text(texts["lines"], encoding="utf-8")
    out = tmp_path / "plan.tsv"
    code, text = import_plan_command(source, out, None)
    assert code == 0, text
    assert "по одной ячейке в строке" in text
    assert truth.period is not None
    assert list(load_plan(out, truth.period).items) == truth.items


def test_ascii_box_table_with_cells_wrapped_over_lines():
    text = "\n".join(
        [
            "Приказ от 01.09.2021 № 5. План на 2021-2022 учебный год",
            "+----+----------------------+------------------+--------------+",
            "| №  | Мероприятие          | Сроки            | Ответственные|",
            "+----+----------------------+------------------+--------------+",
            "| 1. | Совещание            | Сентябрь 2021 г. | МОУО         |",
            "|    | директоров школ      |                  |              |",
            "+----+----------------------+------------------+--------------+",
            "│ 2. │ Отчёт школ           │ Май 2022 г.      │ ОО           │",
            "+----+----------------------+------------------+--------------+",
        ]
    )
    result = import_text(text)
    assert [(i.no, i.activity, i.deadline_text, i.responsible) for i in result.items] == [
        ("1", "Совещание директоров школ", "Сентябрь 2021 г.", "МОУО"),
        ("2", "Отчёт школ", "Май 2022 г.", "ОО"),
    ]


def test_one_cell_per_line_with_cells_wrapped_over_lines():
    text = "\n".join(
        [
            "Распоряжение от 16 августа 2021 года. План на 2021-2022 учебный год",
            "№ п/п",
            "Наименование мероприятия",
            "Сроки реализации",
            "Ответственные исполнители",
            "1.",
            "Собеседование с руководителями",
            "и заместителями директоров",  # the same cell, wrapped
            "Сентябрь 2021 г.",
            "МОУО",
            "2.",
            "Отчёты руководителей",
            "В течение года",
            "ШНОР, ШНСУ",
        ]
    )
    result = import_text(text)
    assert [(i.no, i.activity, i.deadline_text, i.responsible) for i in result.items] == [
        (
            "1",
            "Собеседование с руководителями и заместителями директоров",
            "Сентябрь 2021 г.",
            "МОУО",
        ),
        ("2", "Отчёты руководителей", "В течение года", "ШНОР, ШНСУ"),
    ]


def test_space_aligned_columns_with_wrapped_cells():
    text = "\n".join(
        [
            "План на 2022 год",
            "№     Мероприятие                 Срок              Ответственный",
            "1.    Совещание директоров        Январь 2022 г.    МОУО",
            "      по итогам полугодия",
            "2.    Семинар для учителей        Март 2022 г.      ОО, МОУО",
        ]
    )
    result = import_text(text)
    assert [(i.no, i.activity, i.deadline_text, i.responsible) for i in result.items] == [
        ("1", "Совещание директоров по итогам полугодия", "Январь 2022 г.", "МОУО"),
        ("2", "Семинар для учителей", "Март 2022 г.", "ОО, МОУО"),
    ]


def test_prose_alone_is_still_no_table():
    text = "Уважаемые коллеги!\nПросим представить отчёт  до 1 мая.\n| не | таблица |\n"
    result = import_text(text)
    assert not result.found_table
