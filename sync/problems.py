"""The problem catalogue: every problem a check can report, its code, severity and Russian text.

As frictionless keeps its errors, each kind of problem is declared once here; a check only fills
in the blanks of its message template and says where the problem is. A code may have more than
one wording (a missing sheet and a missing value of it are both «meta_missing»): each wording is
its own entry with the same code.

>>> DONE_WITHOUT_DATE.at("Дорожная карта", "I7", "done_on", 7).message
'Мероприятие отмечено как выполненное: укажите «Дату выполнения» (ДД.ММ.ГГГГ).'
>>> WRONG_SCHOOL.at("Служебный", name="Школа № 2", expected="Школа № 1").severity.value
'error'
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.model import Problem, Severity

ERROR, WARNING = Severity.ERROR, Severity.WARNING


@dataclass(frozen=True)
class ProblemType:
    """One kind of problem: its code, its severity and its message with named {blanks}."""

    code: str
    severity: Severity
    template: str  # Russian, for the school; str.format blanks the check fills in

    def message(self, **blanks: object) -> str:
        return self.template.format(**blanks)

    def at(
        self,
        sheet: str,
        cell: str = "",
        field: str = "",
        row: int | None = None,
        /,
        **blanks: object,
    ) -> Problem:
        """The problem found on `sheet` (at `cell` of `field`, in sheet `row`), its text filled.

        Where it is goes by position, so a blank may be called `sheet` or `row` too.
        """
        return Problem(self.code, self.severity, sheet, cell, field, self.message(**blanks), row)


# --- the workbook's sheets, as the reader finds them ----------------------------------------------

PASSPORT_SHEET_MISSING = ProblemType(
    "passport_missing",
    ERROR,
    "Лист «{sheet}» не найден: верните его (не переименовывайте листы) и заполните паспорт школы.",
)
SHEET_TOO_LONG = ProblemType(
    "sheet_too_long",
    ERROR,
    "На листе «{sheet}» заполнены строки до {rows}-й; прочитаны только первые {read}. Удалите"
    " случайные значения далеко ниже таблицы.",
)

# --- the service sheet ---------------------------------------------------------------------------

_KEEP_META = (
    "Не переименовывайте и не удаляйте лист «{sheet}»; попросите у координатора новый файл и"
    " перенесите в него свои данные."
)
META_GONE = ProblemType("meta_missing", ERROR, "Служебный лист удалён или повреждён: " + _KEEP_META)
META_VALUES_MISSING = ProblemType(
    "meta_missing",
    ERROR,
    "Служебный лист удалён или повреждён: нет значений {keys}. " + _KEEP_META,
)
WRONG_SCHOOL = ProblemType(
    "wrong_school", ERROR, "Это файл школы «{name}», а ожидается «{expected}»."
)
TEMPLATE_VERSION = ProblemType(
    "template_version",
    ERROR,
    "Файл построен по шаблону версии {version}, а действует версия {current}: попросите у"
    " координатора новый файл.",
)
PLAN_OUTDATED = ProblemType(
    "plan_outdated",
    WARNING,
    "План в файле отличается от утверждённого МОУО: обратитесь к координатору за обновлённым"
    " файлом.",
)

# --- the rows against the plan -------------------------------------------------------------------

EXTRA_ROW = ProblemType(
    "extra_row",
    WARNING,
    "Строка {row}: мероприятия «{activity}» нет в плане; принято как собственное мероприятие"
    " школы.",
)
EXTRA_ROW_WITHOUT_ACTIVITY = ProblemType(
    "extra_row",
    WARNING,
    "Строка {row}: строка заполнена, но мероприятие не указано; впишите его в столбец"
    " «Мероприятие» или очистите строку.",
)
DUPLICATE_ROW = ProblemType(
    "duplicate_row",
    ERROR,
    "Мероприятие № {no} «{activity}» уже есть в строке {first}: удалите повторную строку.",
)
PLAN_NUMBER_CHANGED = ProblemType(
    "plan_text_changed",
    WARNING,
    "Номер мероприятия в столбце «{header}» изменён (в плане № {no}); в свод попадёт номер из"
    " утверждённого плана.",
)
PLAN_CELL_CHANGED = ProblemType(
    "plan_text_changed",
    WARNING,
    "Текст плана в столбце «{header}» изменён; в свод попадёт текст из утверждённого плана.",
)
PLAN_FILE_CHANGED = ProblemType(
    "plan_text_changed",
    WARNING,
    "Текст плана в файле изменён (мероприятия, номера, ответственные, сроки или результаты"
    " отличаются от выданных МОУО); в свод попадёт утверждённый план.",
)
PLAN_ROW_MISSING = ProblemType(
    "plan_row_missing",
    ERROR,
    "Нет строки плана № {no} «{activity}»: верните её (скопируйте из утверждённого плана или"
    " попросите у координатора новый файл).",
)

# --- a row's own cells ---------------------------------------------------------------------------

UNKNOWN_STATUS = ProblemType(
    "unknown_status",
    ERROR,
    "Статус «{status}» не из списка{odd}. Выберите одно из значений: {allowed}.",
)
DONE_WITHOUT_DATE = ProblemType(
    "done_without_date",
    ERROR,
    "Мероприятие отмечено как выполненное: укажите «Дату выполнения» (ДД.ММ.ГГГГ).",
)
DONE_WITHOUT_EVIDENCE = ProblemType(
    "done_without_evidence",
    ERROR,
    "Мероприятие отмечено как выполненное: укажите «Подтверждающий документ» (ссылку или"
    " реквизиты, например «Приказ № 45 от 12.10.2021»).",
)
DATE_INVALID = ProblemType(
    "date_invalid",
    ERROR,
    "«Дата выполнения»: «{typed}» не дата{hint}; укажите дату в виде ДД.ММ.ГГГГ.",
)
DATE_IN_FUTURE = ProblemType(
    "date_in_future",
    ERROR,
    "«Дата выполнения» {day:%d.%m.%Y} ещё не наступила: укажите фактическую дату.",
)
DATE_SUSPICIOUS = ProblemType(
    "date_suspicious",
    WARNING,
    "«Дата выполнения» {day:%d.%m.%Y} раньше начала дорожной карты ({start:%d.%m.%Y}) больше"
    " чем на год: проверьте год.",
)
REASON_MISSING = ProblemType(
    "reason_missing",
    ERROR,
    "Выбран статус «{status}»: объясните причину в столбце «Комментарий».",
)
REVIEW_UNKNOWN = ProblemType(
    "review_unknown",
    WARNING,
    "Отметка МОУО «{review}» не из списка: допустимо {allowed}.",
)

# --- the passport --------------------------------------------------------------------------------

PASSPORT_LINE_MISSING = ProblemType(
    "passport_required",
    ERROR,
    "В паспорте нет строки «{label}»: верните её и заполните значение.",
)
PASSPORT_REQUIRED = ProblemType("passport_required", ERROR, "Паспорт ОО: заполните «{label}».")
PASSPORT_NOT_NUMBER = ProblemType(
    "passport_not_number",
    ERROR,
    "Паспорт ОО: в поле «{label}» нужно целое число, а указано «{value}».",
)
PASSPORT_EMAIL = ProblemType(
    "passport_email",
    ERROR,
    "Паспорт ОО: «{wrong}» в поле «{label}» не похоже на адрес электронной почты; нужен адрес"
    " вида school@mail.ru.",
)
PASSPORT_CHOICE = ProblemType(
    "passport_choice",
    WARNING,
    "Паспорт ОО: «{value}» в поле «{label}» не из списка; выберите одно из значений: {allowed}.",
)

# --- the plan file -------------------------------------------------------------------------------

PLAN_DEADLINE_UNKNOWN = ProblemType(
    "plan_deadline_unknown",
    WARNING,
    "Мероприятие {no}: не удалось прочитать срок «{deadline}»; укажите «Срок (дата)» вручную.",
)
PLAN_DUPLICATE_ROW = ProblemType(
    "plan_duplicate_row",
    ERROR,
    "Мероприятие № {no} раздела «{section}» встречается в плане дважды.",
)

CATALOGUE: tuple[ProblemType, ...] = tuple(
    v for v in globals().values() if isinstance(v, ProblemType)
)
