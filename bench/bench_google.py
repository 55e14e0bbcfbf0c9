"""Benchmark of the Google Sheets backend at municipal scale, on the local fake Google.

N schools (default 1000) get their spreadsheets from `distribute`, are filled as schools fill
them (sync.demo's realistic fills, every fifth with a typical mistake), then synced three times:
a first run right after distribute (every school new; the two share the account's quota minute
through the limiter's state file), a nightly run in which a tenth of the schools changed
something, and a nightly run in which nobody did. All of it twice: as a service account on a
shared drive, and as the coordinator signed in with OAuth (auth = "user", drive.file). The
fake enforces Google's quotas (60 reads and 60 writes a minute per user) on a scaled clock:
waiting costs no real time, real work counts `--scale` times. Beside ours, a naive gspread
implementation (open_by_key, worksheet, get_all_values, one update/format/note call per cell,
gspread's own BackOffHTTPClient) syncs a sample of the same
spreadsheets in the same run; its time is projected to N schools.

    .venv/bin/python bench/bench_google.py [--schools 1000] [--naive 40] [--changed 0.1]
        [--auth service_account,user]

Prints a Markdown table headed by the machine it ran on. The quota bound of a run is the least
time Google's quotas allow for its requests: max(reads, writes) / 60 a minute (reads and writes
have separate quotas). Goals (issues 4 and 11): 2 requests per changed school, 0 per unchanged
school beyond the shared listing, no 429 (distribute then run at once included), time within
1.05x the quota bound, every master request body well under Google's 10 MB (the largest and
the count are reported: they grow with the master's bytes, not its schools).
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from machine import machine_lines

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import gspread  # noqa: E402
import gspread.http_client  # noqa: E402
from google.oauth2 import service_account  # noqa: E402
from gspread.http_client import BackOffHTTPClient  # noqa: E402

from sync.backends.google.config import SCOPES  # noqa: E402
from sync.backends.google.http import Budgets, Endpoints, RateLimiter  # noqa: E402
from sync.demo import demo_passport, school_fill  # noqa: E402
from sync.distribute import distribute  # noqa: E402
from sync.model import Audience, RawWorkbook  # noqa: E402
from sync.paint import paint_school  # noqa: E402
from sync.pipeline import load_context, run  # noqa: E402
from sync.reader import locate  # noqa: E402
from sync.validation import check_school  # noqa: E402
from tests.fakes.google import FakeGoogle, ScaledClock, serving  # noqa: E402
from tests.fakes.google.municipality import (  # noqa: E402
    COORDINATOR,
    SERVICE_ACCOUNT,
    GoogleTown,
    google_town,
    school_email,
    school_types,
)

TODAY = date(2022, 1, 10)
GOOGLE_RATE = 60.0  # requests a minute per user, reads and writes each
GOAL_RATIO = 1.05
GOOGLE_MAX_BODY = 10485760
CATEGORIES = ["ШНОР", "ШНСУ", "ШНОР и ШНСУ"]


# --- the machine -----------------------------------------------------------------------------


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Phase:
    """What one phase sent and how long it took on the scaled clock."""

    name: str
    schools: int
    changed: int
    per_changed: float | None
    per_unchanged: float | None
    master: int | None
    listing: int
    reads: int
    writes: int
    throttled: int
    virtual: float  # seconds on the scaled clock
    real: float
    budget: float = GOOGLE_RATE  # requests a minute the client allowed itself
    projected: bool = False
    master_largest: int = 0  # bytes of the largest request body sent to the master
    master_bodies: int = 0  # request bodies sent to the master

    @property
    def bound(self) -> float:
        """The least time Google's quotas allow for these requests (seconds)."""
        return max(self.reads, self.writes) / GOOGLE_RATE * 60

    @property
    def ratio(self) -> float:
        return self.virtual / self.bound if self.bound else 0.0

    @property
    def budget_ratio(self) -> float:
        """Against the bound at the client's own budget: how well it paces what it allows."""
        bound = max(self.reads, self.writes) / self.budget * 60
        return self.virtual / bound if bound else 0.0


def measure(
    fake: FakeGoogle, user: str, work: Callable[[], Any]
) -> tuple[list[Any], float, float, Any]:
    """Run work(); the requests it made (as the fake saw them), virtual and real seconds."""
    mark, start, real0 = fake.mark(), fake.clock.time(), time.perf_counter()
    out = work()
    virtual, real = fake.clock.time() - start, time.perf_counter() - real0
    fake.wait_idle()
    return [r for r in fake.since(mark) if r.user == user], virtual, real, out


def ours_phase(
    name: str,
    town: GoogleTown,
    changed: set[str],
    records: list[Any],
    virtual: float,
    real: float,
    budget: float,
) -> Phase:
    ids = {town.spreadsheet_id(s.id): s.id for s in town.config.schools}
    master = town.master_id()
    per_school = Counter(ids[r.target] for r in records if r.target in ids)
    bodies = [r.size for r in records if r.target == master and r.method == "POST"]
    n = len(town.config.schools)
    unchanged = n - len(changed)
    return Phase(
        name=name,
        schools=n,
        changed=len(changed),
        per_changed=sum(per_school[s] for s in changed) / len(changed) if changed else None,
        per_unchanged=(
            sum(v for s, v in per_school.items() if s not in changed) / unchanged
            if unchanged
            else None
        ),
        master=sum(1 for r in records if r.target == master and r.bucket != "drive"),
        listing=sum(1 for r in records if r.op == "files.list"),
        reads=sum(1 for r in records if r.bucket == "read" and r.status != 429),
        writes=sum(1 for r in records if r.bucket == "write" and r.status != 429),
        throttled=sum(1 for r in records if r.status == 429),
        virtual=virtual,
        real=real,
        budget=budget,
        master_largest=max(bodies, default=0),
        master_bodies=len(bodies),
    )


# --- the naive implementation --------------------------------------------------------------------


def naive_client(fake: FakeGoogle, key: dict[str, Any]) -> gspread.Client:
    """gspread's convenience API with its own BackOffHTTPClient, pointed at the fake.

    BackOffHTTPClient sleeps with time.sleep: in this process gspread's `time` is the scaled
    clock, so its (unbounded) backoff costs virtual time, as it would cost real time at Google.
    """
    ends = Endpoints(fake.url, fake.url, f"{fake.url}/token")
    gspread.http_client.time = SimpleNamespace(sleep=fake.clock.sleep)  # type: ignore[assignment]

    class NaiveHTTP(BackOffHTTPClient):
        def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> Any:
            return super().request(method, ends.rewrite(endpoint), *args, **kwargs)

    credentials = service_account.Credentials.from_service_account_info(key, scopes=list(SCOPES))
    return gspread.Client(credentials, http_client=NaiveHTTP)


def naive_sync(gc: gspread.Client, town: GoogleTown, school_ids: list[str]) -> None:
    """What one writes with gspread's convenience methods: every sheet read whole, every
    control value, colour and note written by its own call."""
    spec, plan = load_context(town.config)
    schools = {s.id: s for s in town.config.schools}
    for school_id in school_ids:
        sh = gc.open_by_key(town.spreadsheet_id(school_id))
        sheets = {}
        for title in (spec.main_sheet, spec.passport_sheet, spec.meta_sheet):
            sheets[title] = sh.worksheet(title).get_all_values()
        sheet = locate(RawWorkbook(sheets), spec)
        rows, problems = check_school(sheet, schools[school_id], plan, spec, TODAY)
        from sync.model import SchoolReport

        report = SchoolReport(schools[school_id], rows, dict(sheet.passport), problems)
        paint = paint_school(report, sheet, spec)
        ws = sh.worksheet(spec.main_sheet)
        col = paint.control_col or spec.index("control")
        for row, control in paint.controls:
            ref = gspread.utils.rowcol_to_a1(row, col)
            ws.update([[control.value]], ref)
            colour = control.fill or "FFFFFF"
            ws.format(
                ref,
                {
                    "backgroundColor": {
                        "red": int(colour[0:2], 16) / 255,
                        "green": int(colour[2:4], 16) / 255,
                        "blue": int(colour[4:6], 16) / 255,
                    }
                },
            )
        for (title, ref), text in paint.notes.items():
            target = ws if title == spec.main_sheet else sh.worksheet(title)
            target.insert_note(ref, text)


# --- the municipality --------------------------------------------------------------------------


def fill(town: GoogleTown, school_ids: list[str], rng: random.Random, status_shift: bool) -> None:
    """Schools type into their spreadsheets (through the fake: no requests are counted)."""
    spec, plan = load_context(town.config)
    items = plan.for_audience(Audience.SCHOOLS)
    names = {s.id: s for s in town.config.schools}
    for n, school_id in enumerate(school_ids):
        rows: dict[str, dict[str, Any]] = {}
        for item in items:
            values = school_fill(item, TODAY, rng)
            if values:
                rows[item.no] = {
                    k: f"{v:%d.%m.%Y}" if isinstance(v, datetime) else v for k, v in values.items()
                }
        if status_shift and rows:
            no = rng.choice(sorted(rows))
            rows[no] = {**rows[no], "executor": "Новиков П. Р."}
        flawed = n % 5 == 4 and not status_shift
        if flawed:
            no = rng.choice(sorted(rows)) if rows else items[0].no
            rows[no] = {"status": "Выполнено", "evidence": "Приказ № 12"}
        school = names[school_id]
        passport = None if status_shift else demo_passport(n, school.name, school.category, rng)
        school_types(
            town.fake,
            town.spreadsheet_id(school_id),
            spec,
            rows,
            passport,
            user=school_email(school_id),
            force=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=1000)
    parser.add_argument("--naive", type=int, default=40, help="schools the naive client syncs")
    parser.add_argument("--changed", type=float, default=0.1, help="share changed overnight")
    parser.add_argument("--budget", type=int, default=55, help="our reads/writes a minute")
    parser.add_argument(
        "--fast-budget", type=int, default=58, help="a last run at this budget (0: none)"
    )
    parser.add_argument("--scale", type=float, default=1.0, help="real seconds count this much")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--auth", default="service_account,user", help="sign-ins to measure, comma-separated"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rng = random.Random(args.seed)
    clock = ScaledClock(scale=args.scale)
    auths = [a.strip() for a in args.auth.split(",") if a.strip()]
    dists: list[tuple[str, int, float, float, float, int]] = []
    phases: list[Phase] = []
    with serving(FakeGoogle(clock)) as fake, tempfile.TemporaryDirectory() as tmp:
        fake.quotas.update(read=int(GOOGLE_RATE), write=int(GOOGLE_RATE))
        schools = [
            (f"school{i:04d}", f"МОУ СОШ № {i}", CATEGORIES[(i - 1) % 3])
            for i in range(1, args.schools + 1)
        ]
        ids = [s[0] for s in schools]
        towns: dict[str, GoogleTown] = {}
        for auth in auths:
            (Path(tmp) / auth).mkdir()
            town = google_town(
                Path(tmp) / auth,
                fake,
                schools,
                google={
                    "coordinators": [],
                    "reads_per_minute": args.budget,
                    "writes_per_minute": args.budget,
                    "timeout": 30.0,
                },
                with_coordinator=False,
                auth=auth,
            )
            towns[auth] = town
            user = COORDINATOR if auth == "user" else SERVICE_ACCOUNT
            label = "OAuth user" if auth == "user" else "service account"
            print(f"{label}: {args.schools} spreadsheets by distribute...", file=sys.stderr)
            recs, virtual, real, _ = measure(
                fake,
                user,
                lambda town=town: distribute(  # type: ignore[misc]
                    town.config, backend=town.backend(), built_at=datetime(2021, 9, 1)
                ),
            )
            throttled = sum(1 for r in recs if r.status == 429)
            dists.append((label, len(recs), len(recs) / args.schools, virtual, real, throttled))
            fill(town, ids, rng, status_shift=False)

            def ours(name: str, changed: set[str], budget: int | None = None) -> None:
                backend = town.backend()  # noqa: B023 - called within this iteration
                if budget is not None:  # the same run with another budget (not a config change)
                    backend.http.limiter = RateLimiter(
                        Budgets(budget, budget, 600), fake.clock.time, fake.clock.sleep
                    )
                recs, virtual, real, _ = measure(
                    fake,
                    user,  # noqa: B023
                    lambda: run(town.config, today=TODAY, backend=backend),  # noqa: B023
                )
                used = budget or args.budget
                phases.append(
                    ours_phase(name, town, changed, recs, virtual, real, used)  # noqa: B023
                )

            # No pause after distribute: the run shares its quota minute (the case).
            print(f"{label}: run 1 (every school new, right after distribute)...", file=sys.stderr)
            ours(f"{label}: first run, right after distribute", set(ids))
            changed = set(rng.sample(ids, max(1, round(args.schools * args.changed))))
            fake.clock.advance(20 * 3600)
            fill(town, sorted(changed), rng, status_shift=True)
            print(f"{label}: run 2 ({len(changed)} schools changed)...", file=sys.stderr)
            fake.clock.advance(3600)
            ours(f"{label}: nightly, {len(changed)} changed", changed)
            fake.clock.advance(24 * 3600)
            print(f"{label}: run 3 (nobody changed anything)...", file=sys.stderr)
            ours(f"{label}: nightly, none changed", set())
            if args.fast_budget and auth == auths[0]:
                fake.clock.advance(24 * 3600)
                fill(town, ids, rng, status_shift=True)
                fake.clock.advance(3600)
                print(
                    f"run 4 (every school changed, budget {args.fast_budget})...", file=sys.stderr
                )
                ours(
                    f"{label}: all changed, budget {args.fast_budget}/min",
                    set(ids),
                    args.fast_budget,
                )
            fake.clock.advance(24 * 3600)
        town = towns.get("service_account") or next(iter(towns.values()))

        # The naive client, on a sample, with its own service account (its own quota minute).
        if not args.naive or "service_account" not in towns:
            report(args, phases, dists)
            return
        naive_user = "naive@roadmap-test.iam.gserviceaccount.com"
        key = fake.add_service_account(naive_user)
        fake.share(town.folder_id, naive_user, "writer")
        sample = ids[: args.naive]
        fake.clock.advance(3600)
        print(f"Naive gspread on {len(sample)} schools...", file=sys.stderr)
        gc = naive_client(fake, key)
        recs, virtual, real, _ = measure(fake, naive_user, lambda: naive_sync(gc, town, sample))
        k = len(sample)
        scale = args.schools / k
        phases.append(
            Phase(
                name=f"naive gspread ({k} measured, x{scale:g})",
                schools=args.schools,
                changed=args.schools,
                per_changed=len([r for r in recs if r.status != 429]) / k,
                per_unchanged=None,
                master=None,
                listing=0,
                reads=round(sum(1 for r in recs if r.bucket == "read" and r.status != 429) * scale),
                writes=round(
                    sum(1 for r in recs if r.bucket == "write" and r.status != 429) * scale
                ),
                throttled=round(sum(1 for r in recs if r.status == 429) * scale),
                virtual=virtual * scale,
                real=real * scale,
                projected=True,
            )
        )
    report(args, phases, dists)


def _fmt_time(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def report(
    args: argparse.Namespace,
    phases: list[Phase],
    dists: list[tuple[str, int, float, float, float, int]],
) -> None:
    print(
        f"## bench_google.py: {args.schools} schools on the fake Google, {datetime.now():%Y-%m-%d}"
    )
    print()
    print(*machine_lines(["gspread", "google-auth", "google-auth-oauthlib", "requests"]), sep="\n")
    print(
        f"- Google's quota on the fake: {GOOGLE_RATE:g} reads and {GOOGLE_RATE:g} writes a minute"
        f" per user; our budget {args.budget}/min each; clock: waits free, work x{args.scale:g}"
    )
    for label, total, per_school, virtual, real, throttled in dists:
        print(
            f"- distribute ({label}): {total} requests ({per_school:.2f} per school), {throttled}"
            f" × 429, {_fmt_time(virtual)} on the clock, {_fmt_time(real)} real"
        )
    print()
    print(
        "| run | schools (changed) | req / changed school | req / unchanged school | master req"
        " | largest master body | listing | reads / writes | 429 met | run time | quota bound"
        " | × bound | × own budget | real time |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for p in phases:

        def num(v: float | None) -> str:
            return "—" if v is None else f"{v:.2f}".rstrip("0").rstrip(".")

        star = " *" if p.projected else ""
        body = f"{p.master_largest / 1e6:.2f} MB" if p.master_largest else "—"
        print(
            f"| {p.name} | {p.schools} ({p.changed}) | {num(p.per_changed)} |"
            f" {num(p.per_unchanged)} | {num(p.master)} | {body} | {p.listing} |"
            f" {p.reads} / {p.writes}{star} | {p.throttled}{star} | {_fmt_time(p.virtual)}{star} |"
            f" {_fmt_time(p.bound)} | {p.ratio:.3f} | {p.budget_ratio:.3f} |"
            f" {_fmt_time(p.real)}{star} |"
        )
    print()
    print(
        "\\* projected from the measured sample to all schools (the naive client reads every"
        " school every night; it has no listing). Quota bound: max(reads, writes) / 60 a minute,"
        " successful requests only; × own budget: the same at the client's budget (ours: see the"
        " run's name; the naive one has none, it meets Google's 429s). Runs reading few schools"
        " are bound by the listing and the master, not by the quota."
    )
    ours = [p for p in phases if not p.projected]
    full = [p for p in ours if p.changed == p.schools]  # quota-bound runs
    checks = [
        (
            "a changed school costs 1 read and at most 1 write (none when its paint is the same)",
            all(p.per_changed is None or 1.0 <= p.per_changed <= 2.0 for p in ours),
        ),
        (
            "0 requests per unchanged school",
            all(p.per_unchanged in (None, 0.0) for p in ours[1:]),
        ),
        (
            "every master body under 40% of Google's 10 MB",
            all(p.master_largest < GOOGLE_MAX_BODY / 2.5 for p in ours),
        ),
        ("no 429 (distribute then run at once)", all(p.throttled == 0 for p in ours)),
        (
            f"time within {GOAL_RATIO}x the quota bound (all-changed runs, at our budget)",
            all(p.budget_ratio <= GOAL_RATIO for p in full),
        ),
        (
            f"time within {GOAL_RATIO}x Google's own quota bound (budget 58+)",
            all(p.ratio <= GOAL_RATIO for p in full if p.budget >= 58),
        ),
    ]
    print()
    for name, ok in checks:
        print(f"- goal {'met' if ok else 'MISSED'}: {name}")


if __name__ == "__main__":
    main()
