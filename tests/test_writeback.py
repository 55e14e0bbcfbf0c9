"""Write-back as a zip patch: only our parts change, the school's file stays the school's."""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.drawing.image import Image
from PIL import Image as PILImage

from sync.backends.folder import keep_backup
from sync.builders.fill import fill_workbook
from sync.cli_common import RunExit, run_exit_code
from sync.config import Config
from sync.distribute import distribute
from sync.model import School
from sync.paint import Paint
from sync.pipeline import run
from sync.spec import load_spec
from tests.fixtures import (
    BUILT_AT,
    CONTROL,
    LETTER,
    LETTER_AFTER,
    PASSPORT,
    TODAY,
    assert_only_ours_changed,
    backend_of,
    cells,
    municipality,
    our_parts,
    paint_of,
    parts,
    same_school_values,
    school_values,
    without_trailing_empties,
)
from tests.fixtures import (
    WRITEBACK_FILLS as FILLS,
)
from tests.fixtures import (
    writeback_setup as setup,
)
from tests.libreoffice import XLSX_FILTER, convert

SPEC = load_spec()


def write(config: Config, index: int = 0) -> tuple[bytes, bytes, str, Paint]:
    backend = backend_of(config)
    school = config.schools[index]
    before = Path(school.source).read_bytes()
    paint, fingerprint = paint_of(config, school, backend)
    result = backend.write_back(school, paint, fingerprint)
    assert result.status == "written", result.message
    return before, Path(school.source).read_bytes(), result.message, paint


# --- the patch -----------------------------------------------------------------------------------


def test_patch_changes_only_our_parts_and_every_reader_sees_our_colours_and_notes(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)
    before, after, message, paint = write(config)
    assert message == ""
    assert_only_ours_changed(before, after)
    same_school_values(before, after)
    # openpyxl: values, fills and notes by our author.
    ws = load_workbook(io.BytesIO(after))[SPEC.main_sheet]
    for row, control in paint.controls:
        cell = ws.cell(row, CONTROL)
        assert cell.value == control.value
        if control.fill:
            assert cell.fill.fgColor.rgb[-6:] == control.fill
    assert paint.notes
    for (sheet, ref), text in paint.notes.items():
        note = load_workbook(io.BytesIO(after))[sheet][ref].comment
        assert note is not None and note.author == "roadmap-sync" and text in note.text
    # calamine: the control values.
    grid = cells(after)[SPEC.main_sheet]
    assert [grid[r - 1][CONTROL - 1] for r, _ in paint.controls] == [
        c.value for _, c in paint.controls
    ]
    # Written twice: the second write replaces our notes and reuses our formats, no growth.
    repaint, fingerprint = paint_of(config, config.schools[0], backend_of(config))
    second = backend_of(config).write_back(config.schools[0], repaint, fingerprint)
    assert second.status == "written"
    again = Path(config.schools[0].source).read_bytes()
    assert parts(again)["xl/styles.xml"] == parts(after)["xl/styles.xml"]
    assert len(load_workbook(io.BytesIO(again))[SPEC.main_sheet]._cells) == len(ws._cells)


def _png(path: Path) -> Path:
    PILImage.new("RGB", (40, 30), (200, 30, 30)).save(path)
    return path


TEXTBOX = (
    '<xdr:twoCellAnchor xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/'
    'spreadsheetDrawing" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main">'
    "<xdr:from><xdr:col>17</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>8</xdr:row>"
    "<xdr:rowOff>0</xdr:rowOff></xdr:from><xdr:to><xdr:col>20</xdr:col><xdr:colOff>0"
    "</xdr:colOff><xdr:row>12</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:to>"
    '<xdr:sp macro="" textlink=""><xdr:nvSpPr><xdr:cNvPr id="9" name="TextBox 9"/>'
    '<xdr:cNvSpPr txBox="1"/></xdr:nvSpPr><xdr:spPr><a:xfrm><a:off x="0" y="0"/>'
    '<a:ext cx="1800000" cy="700000"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom>'
    '</xdr:spPr><xdr:txBody><a:bodyPr/><a:lstStyle/><a:p><a:r><a:rPr lang="ru-RU"/>'
    "<a:t>Надпись школы</a:t></a:r></a:p></xdr:txBody></xdr:sp><xdr:clientData/>"
    "</xdr:twoCellAnchor>"
)


def _with_picture_and_text_box(path: Path, tmp: Path) -> None:
    """The school adds a picture and a text box and saves the book in LibreOffice."""
    wb = load_workbook(path)
    wb[SPEC.main_sheet].add_image(Image(str(_png(tmp / "logo.png"))), "R2")
    wb.save(path)
    with zipfile.ZipFile(path) as z:
        items = [(i, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, body in items:
            if re.fullmatch(r"xl/drawings/drawing\d+\.xml", info.filename):
                body = re.sub(rb"(</(?:xdr:)?wsDr>)$", TEXTBOX.encode() + rb"\1", body.strip())
            z.writestr(info, body)
    saved = convert(path, XLSX_FILTER, tmp / "lo", tmp / "profile")
    path.write_bytes(saved.read_bytes())


def test_a_picture_and_a_text_box_saved_by_libreoffice_survive_byte_for_byte(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)
    path = Path(config.schools[0].source)
    _with_picture_and_text_box(path, tmp_path)
    lo = parts(path.read_bytes())
    assert any(n.startswith("xl/media/") for n in lo)
    text = "Надпись школы".encode()
    assert any(text in body for n, body in lo.items() if n.startswith("xl/drawings/"))
    before, after, _, paint = write(config)
    assert_only_ours_changed(before, after)
    same_school_values(before, after)
    new = parts(after)
    for name in lo:
        if name.startswith(("xl/media/", "xl/drawings/drawing")):
            assert new[name] == lo[name]
    # LibreOffice opens the patched file and shows our values, colours and notes.
    back = convert(path, XLSX_FILTER, tmp_path / "lo2", tmp_path / "profile")
    ws = load_workbook(back)[SPEC.main_sheet]
    row, control = next((r, c) for r, c in paint.controls if c.fill)
    assert ws.cell(row, CONTROL).value == control.value
    assert ws.cell(row, CONTROL).fill.fgColor.rgb[-6:] == control.fill
    (sheet, ref), text = next(iter(paint.notes.items()))
    note = load_workbook(back)[sheet][ref].comment
    assert note is not None and text.splitlines()[0] in note.text
    assert any(n.startswith("xl/media/") for n in parts(back.read_bytes()))


def test_an_xlsm_keeps_its_vba_project(tmp_path: Path) -> None:
    from sync.cli_addin import macros_build

    config = setup(tmp_path)
    build = macros_build()
    school = config.schools[0]
    xlsm = Path(school.source).with_suffix(".xlsm")
    plain = Path(school.source).read_bytes()
    vba = build.vba_project(build.read_modules(), ["Sheet1", "Sheet2", "Sheet3", "Sheet4"])
    xlsm.write_bytes(build.macro_enabled(plain, vba, build.ribbon_xml(), "xlsm"))
    school = School(school.id, school.name, school.category, source=str(xlsm))
    backend = backend_of(config)
    before = xlsm.read_bytes()
    paint, fingerprint = paint_of(config, school, backend)
    assert backend.write_back(school, paint, fingerprint).status == "written"
    after = xlsm.read_bytes()
    assert parts(after)["xl/vbaProject.bin"] == parts(before)["xl/vbaProject.bin"]
    assert_only_ours_changed(before, after)
    same_school_values(before, after)
    assert load_workbook(xlsm, keep_vba=True).vba_archive is not None


def test_merged_cells_over_control_and_a_noted_cell_are_reported_not_a_crash(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)
    path = Path(config.schools[0].source)
    wb = load_workbook(path)
    ws = wb[SPEC.main_sheet]
    ws.protection.sheet = False
    comment_col = SPEC.index("comment")
    ws.merge_cells(start_row=3, start_column=comment_col, end_row=3, end_column=CONTROL + 1)
    ws.merge_cells(start_row=5, start_column=CONTROL, end_row=6, end_column=CONTROL)
    status_col = SPEC.index("status")  # row 4's unknown status gets a note: cover that cell
    ws.merge_cells(start_row=4, start_column=status_col - 1, end_row=4, end_column=status_col)
    wb.save(path)
    result = run(config, today=TODAY)
    report = next(r for r in result.reports if r.school.id == "s1")
    assert result.writes["s1"].status == "written" and result.writes["s1"].partial
    assert run_exit_code(result) == RunExit.SCHOOLS  # a scheduler sees what was left out
    assert "объединены" in report.message, report.message
    assert f"L3:{LETTER_AFTER}3" in report.message and f"{LETTER}5:{LETTER}6" in report.message
    ws = load_workbook(path)[SPEC.main_sheet]
    for row in (3, 5, 6):
        assert ws.cell(row, CONTROL).value is None  # nothing written into merged cells
    assert ws.cell(2, CONTROL).value and ws.cell(7, CONTROL).value
    covered = {
        (r, c)
        for m in ws.merged_cells.ranges
        for r in range(m.min_row, m.max_row + 1)
        for c in range(m.min_col, m.max_col + 1)
        if (r, c) != (m.min_row, m.min_col)
    }
    noted = {(c.row, c.column) for row in ws.iter_rows() for c in row if c.comment is not None}
    assert noted and not noted & covered
    assert result.outcome == "ok" and result.counts["synced"] == 4


# --- «Контроль» is ours beyond doubt -------------------------------------------------------------


def _school_column(path: Path, header: str, values: dict[int, str], col: int = 18) -> None:
    wb = load_workbook(path)
    ws = wb[SPEC.main_sheet]
    ws.cell(1, col).value = header
    for row, value in values.items():
        ws.cell(row, col).value = value
    wb.save(path)


def test_a_schools_own_control_column_is_never_written(tmp_path: Path) -> None:
    config = setup(tmp_path)
    path = Path(config.schools[0].source)
    theirs = {r: f"моя отметка {r}" for r in range(2, 15)}
    _school_column(path, "Контроль", theirs)
    before = path.read_bytes()
    run(config, today=TODAY)
    after = path.read_bytes()
    ws = load_workbook(path)[SPEC.main_sheet]
    assert {r: ws.cell(r, 18).value for r in theirs} == theirs  # theirs untouched
    assert ws.cell(2, CONTROL).value  # ours, at the recorded column, written
    same_school_values(before, after)


def test_a_retitled_or_school_filled_control_column_is_not_written(tmp_path: Path) -> None:
    config = setup(tmp_path)
    s1, s2, s3 = (Path(s.source) for s in config.schools)
    _school_column(s1, "Мои заметки", {2: "звонили в РУО"}, col=CONTROL)
    _school_column(s2, "Контроль", {4: "проверено завучем"}, col=CONTROL)
    before = {p: p.read_bytes() for p in (s1, s2)}
    result = run(config, today=TODAY)
    for p, sid in ((s1, "s1"), (s2, "s2")):
        ws = load_workbook(p)[SPEC.main_sheet]
        assert [ws.cell(r, CONTROL).value for r in range(2, 6)] == [
            load_workbook(io.BytesIO(before[p]))[SPEC.main_sheet].cell(r, CONTROL).value
            for r in range(2, 6)
        ]
        report = next(r for r in result.reports if r.school.id == sid)
        assert "«Контроль» не записан" in report.message, report.message
        assert result.writes[sid].partial
    assert "звонили" in cells(s1.read_bytes())[SPEC.main_sheet][1][CONTROL - 1]
    report = next(r for r in result.reports if r.school.id == "s2")
    assert "проверено завучем" in report.message
    assert load_workbook(s3)[SPEC.main_sheet].cell(2, CONTROL).value  # others written
    assert not result.writes["s3"].partial and run_exit_code(result) == RunExit.SCHOOLS


def test_a_workbook_built_before_the_record_still_works_and_two_control_columns_stop_it(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)
    s1, s2 = (Path(s.source) for s in config.schools[:2])
    for p in (s1, s2):
        wb = load_workbook(p)
        meta = wb[SPEC.meta_sheet]
        for row in list(meta.iter_rows()):
            if str(row[0].value).startswith("control_"):
                row[0].value = row[1].value = None
        wb.save(p)
    _school_column(s2, "Контроль", {})
    result = run(config, today=TODAY)
    assert load_workbook(s1)[SPEC.main_sheet].cell(2, CONTROL).value  # header + contents
    assert load_workbook(s2)[SPEC.main_sheet].cell(2, CONTROL).value is None
    report = next(r for r in result.reports if r.school.id == "s2")
    assert "несколько столбцов «Контроль»" in report.message


# --- the file stays the school's file ------------------------------------------------------------


def test_a_symlink_is_followed_and_owner_group_mode_are_kept(tmp_path: Path) -> None:
    config = setup(tmp_path)
    link = Path(config.schools[0].source)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "школа1.xlsx"
    os.replace(link, target)
    link.symlink_to(target)
    os.chown(target, 65534, 65534)  # nobody:nogroup
    os.chmod(target, 0o640)
    run(config, today=TODAY)
    assert link.is_symlink() and link.resolve() == target
    st = target.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (65534, 65534, 0o640)
    assert load_workbook(target)[SPEC.main_sheet].cell(2, CONTROL).value
    assert not [p for p in elsewhere.iterdir() if p.name.startswith(".~")]


def test_a_read_only_workbook_or_folder_is_not_written_and_the_report_says_so(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)
    s1 = Path(config.schools[0].source)
    os.chmod(s1, 0o444)
    other = tmp_path / "locked"
    other.mkdir()
    s2 = Path(config.schools[1].source)
    os.replace(s2, other / s2.name)
    s2.symlink_to(other / s2.name)
    os.chmod(other, 0o555)
    before = {p: p.read_bytes() for p in (s1, s2)}
    try:
        result = run(config, today=TODAY)
    finally:
        os.chmod(other, 0o755)
    assert result.writes["s1"].status == "readonly"
    assert "только для чтения" in result.writes["s1"].message
    assert result.writes["s2"].status == "readonly"
    assert "нет прав на запись в папку" in result.writes["s2"].message
    assert {p: p.read_bytes() for p in (s1, s2)} == before
    assert result.writes["s3"].status == "written"
    report = next(r for r in result.reports if r.school.id == "s1")
    assert "только для чтения" in report.message


# --- backups and temp files ----------------------------------------------------------------------


def test_backups_are_verified_named_in_local_time_and_never_rotate_good_ones_out(
    tmp_path: Path,
) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    workbook = tmp_path / "s1.xlsx"
    data = parts_zip({"a.xml": b"<a/>"})
    folder = tmp_path / "backups"
    zone = ZoneInfo("Asia/Chita")  # UTC+9: far from the machine's UTC
    made = keep_backup(data, workbook, folder, 3, zone)
    stamp = datetime.strptime(made.name.split(".")[1], "%Y%m%d-%H%M%S-%f")
    assert abs((datetime.now(zone).replace(tzinfo=None) - stamp).total_seconds()) < 60
    assert made.read_bytes() == data
    for _ in range(2):
        keep_backup(data, workbook, folder, 3, zone)
    # Copies an older version left on a full disk (empty, cut short) do not count.
    (folder / "s1.20000101-000000-000000.xlsx").write_bytes(b"")
    (folder / "s1.20000101-000001-000000.xlsx").write_bytes(data[: len(data) // 2])
    keep_backup(data, workbook, folder, 3, zone)
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 3 and not any(n.startswith("s1.2000") for n in names)
    # A backup that cannot be written whole leaves nothing behind and rotates nothing out.
    big = tmp_path / "big.xlsx"
    big.write_bytes(parts_zip({"big.bin": os.urandom(300_000)}))
    assert _backup_with_file_limit(100_000, big, workbook, folder) == "OSError"
    assert sorted(p.name for p in folder.iterdir()) == names


def parts_zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, body in members.items():
            z.writestr(name, body)
    return out.getvalue()


LIMITED_BACKUP = """
import resource, signal, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from sync.backends.folder import keep_backup
try:
    keep_backup(Path(sys.argv[2]).read_bytes(), Path(sys.argv[3]), Path(sys.argv[4]), 3)
    print("ok")
except OSError:
    print("OSError")
"""


def _backup_with_file_limit(limit: int, data: Path, workbook: Path, folder: Path) -> str:
    """keep_backup in a child whose files cannot grow past `limit` bytes (RLIMIT_FSIZE): the
    write fails part-way, as on a full disk."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    args = [str(limit), str(data), str(workbook), str(folder)]
    proc = subprocess.run(
        [sys.executable, "-c", LIMITED_BACKUP, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_temp_files_of_a_killed_run_are_removed_by_the_next_run(tmp_path: Path) -> None:
    config = setup(tmp_path)
    schools_dir = Path(config.schools[0].source).parent
    config.master_path.parent.mkdir(parents=True, exist_ok=True)
    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale = [
        schools_dir / f".~tmp-{dead}-0123abcd.xlsx",
        config.master_path.parent / f".~tmp-{dead}-89abcdef.xlsx",
        schools_dir / f".~old-{dead}-01234567.xlsx",
    ]
    for p in stale:
        p.write_bytes(b"PK")
    copy = schools_dir / f".~old-{dead}-0badf00d.xlsx"  # what it holds is in the workbook already
    copy.write_bytes(Path(config.schools[1].source).read_bytes())
    legacy = schools_dir / ".~tmp-a1b2c3d4.xlsx"
    legacy.write_bytes(b"PK")
    os.utime(legacy, (1_000_000_000, 1_000_000_000))
    alive = schools_dir / f".~tmp-{os.getppid()}-fedcba98.xlsx"  # a living process's
    alive.write_bytes(b"PK")
    school_owned = schools_dir / "~$черновик.xlsx"
    school_owned.write_bytes(b"x")
    run(config, today=TODAY)
    assert not any(p.exists() for p in [*stale, legacy, copy])
    assert not (config.backups_dir / "_recovered" / copy.name.lstrip(".")).exists()
    assert alive.exists() and school_owned.exists()
    # A swapped-out file may hold a school's save: it is kept in the backups, not deleted.
    assert (config.backups_dir / "_recovered" / stale[2].name.lstrip(".")).exists()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zip_comment(data: bytes, comment: bytes) -> bytes:
    """The same workbook with another zip comment: a distinct save, still a valid package."""
    end = data.rindex(b"PK\x05\x06")
    return data[: end + 20] + struct.pack("<H", len(comment)) + comment


def marker(data: bytes) -> bytes:
    end = data.rindex(b"PK\x05\x06")
    (n,) = struct.unpack("<H", data[end + 20 : end + 22])
    return data[end + 22 : end + 22 + n]


@pytest.mark.parametrize("fallback", [False, True], ids=["exchange", "link"])
def test_a_concurrent_saver_never_loses_a_save(
    tmp_path: Path, fallback: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A saver process writes a temp file and renames it over the workbook (as Excel and
    LibreOffice save) at random moments while write-back runs; its newest save always wins."""
    import random
    import subprocess
    import sys

    if fallback:  # a file system without RENAME_EXCHANGE: the rename-aside and link path
        import sync.fileio as fileio

        def unsupported(a: Path, b: Path) -> None:
            raise fileio.SwapUnsupported(95, "no exchange here")

        monkeypatch.setattr(fileio, "exchange", unsupported)
    config = setup(tmp_path)
    school = config.schools[0]
    path = Path(school.source)
    base = path.read_bytes()
    backend = backend_of(config)
    paint, _ = paint_of(config, school, backend)
    saver = subprocess.Popen(
        [sys.executable, "-c", SAVER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert saver.stdin is not None and saver.stdout is not None
    rng = random.Random(20261201)
    outcomes: dict[str, int] = {}
    swapped_back = 0
    try:
        for trial in range(150):
            start = zip_comment(base, f"t{trial}-start".encode())
            path.write_bytes(start)
            saves = rng.randint(1, 3)
            saver.stdin.write(f"{trial} {saves}\n")
            saver.stdin.flush()
            # The sync read `start` a moment ago; the saver saves around its write-back.
            for _ in range(rng.randint(0, 4000)):
                pass
            result = backend.write_back(school, paint, sha(start))
            outcomes[result.status] = outcomes.get(result.status, 0) + 1
            swapped_back += result.message.startswith("школа сохранила файл")
            last = saver.stdout.readline().strip()
            final = path.read_bytes()
            assert marker(final) == last.encode(), (trial, result, marker(final), last)
            assert zipfile.ZipFile(io.BytesIO(final)).testzip() is None
    finally:
        saver.stdin.close()
        saver.wait(timeout=30)
    # Saves landed inside write-backs (after the read, before the swap), not only before them.
    print("saver outcomes", outcomes, "swapped back", swapped_back)
    assert swapped_back > 0, outcomes
    assert not [p for p in path.parent.iterdir() if p.name.startswith((".~tmp", ".~old"))]


SAVER = r"""
import os, random, struct, sys, time
path = sys.argv[1]
with open(path, "rb") as f:
    base = f.read()  # the saver's own copy: it saves it as Excel does, without reading back
end = base.rindex(b"PK\x05\x06")
rng = random.Random(7)
for line in sys.stdin:
    trial, saves = map(int, line.split())
    last = ""
    for k in range(saves):
        time.sleep(rng.random() * (0.004 if rng.random() < 0.7 else 0.04))
        last = f"t{trial}-save{k}"
        body = base[: end + 20] + struct.pack("<H", len(last)) + last.encode()
        tmp = os.path.join(os.path.dirname(path), f"~saver{k}.tmp")
        with open(tmp, "wb") as f:
            f.write(body)
        os.rename(tmp, path)
    print(last, flush=True)
"""


def test_kill_9_during_runs_loses_nothing_and_the_next_run_leaves_no_temp_file(
    tmp_path: Path,
) -> None:
    """`roadmap-sync run` killed at random moments in a municipality of ten schools."""
    import random
    import subprocess
    import sys
    import time
    from datetime import timedelta

    schools = [(f"s{i}", f"МОУ СОШ № {i}", "ШНОР") for i in range(1, 11)]
    config = municipality(tmp_path, schools)
    distribute(config, built_at=BUILT_AT)
    for school in config.schools:
        fill_workbook(Path(school.source), SPEC, FILLS, PASSPORT)
    workbooks = [Path(s.source) for s in config.all_workbooks()]
    before = {p: school_values(p.read_bytes()) for p in workbooks}
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    rng = random.Random(99)
    # Today alternates between two dates whose controls differ: every run writes back.
    days = [TODAY, TODAY + timedelta(days=200)]
    killed = strays = 0  # strays: temp files a kill left (killed inside a write)
    full = 0.0
    for i in range(25):
        args = ["run", "--config", str(tmp_path / "config.toml"), "--today", str(days[i % 2])]
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", "from sync.cli import main; main()", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if i < 2:  # two runs complete: how long a run (the second, warm) takes here
            proc.wait(timeout=300)
            full = time.monotonic() - started
            continue
        time.sleep(rng.uniform(0.15, 0.95) * full)
        if proc.poll() is None:
            proc.kill()
            killed += 1
        proc.wait(timeout=60)
        for p in workbooks:  # every workbook opens, whatever the moment of the kill
            assert zipfile.ZipFile(p).testzip() is None
        strays += len([q for q in workbooks[0].parent.iterdir() if q.name.startswith(".~")])
    assert killed >= 12
    print(f"killed {killed} runs; {strays} temp files left behind by the kills")
    result = run(config, today=days[0])
    assert result.outcome == "ok"
    for p in workbooks:
        data = p.read_bytes()
        load_workbook(io.BytesIO(data))
        same = school_values(data)
        for name in before[p]:
            assert without_trailing_empties(same[name]) == without_trailing_empties(
                before[p][name]
            ), (p.name, name)
    for folder in (workbooks[0].parent, config.master_path.parent):
        assert not [q.name for q in folder.iterdir() if q.name.startswith((".~tmp", ".~old"))]


def test_the_windows_replace_path_type_checks() -> None:
    """ReplaceFileW (and the spool's read without pread) run only on Windows: mypy checks those
    code paths as Windows would see them."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    source = (root / "sync" / "fileio.py").read_text(encoding="utf-8")
    assert "ReplaceFileW" in source and 'sys.platform == "win32"' in source
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--platform", "win32", "sync/fileio.py", "sync/spool.py"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_zip_comment_and_unchanged_members_are_copied_raw(tmp_path: Path) -> None:
    config = setup(tmp_path)
    path = Path(config.schools[0].source)
    path.write_bytes(zip_comment(path.read_bytes(), b"school's comment"))
    before, after, _, _ = write(config)
    assert marker(after) == b"school's comment"
    with zipfile.ZipFile(io.BytesIO(before)) as a, zipfile.ZipFile(io.BytesIO(after)) as b:
        changed = our_parts(before)
        for info in a.infolist():
            if info.filename in changed:
                continue
            other = b.getinfo(info.filename)
            assert (other.CRC, other.compress_size, other.compress_type) == (
                info.CRC,
                info.compress_size,
                info.compress_type,
            )


def test_cells_that_do_not_name_themselves_are_found_by_position(tmp_path: Path) -> None:
    """`<c>` without `r` is valid OOXML (some generators write it): cells count by position."""
    config = setup(tmp_path)
    path = Path(config.schools[0].source)
    with zipfile.ZipFile(path) as z:
        items = [(i, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, body in items:
            if info.filename == "xl/worksheets/sheet1.xml":
                body = re.sub(rb'<c r="[A-Z]+[0-9]+"', b"<c", body)
            z.writestr(info, body)
    before, after, _, paint = write(config)
    same_school_values(before, after)
    ws = load_workbook(io.BytesIO(after))[SPEC.main_sheet]
    assert [ws.cell(r, CONTROL).value for r, _ in paint.controls] == [
        c.value for _, c in paint.controls
    ]


def test_a_schools_own_control_column_inserted_before_ours_is_left_and_ours_followed(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)
    path = Path(config.schools[0].source)
    wb = load_workbook(path)
    ws = wb[SPEC.main_sheet]
    ws.protection.sheet = False
    mine = CONTROL - 1  # just before ours, as a school widening its comment would
    ws.insert_cols(mine)
    theirs = {r: f"моя отметка {r}" for r in range(2, 15)}
    ws.cell(1, mine).value = "Контроль"
    for row, value in theirs.items():
        ws.cell(row, mine).value = value
    wb.save(path)
    result = run(config, today=TODAY)
    ws = load_workbook(path)[SPEC.main_sheet]
    assert {r: ws.cell(r, mine).value for r in theirs} == theirs  # the school's, untouched
    assert ws.cell(1, CONTROL + 1).value == "Контроль" and ws.cell(2, CONTROL + 1).value
    assert result.writes["s1"].status == "written" and not result.writes["s1"].partial
