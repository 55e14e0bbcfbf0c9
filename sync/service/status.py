"""`roadmap-sync status`: what the service did and what each school looks like, from the history.

Read-only: it never takes the run lock, so it answers while a run is going.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sync.config import Config
from sync.history import History, SchoolState
from sync.model import Severity
from sync.service.config import load_schedule, load_smtp
from sync.service.lock import lock_path_for, read_holder
from sync.service.scheduler import KIND_RU, next_of
from sync.states import ControlKey, RunOutcome, SchoolOutcome, label

NAME_WIDTH = 40


def _local(value: str | datetime | None, zone: ZoneInfo) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.astimezone()  # written in the machine's zone
    return moment.astimezone(zone)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def collect_status(config: Config, now: datetime, runs: int = 10) -> dict[str, Any]:
    """Everything `status` shows, as JSON-ready data; times in the municipality's zone."""
    zone = config.zone
    settings = load_schedule(config)
    smtp = load_smtp(config)
    holder = read_holder(lock_path_for(config.history_path))
    running = None
    if holder is not None:
        running = holder.to_json() | {
            "started": _iso(_local(holder.started, zone)),
            "alive": holder.alive(),
        }
    fire = next_of(settings, zone, now)
    data: dict[str, Any] = {
        "municipality": config.municipality,
        "timezone": config.timezone,
        "now": _iso(now.astimezone(zone)),
        "running": running,
        "next_run": {"at": _iso(fire.local(zone)), "kind": fire.kind} if fire else None,
        "reminders": "off" if smtp is None else smtp.mode,
        "history": str(config.history_path),
        "runs": [],
        "schools": [],
    }
    states: dict[str, SchoolState] = {}
    reminded: dict[str, Any] = {}
    if config.history_path.exists():
        with History.open(config.history_path) as history:
            for r in history.runs(runs):
                started, finished = _local(r["started"], zone), _local(r["finished"], zone)
                data["runs"].append(
                    {
                        "id": r["id"],
                        "started": _iso(started),
                        "finished": _iso(finished),
                        "today": r["today"],
                        "outcome": r["outcome"],
                        "synced": r["synced"],
                        "unchanged": r["unchanged"],
                        "failed": r["failed"],
                        "locked": r["locked"],
                        "message": r["message"],
                        "seconds": round((finished - started).total_seconds())
                        if started and finished
                        else None,
                    }
                )
            states = history.school_states()
            mode = smtp.mode if smtp is not None else "smtp"
            reminded = {k: v.isoformat() for k, v in history.reminders_sent(mode).items()}
    for school in config.all_workbooks():
        state = states.get(school.id, SchoolState(school.id))
        errors = sum(1 for p in state.problems if p.get("severity") == Severity.ERROR)
        data["schools"].append(
            {
                "id": school.id,
                "name": school.name,
                "last_change": _iso(_local(state.modified, zone)),
                "last_read": _iso(_local(state.last_read, zone)),
                "last_attempt": _iso(_local(state.last_attempt, zone)),
                "last_outcome": state.last_outcome or None,
                "last_message": state.last_message,
                "errors": errors,
                "warnings": len(state.problems) - errors,
                "overdue": sum(
                    1 for v in (state.controls or {}).values() if v == ControlKey.OVERDUE
                ),
                "last_reminder": reminded.get(school.id),
            }
        )
    return data


def _when(text: str | None) -> str:
    return f"{datetime.fromisoformat(text):%d.%m.%Y %H:%M}" if text else "—"


def _name(text: str) -> str:
    return text if len(text) <= NAME_WIDTH else text[: NAME_WIDTH - 1] + "…"


def status_text(data: dict[str, Any]) -> str:
    """The status as a Russian report an administrator reads at a glance."""
    lines = [
        f"{data['municipality']} — состояние на {_when(data['now'])} ({data['timezone']}).",
    ]
    running = data["running"]
    if running is None:
        lines.append("Сейчас синхронизация не идёт.")
    else:
        who = f"процесс {running['pid']} на компьютере {running['host']}"
        since = f"с {_when(running['started'])}"
        if running["alive"] is False:
            lines.append(
                f"Блокировка осталась от завершённого процесса ({who}, {since});"
                " следующая синхронизация её снимет."
            )
        elif running["alive"] is None:
            lines.append(f"Синхронизация идёт на другом компьютере ({who}, {since}).")
        else:
            lines.append(f"Сейчас идёт синхронизация ({who}, {since}).")
    nxt = data["next_run"]
    if nxt:
        kind = KIND_RU.get(nxt["kind"], nxt["kind"])
        lines.append(f"Следующая по расписанию: {_when(nxt['at'])} ({kind}).")
    reminders = {"off": "выключены", "dry-run": "пробный режим (файлы .eml)", "smtp": "по почте"}
    lines.append(f"Напоминания: {reminders.get(data['reminders'], data['reminders'])}.")

    lines += ["", "Последние синхронизации:"]
    if not data["runs"]:
        lines.append("  ещё не было (история пуста).")
    else:
        lines.append(
            f"  {'№':>4}  {'Начало':<16}  {'Конец':<16}  {'Итог':<20} {'Прочит.':>7}"
            f" {'Без изм.':>8} {'Не прочит.':>10} {'Открыто':>7}"
        )
        for r in data["runs"]:
            outcome = label(RunOutcome, r["outcome"])
            lines.append(
                f"  {r['id']:>4}  {_when(r['started']):<16}  {_when(r['finished']):<16}"
                f"  {outcome:<20} {r['synced']:>7} {r['unchanged']:>8} {r['failed']:>10}"
                f" {r['locked']:>7}"
            )
            if r["message"]:
                lines.append(f"        {r['message']}")

    lines += [
        "",
        "Школы:",
        f"  {'Школа':<{NAME_WIDTH}}  {'Изменена':<16}  {'Прочитана':<16}  {'Ошибок':>6}"
        f" {'Предупр.':>8} {'Просрочено':>10}  Последнее чтение",
    ]
    for s in data["schools"]:
        last = label(SchoolOutcome, s["last_outcome"]) if s["last_outcome"] else "не читалась"
        if s["last_message"]:
            last += f": {s['last_message']}"
        lines.append(
            f"  {_name(s['name']):<{NAME_WIDTH}}  {_when(s['last_change']):<16}"
            f"  {_when(s['last_read']):<16}  {s['errors']:>6} {s['warnings']:>8}"
            f" {s['overdue']:>10}  {last}"
        )
    return "\n".join(lines)
