"""The fake's spreadsheets: sheets of cells held as Sheets API CellData, with Google's semantics.

A cell stores what Google stores (userEnteredValue, userEnteredFormat, note, dataValidation);
its effectiveValue and effectiveFormat are computed when it is read, as Google computes them
(a tiny formula evaluator: arithmetic, TODAY(); IMPORTRANGE is #REF! without access).
"""

from __future__ import annotations

import ast
import copy
import operator
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

EPOCH = date(1899, 12, 30)
Cell = dict[str, Any]


class ApiError(Exception):
    """An error answer: HTTP status, Google's status word and message (Sheets shape by default)."""

    def __init__(
        self,
        code: int,
        message: str,
        status: str = "",
        *,
        drive_reason: str = "",
        drive_domain: str = "global",
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ):
        super().__init__(message)
        self.code, self.message = code, message
        self.status = status or {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            409: "ALREADY_EXISTS",
            429: "RESOURCE_EXHAUSTED",
            500: "INTERNAL",
            503: "UNAVAILABLE",
        }.get(code, "UNKNOWN")
        self.drive_reason = drive_reason
        self.drive_domain = drive_domain
        self.headers = headers or {}
        self.details = details

    def body(self, drive: bool) -> dict[str, Any]:
        """Google's error body: Sheets {code, message, status}; Drive {code, message, errors}."""
        if drive:
            return {
                "error": {
                    "code": self.code,
                    "message": self.message,
                    "errors": [
                        {
                            "message": self.message,
                            "domain": self.drive_domain,
                            "reason": self.drive_reason or self.status.lower(),
                        }
                    ],
                }
            }
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


# --- A1 ranges ------------------------------------------------------------------------------

_A1 = re.compile(r"^([A-Za-z]*)(\d*)$")


def col_index(letters: str) -> int:
    """'A' -> 0, 'AB' -> 27."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def col_letters(index: int) -> str:
    index += 1
    out = ""
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def split_range(text: str) -> tuple[str | None, str]:
    """A range's sheet and cells: "'S 1'!A1:B2" -> ("S 1", "A1:B2"); "A1" -> (None, "A1")."""
    if "!" in text:
        name, _, ref = text.rpartition("!")
        if name.startswith("'") and name.endswith("'"):
            name = name[1:-1].replace("''", "'")
        return name, ref
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("''", "'"), ""
    if re.fullmatch(r"[A-Za-z]{1,3}\d*(:[A-Za-z]{1,3}\d*)?", text):
        return None, text
    return text, ""


@dataclass(frozen=True)
class Box:
    """A 0-based, end-exclusive rectangle; None ends mean up to the grid's edge."""

    row0: int
    row1: int | None
    col0: int
    col1: int | None

    def clip(self, rows: int, cols: int) -> Box:
        return Box(
            self.row0,
            rows if self.row1 is None else self.row1,
            self.col0,
            cols if self.col1 is None else self.col1,
        )

    def contains(self, r: int, c: int) -> bool:
        return self.row0 <= r < (
            self.row1 if self.row1 is not None else 1 << 30
        ) and self.col0 <= c < (self.col1 if self.col1 is not None else 1 << 30)


def parse_a1_box(ref: str) -> Box:
    """'A1:B2', 'A:A', '2:3', 'B5' or '' (the whole sheet) -> a Box."""
    if not ref:
        return Box(0, None, 0, None)
    start, _, end = ref.partition(":")
    end = end or start
    m1, m2 = _A1.match(start), _A1.match(end)
    if not m1 or not m2:
        raise ApiError(400, f"Unable to parse range: {ref}")
    c1, r1 = m1.groups()
    c2, r2 = m2.groups()
    return Box(
        int(r1) - 1 if r1 else 0,
        int(r2) if r2 else None,
        col_index(c1) if c1 else 0,
        col_index(c2) + 1 if c2 else None,
    )


def box_of_grid_range(gr: dict[str, Any]) -> Box:
    """A GridRange (Google leaves zero indexes out) -> a Box."""
    return Box(
        int(gr.get("startRowIndex", 0)),
        int(gr["endRowIndex"]) if "endRowIndex" in gr else None,
        int(gr.get("startColumnIndex", 0)),
        int(gr["endColumnIndex"]) if "endColumnIndex" in gr else None,
    )


def grid_range_json(sheet_id: int, given: dict[str, Any]) -> dict[str, Any]:
    """A GridRange as Google answers it: the indexes that were given (an explicit 0 stays, an
    unbounded side stays absent) and the sheetId, left out when it is 0 (a plain proto3 int)."""
    out: dict[str, Any] = {}
    if sheet_id:
        out["sheetId"] = sheet_id
    for key in ("startRowIndex", "endRowIndex", "startColumnIndex", "endColumnIndex"):
        if key in given:
            out[key] = int(given[key])
    return out


# --- values ---------------------------------------------------------------------------------


def serial_of(value: date | datetime) -> float:
    if isinstance(value, datetime):
        delta = value.replace(tzinfo=None) - datetime.combine(EPOCH, time())
        return round(delta / timedelta(days=1), 8)
    return float((value - EPOCH).days)


def date_of(serial: float) -> datetime:
    return datetime.combine(EPOCH, time()) + timedelta(seconds=round(serial * 86400))


_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_DATE_RU = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{2}|\d{4})$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def user_entered(value: Any, locale: str = "ru_RU") -> tuple[dict[str, Any] | None, dict | None]:
    """What a person typing `value` into a cell stores: (userEnteredValue, a number format).

    A leading apostrophe keeps text as text; "=" starts a formula; numbers, booleans and dates
    in the spreadsheet's locale are recognised (a date gets a date format), as in the browser.
    """
    if value is None or value == "":
        return None, None
    if isinstance(value, bool):
        return {"boolValue": value}, None
    if isinstance(value, int | float):
        return {"numberValue": value}, None
    if isinstance(value, datetime):
        return {"numberValue": serial_of(value)}, {
            "type": "DATE_TIME",
            "pattern": "dd.mm.yyyy hh:mm",
        }
    if isinstance(value, date):
        return {"numberValue": serial_of(value)}, {"type": "DATE", "pattern": "dd.mm.yyyy"}
    text = str(value)
    if text.startswith("'"):
        return {"stringValue": text[1:]}, None
    if text.startswith("=") and len(text) > 1:
        return {"formulaValue": text}, None
    stripped = text.strip()
    if stripped.upper() in ("TRUE", "FALSE", "ИСТИНА", "ЛОЖЬ"):
        return {"boolValue": stripped.upper() in ("TRUE", "ИСТИНА")}, None
    if _NUMBER.match(stripped):
        number = float(stripped.replace(",", "."))
        return {"numberValue": int(number) if number.is_integer() else number}, None
    if stripped.endswith("%") and _NUMBER.match(stripped[:-1].strip()):
        number = float(stripped[:-1].strip().replace(",", ".")) / 100
        return {"numberValue": number}, {"type": "PERCENT", "pattern": "0%"}
    m = _DATE_RU.match(stripped) if locale.startswith("ru") else None
    iso = _DATE_ISO.match(stripped)
    try:
        if m:
            d, mo, y = (int(x) for x in m.groups())
            y = y + 2000 if y < 100 else y
            return {"numberValue": serial_of(date(y, mo, d))}, {
                "type": "DATE",
                "pattern": "dd.mm.yyyy",
            }
        if iso:
            y, mo, d = (int(x) for x in iso.groups())
            return {"numberValue": serial_of(date(y, mo, d))}, {
                "type": "DATE",
                "pattern": "dd.mm.yyyy",
            }
    except ValueError:
        pass
    return {"stringValue": text}, None


def raw_entered(value: Any) -> dict[str, Any] | None:
    """valueInputOption RAW: stored as is, strings stay strings whatever they look like."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int | float):
        return {"numberValue": value}
    return {"stringValue": str(value)}


_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}


def _arith(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _arith(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_arith(node.left), _arith(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = _arith(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    raise ValueError("not arithmetic")


def evaluate(formula: str, today: date) -> tuple[dict[str, Any], str | None]:
    """A formula's effective value and the number format type it implies."""
    body = formula[1:].strip()
    upper = body.upper()
    if upper == "TODAY()":
        return {"numberValue": serial_of(today)}, "DATE"
    if upper.startswith("IMPORTRANGE("):
        return {"errorValue": {"type": "REF", "message": "You need to connect these sheets."}}, None
    try:
        value = _arith(ast.parse(body.replace("^", "**"), mode="eval"))
    except ZeroDivisionError:
        return {"errorValue": {"type": "DIVIDE_BY_ZERO", "message": "Divide by zero."}}, None
    except (ValueError, SyntaxError, TypeError, OverflowError):
        name = re.match(r"([A-Za-z_.]+)\(", body)
        if name:
            return {
                "errorValue": {"type": "NAME", "message": f"Unknown function: '{name.group(1)}'."}
            }, None
        return {"errorValue": {"type": "ERROR", "message": "Formula parse error."}}, None
    return {"numberValue": int(value) if value.is_integer() else value}, None


def format_number(value: float, number_format: dict[str, Any] | None, locale: str) -> str:
    """FORMATTED_VALUE of a number: dates by their pattern, plain numbers as Sheets shows them."""
    kind = (number_format or {}).get("type", "")
    if kind in ("DATE", "DATE_TIME"):
        moment = date_of(value)
        text = f"{moment:%d.%m.%Y}" if locale.startswith("ru") else f"{moment:%m/%d/%Y}"
        return text + (f" {moment:%H:%M:%S}" if kind == "DATE_TIME" else "")
    if kind == "PERCENT":
        return f"{round(value * 100):d}%"
    if float(value).is_integer():
        return str(int(value))
    text = repr(float(value))
    return text.replace(".", ",") if locale.startswith("ru") else text


# --- sheets and spreadsheets ----------------------------------------------------------------


@dataclass
class Sheet:
    properties: dict[str, Any]
    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)  # 0-based
    conditional_formats: list[dict[str, Any]] = field(default_factory=list)
    protected_ranges: list[dict[str, Any]] = field(default_factory=list)
    basic_filter: dict[str, Any] | None = None
    charts: list[dict[str, Any]] = field(default_factory=list)
    row_meta: dict[int, dict[str, Any]] = field(default_factory=dict)
    col_meta: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def sheet_id(self) -> int:
        return int(self.properties.get("sheetId", 0))

    @property
    def title(self) -> str:
        return str(self.properties.get("title", ""))

    @property
    def rows(self) -> int:
        return int(self.properties["gridProperties"]["rowCount"])

    @property
    def cols(self) -> int:
        return int(self.properties["gridProperties"]["columnCount"])

    def check(self, box: Box, what: str) -> Box:
        """The box clipped to the grid; an error like Google's when it goes beyond."""
        b = box.clip(self.rows, self.cols)
        assert b.row1 is not None and b.col1 is not None
        if b.row1 > self.rows or b.col1 > self.cols or b.row0 < 0 or b.col0 < 0:
            ref = f"{col_letters(max(b.col1 - 1, 0))}{max(b.row1, 1)}"
            raise ApiError(
                400,
                f"Invalid {what}: Range ('{self.title}'!{ref}) exceeds grid limits. Max rows:"
                f" {self.rows}, max columns: {self.cols}",
            )
        return b


@dataclass
class Spreadsheet:
    spreadsheet_id: str
    properties: dict[str, Any]
    sheets: list[Sheet]
    developer_metadata: list[dict[str, Any]] = field(default_factory=list)
    next_ids: dict[str, int] = field(default_factory=lambda: {"object": 1_000_000})

    def sheet_by_id(self, sheet_id: int, what: str = "request") -> Sheet:
        for s in self.sheets:
            if s.sheet_id == sheet_id:
                return s
        raise ApiError(400, f"Invalid {what}: No grid with id: {sheet_id}")

    def sheet_by_title(self, title: str | None) -> Sheet:
        if title is None:
            return sorted(self.sheets, key=lambda s: s.properties.get("index", 0))[0]
        for s in self.sheets:
            if s.title == title:
                return s
        raise ApiError(400, f"Unable to parse range: {title}")

    def ordered(self) -> list[Sheet]:
        return sorted(self.sheets, key=lambda s: int(s.properties.get("index", 0)))

    def reindex(self) -> None:
        for i, s in enumerate(self.ordered()):
            s.properties["index"] = i

    def new_object_id(self) -> int:
        self.next_ids["object"] += 7919
        return self.next_ids["object"]

    @property
    def locale(self) -> str:
        return str(self.properties.get("locale", "en_US"))

    def today(self, now: datetime) -> date:
        try:
            zone = ZoneInfo(str(self.properties.get("timeZone", "Etc/GMT")))
        except Exception:
            zone = ZoneInfo("UTC")
        return now.astimezone(zone).date()

    def clone(self, new_id: str) -> Spreadsheet:
        """A copy to change: cells are shared (never changed in place, see fieldmask)."""
        return Spreadsheet(
            new_id,
            copy.deepcopy(self.properties),
            [
                Sheet(
                    copy.deepcopy(s.properties),
                    dict(s.cells),
                    list(s.conditional_formats),
                    list(s.protected_ranges),
                    s.basic_filter,
                    list(s.charts),
                    {k: dict(v) for k, v in s.row_meta.items()},
                    {k: dict(v) for k, v in s.col_meta.items()},
                )
                for s in self.sheets
            ],
            list(self.developer_metadata),
            dict(self.next_ids),
        )


def effective(cell: Cell, today: date) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """A cell's effectiveValue and effectiveFormat, as Google computes them."""
    entered = cell.get("userEnteredValue")
    fmt = cell.get("userEnteredFormat", {})
    if not entered:
        return None, fmt
    if "formulaValue" in entered:
        value, implied = evaluate(str(entered["formulaValue"]), today)
        if implied and "numberFormat" not in fmt:
            fmt = {**fmt, "numberFormat": {"type": implied, "pattern": "dd.mm.yyyy"}}
        return value, fmt
    return entered, fmt


def is_empty(cell: Cell) -> bool:
    return not any(
        cell.get(k) for k in ("userEnteredValue", "userEnteredFormat", "note", "dataValidation")
    )
