"""The configuration: one TOML file, paths relative to it, mistakes in Russian with the line."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sync.model import Period, School

COORDINATOR_ID = "mouo"
STORAGE_KINDS = ("folder", "gsheets")


class ConfigError(Exception):
    """A configuration mistake; str() is a Russian message naming the key and the line."""


@dataclass(frozen=True)
class Config:
    path: Path
    municipality: str
    timezone: str
    period: Period
    plan_file: Path
    storage: str  # "folder" (the embedded default)
    schools_dir: Path
    master_path: Path
    history_path: Path
    backups_dir: Path
    keep_backups: int
    soon_days: int
    protection_password: str
    schools: tuple[School, ...]
    coordinator: School | None
    template: Path | None = None
    low_percent: float = 0.5  # [master] low_percent: «% выполнения» below it is red
    done_requires_acceptance: bool = False  # [review]: only rows the МОУО accepted count as done
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # the whole parsed TOML
    text: str = field(default="", repr=False)  # the file's text, for line numbers

    def section(self, name: str) -> SectionReader:
        """Typed access to one [name] table, for the modules that own it (google, schedule, smtp).

        Its errors name the key and the line, as the core settings' do.
        """
        data = self.raw.get(name, {})
        if not isinstance(data, dict):
            raise ConfigError(f"Ошибка в настройках: «{name}» должен быть таблицей [{name}].")
        return SectionReader(self.text, self.path, data, name)

    def school_table(self, index: int) -> SectionReader:
        """The index-th [[schools]] table, for backend-specific keys such as a spreadsheet id."""
        return SectionReader(self.text, self.path, self.raw["schools"][index], "schools", index)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self, now: datetime | None = None) -> date:
        """Today's date in the municipality's time zone (not the machine's)."""
        return (now or datetime.now(UTC)).astimezone(self.zone).date()

    def all_workbooks(self) -> tuple[School, ...]:
        """Every school, then the coordinator's own workbook when there is one."""
        return self.schools + ((self.coordinator,) if self.coordinator else ())


def _line_of(text: str, table: str, key: str | None, index: int | None = None) -> int | None:
    """The 1-based line where `key` is set inside [table] (or the index-th [[table]])."""
    current: str | None = None
    seen = -1
    header_line = None
    for n, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        m = re.match(r"^\[\[\s*([^\]]+?)\s*\]\]", stripped) or re.match(
            r"^\[\s*([^\]]+?)\s*\]", stripped
        )
        if m:
            current = m.group(1)
            if current == table:
                seen += 1
                if index is None or seen == index:
                    header_line = n
            continue
        in_table = current == table and (index is None or seen == index)
        if (table == "" and current is None) or in_table:
            if key is None:
                continue
            if re.match(rf"^\s*\"?{re.escape(key)}\"?\s*=", line):
                return n
    return header_line


class SectionReader:
    """Typed access to one TOML table with Russian errors that name key and line."""

    def __init__(
        self, text: str, path: Path, data: dict[str, Any], table: str, index: int | None = None
    ):
        self.text, self.path, self.data, self.table, self.index = text, path, data, table, index

    def where(self, key: str | None) -> str:
        line = _line_of(self.text, self.table, key, self.index)
        name = ".".join(p for p in (self.table, key) if p)
        if self.index is not None:
            name = f"{self.table}[{self.index + 1}]" + (f".{key}" if key else "")
        return f"{self.path.name}, строка {line}, ключ «{name}»" if line else f"ключ «{name}»"

    def fail(self, key: str | None, message: str) -> ConfigError:
        return ConfigError(f"Ошибка в настройках ({self.where(key)}): {message}")

    def get(self, key: str, kind: type, default: Any = ..., *, required: bool = True) -> Any:
        if key not in self.data:
            if default is not ...:
                return default
            if required:
                where = self.where(None)
                return_msg = f"нет обязательного ключа «{key}»."
                raise ConfigError(f"Ошибка в настройках ({where}): {return_msg}")
            return None
        value = self.data[key]
        if kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = {str: "строка", int: "целое число", list: "список", bool: "да/нет (true/false)"}
            raise self.fail(
                key, f"ожидается {names.get(kind, kind.__name__)}, а указано {value!r}."
            )
        return value

    def text_value(self, key: str, default: Any = ..., *, required: bool = True) -> str:
        value: str = self.get(key, str, default, required=required)
        if required and isinstance(value, str) and not value.strip():
            raise self.fail(key, "значение не может быть пустым.")
        return value

    def path_value(self, key: str, default: Any = ...) -> Path:
        value = self.text_value(key, default)
        p = Path(value)
        return p if p.is_absolute() else (self.path.parent / p)

    def sub(self, table: str) -> SectionReader:
        data = self.data.get(table, {})
        full = ".".join(p for p in (self.table, table) if p)
        if not isinstance(data, dict):
            raise self.fail(table, "ожидается таблица настроек.")
        return SectionReader(self.text, self.path, data, full)


def _school_id(r: SectionReader, default: str | None = None) -> str:
    """An id safe as a file and folder name: it names the backups folder of the school."""
    sid = r.text_value("id", default) if default is not None else r.text_value("id")
    if not re.fullmatch(r"[\w.-]+", sid) or set(sid) == {"."}:
        raise r.fail("id", f"«{sid}»: только буквы, цифры, точка, дефис и подчёркивание.")
    return sid


def _workbook_path(r: SectionReader, schools_dir: Path, default: str) -> Path:
    workbook = r.text_value("workbook", default)
    path = Path(workbook) if Path(workbook).is_absolute() else schools_dir / workbook
    if path.suffix.lower() != ".xlsx":
        raise r.fail("workbook", f"«{workbook}» — книга школы должна быть файлом .xlsx.")
    return path


def _category(r: SectionReader, root: SectionReader) -> str:
    """A school's category as the template spells it («шнор» -> «ШНОР»); unknown ones refused."""
    from sync.spec import load_spec
    from sync.status import canonical_choice

    value = r.text_value("category", "", required=False)
    if not value.strip():
        return value
    template = root.sub("template")
    try:
        spec = load_spec(template.path_value("spec") if "spec" in template.data else None)
    except Exception:  # a broken template is reported when it is used, with its own message
        return value
    choices = next((f.choices for f in spec.passport if f.key == "category" and f.choices), ())
    if not choices:
        return value
    known = canonical_choice(value, choices)
    if known is None:
        allowed = ", ".join(f"«{c}»" for c in choices)
        raise r.fail("category", f"«{value}» — категория должна быть одной из: {allowed}.")
    return known


def _file_keys(path: Path) -> list[object]:
    """What makes two paths one file: the resolved path (by case where the system ignores it)
    and, for a file that exists, its device and inode (a hard link, a case-insensitive folder)."""
    resolved = path.resolve()
    keys: list[object] = [os.path.normcase(resolved)]
    try:
        st = resolved.stat()
        keys.append((st.st_dev, st.st_ino))
    except OSError:
        pass
    return keys


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _check_paths(
    storage: SectionReader,
    schools_dir: Path,
    master: Path,
    schools: list[School],
    coordinator: School | None,
) -> None:
    """Mistakes that would destroy data: the master over a workbook, two schools in one file,
    files outside the municipality's folder (unless [storage] allow_outside = true)."""
    books: list[tuple[int | None, School]] = list(enumerate(schools))
    if coordinator is not None:
        books.append((None, coordinator))

    def key_of(index: int | None) -> SectionReader:
        table = "coordinator" if index is None else "schools"
        return SectionReader(storage.text, storage.path, {}, table, index)

    master_keys = set(_file_keys(master))
    seen: dict[object, School] = {}
    for index, school in books:
        keys = _file_keys(Path(school.source))
        if master_keys.intersection(keys):
            raise storage.fail(
                "master",
                f"свод «{master.name}» совпадает с книгой школы «{school.id}»: свод заменил бы"
                " её книгу. Укажите для свода другой файл.",
            )
        other = next((seen[k] for k in keys if k in seen), None)
        if other is not None:
            raise key_of(index).fail(
                "workbook",
                f"школы «{other.id}» и «{school.id}» указаны с одной и той же книгой"
                f" «{Path(school.source).name}»: у каждой школы должна быть своя книга.",
            )
        seen.update(dict.fromkeys(keys, school))
    allow = storage.get("allow_outside", bool, False)
    if allow:
        return
    home = schools_dir.parent
    for index, school in books:
        if not _inside(Path(school.source), schools_dir):
            raise key_of(index).fail(
                "workbook",
                f"книга «{school.source}» лежит вне папки школ «{schools_dir}». Перенесите её"
                " в папку школ или, если так и задумано, укажите в [storage]"
                " allow_outside = true.",
            )
    if not _inside(master, home):
        raise storage.fail(
            "master",
            f"свод «{master}» лежит вне папки муниципалитета «{home}» (папки, в которой лежит"
            " папка школ). Укажите свод внутри неё или, если так и задумано, укажите в"
            " [storage] allow_outside = true.",
        )


def load_config(path: Path) -> Config:
    """Read and check a configuration file."""
    path = Path(path).resolve()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"Файл настроек не найден: {path}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"Файл настроек {path.name} не в кодировке UTF-8.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        from sync.toml_ru import explain

        raise ConfigError(explain(e, text, path.name)) from None
    root = SectionReader(text, path, data, "")

    mun = root.sub("municipality")
    name = mun.text_value("name")
    tz = mun.text_value("timezone", "Europe/Moscow")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise mun.fail(
            "timezone", f"неизвестный часовой пояс «{tz}» (например, Asia/Chita)."
        ) from None
    period_text = mun.text_value("period")
    try:
        period = Period.parse(period_text)
    except ValueError:
        raise mun.fail(
            "period", f"«{period_text}» — ожидается период вида 2021-09-01..2022-08-31."
        ) from None

    plan = root.sub("plan")
    storage = root.sub("storage")
    kind = storage.text_value("kind", "folder")
    if kind not in STORAGE_KINDS:
        raise storage.fail(
            "kind", f"неизвестное хранилище «{kind}»; поддерживаются «folder» и «gsheets»."
        )
    schools_dir = storage.path_value("schools_dir", "schools")
    control = root.sub("control")
    soon_days = control.get("soon_days", int, 14)
    if soon_days < 0:
        raise control.fail("soon_days", "число дней не может быть отрицательным.")

    raw_schools = data.get("schools", [])
    if not isinstance(raw_schools, list) or not raw_schools:
        raise root.fail("schools", "нужен хотя бы один раздел [[schools]] со школой.")
    schools: list[School] = []
    ids: set[str] = set()
    for i, raw in enumerate(raw_schools):
        r = SectionReader(text, path, raw, "schools", i)
        sid = _school_id(r)
        if sid in ids:
            raise r.fail("id", f"школа с id «{sid}» уже есть.")
        ids.add(sid)
        emails = r.get("emails", list, [])
        for address in emails:
            if not isinstance(address, str) or "@" not in address:
                raise r.fail("emails", f"«{address}» не похоже на адрес электронной почты.")
        wb_path = _workbook_path(r, schools_dir, f"{sid}.xlsx")
        schools.append(
            School(
                id=sid,
                name=r.text_value("name"),
                category=_category(r, root),
                emails=tuple(emails),
                source=str(wb_path),
            )
        )

    coordinator = None
    if "coordinator" in data:
        c = root.sub("coordinator")
        wb_path = _workbook_path(c, schools_dir, f"{COORDINATOR_ID}.xlsx")
        coordinator = School(
            id=_school_id(c, COORDINATOR_ID),
            name=c.text_value("name", "МОУО"),
            emails=tuple(c.get("emails", list, [])),
            source=str(wb_path),
            is_coordinator=True,
        )
        if coordinator.id in ids:
            raise c.fail("id", f"id «{coordinator.id}» уже занят школой.")

    keep_backups = storage.get("keep_backups", int, 10)
    if keep_backups < 1:
        raise storage.fail("keep_backups", "храните хотя бы одну предыдущую версию (1 или больше).")
    master_path = storage.path_value("master", "master/Свод.xlsx")
    if master_path.suffix.lower() != ".xlsx" or master_path.is_dir():
        raise storage.fail(
            "master", f"«{master_path.name}» — укажите файл свода с расширением .xlsx."
        )
    if kind == "folder":
        _check_paths(storage, schools_dir, master_path, schools, coordinator)
    template = root.sub("template")
    master = root.sub("master")
    low_percent = master.get("low_percent", int, 50)
    if not 0 <= low_percent <= 100:
        raise master.fail("low_percent", "укажите процент от 0 до 100.")
    requires_acceptance = root.sub("review").get("done_requires_acceptance", bool, False)
    return Config(
        path=path,
        municipality=name,
        timezone=tz,
        period=period,
        plan_file=plan.path_value("file"),
        storage=kind,
        schools_dir=schools_dir,
        master_path=master_path,
        history_path=storage.path_value("history", "history.sqlite"),
        backups_dir=storage.path_value("backups", "backups"),
        keep_backups=keep_backups,
        soon_days=soon_days,
        protection_password=template.get("protection_password", str, ""),
        schools=tuple(schools),
        coordinator=coordinator,
        template=template.path_value("spec") if "spec" in template.data else None,
        low_percent=low_percent / 100,
        done_requires_acceptance=requires_acceptance,
        raw=data,
        text=text,
    )
