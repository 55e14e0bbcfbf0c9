"""The fake Google answers as Google does: shapes, errors, OAuth, quotas, people typing.

Golden shapes below are hand-made key structures checked against the recorded real answers in
gspread's own test cassettes (github.com/burnash/gspread, tests/cassettes, MIT); each names the
cassette it was checked against. Only structure is compared, never ids or times.
"""

from __future__ import annotations

import socket
from datetime import date
from typing import Any

import pytest
import requests
from google.auth.exceptions import RefreshError
from gspread.exceptions import APIError

from tests.conftest import NetworkGuardError
from tests.fakes.google import FakeGoogle, Fault, PersonError
from tests.fakes.google.municipality import (
    COORDINATOR,
    SERVICE_ACCOUNT,
    client,
    fake_google,
    new_spreadsheet,
)

__all__ = ["fake_google"]

SHEETS = "https://sheets.googleapis.com/v4/spreadsheets"
DRIVE = "https://www.googleapis.com/drive/v3/files"

# ClientTest.test_create.json: Drive files.create of a spreadsheet.
FILES_CREATE = {"kind": str, "id": str, "name": str, "mimeType": str}
# ClientTest.test_create.json: spreadsheets.get?includeGridData=false of a new spreadsheet.
SPREADSHEET_GET = {
    "spreadsheetId": str,
    "properties": {
        "title": str,
        "locale": str,
        "autoRecalc": str,
        "timeZone": str,
        "defaultFormat": dict,
    },
    "sheets": [
        {
            "properties": {
                "sheetId": int,
                "title": str,
                "index": int,
                "sheetType": str,
                "gridProperties": {"rowCount": int, "columnCount": int},
            }
        }
    ],
    "spreadsheetUrl": str,
}
# ClientTest.test_access_non_existing_spreadsheet.json: 404 on spreadsheets.get.
SHEETS_404 = {"error": {"code": int, "message": str, "status": str}}
# ClientTest.test_list_spreadsheet_files.json: files.list with
# fields=kind,nextPageToken,files(id,name,createdTime,modifiedTime).
FILES_LIST = {
    "kind": str,
    "files": [{"id": str, "name": str, "createdTime": str, "modifiedTime": str}],
}
# WorksheetTest.test_add_validation.json: the batchUpdate reply to setDataValidation.
EMPTY_REPLY = {"spreadsheetId": str, "replies": [{}]}
# WorksheetTest.test_add_protected_range_normal.json: the reply to addProtectedRange on sheet 0
# (its range has no sheetId: Google leaves zero values out).
PROTECTED_REPLY = {
    "spreadsheetId": str,
    "replies": [
        {
            "addProtectedRange": {
                "protectedRange": {
                    "protectedRangeId": int,
                    "range": {
                        "startRowIndex": int,
                        "endRowIndex": int,
                        "startColumnIndex": int,
                        "endColumnIndex": int,
                    },
                    "requestingUserCanEdit": bool,
                    "editors": {},
                }
            }
        }
    ],
}
# WorksheetTest.test_get_notes.json: fields=sheets.data.rowData.values.note, no note anywhere.
NOTES_NONE: dict[str, Any] = {"sheets": [{"data": [{}]}]}
# WorksheetTest.test_worksheet_notes.json: one note in A1.
NOTES_ONE = {"sheets": [{"data": [{"rowData": [{"values": [{"note": str}]}]}]}]}
# SpreadsheetTest.test_values_batch_get.json: values.update, then values.batchGet.
VALUES_UPDATE = {
    "spreadsheetId": str,
    "updatedRange": str,
    "updatedRows": int,
    "updatedColumns": int,
    "updatedCells": int,
}
VALUES_BATCH_GET = {
    "spreadsheetId": str,
    "valueRanges": [{"range": str, "majorDimension": str, "values": [[str]]}],
}
# WorksheetTest.test_hide_show_worksheet.json: 400 INVALID_ARGUMENT naming the request.
HIDE_ALL = "Invalid requests[0].updateSheetProperties: You can't hide all the sheets in a document."


def shape_matches(actual: Any, golden: Any, path: str = "$") -> list[str]:
    """Differences between an answer and a golden key structure (dict keys exactly equal)."""
    if isinstance(golden, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {type(actual).__name__}"]
        problems = []
        if golden and set(actual) != set(golden):
            problems.append(f"{path}: keys {sorted(actual)} != {sorted(golden)}")
        if not golden and actual:
            problems.append(f"{path}: expected an empty object, got {actual}")
        for k, sub in golden.items():
            if k in actual:
                problems += shape_matches(actual[k], sub, f"{path}.{k}")
        return problems
    if isinstance(golden, list):
        if not isinstance(actual, list) or len(actual) != len(golden):
            return [f"{path}: expected a list of {len(golden)}, got {actual!r}"[:200]]
        return [
            p for a, g in zip(actual, golden, strict=True) for p in shape_matches(a, g, f"{path}[]")
        ]
    if golden is int and isinstance(actual, bool):
        return [f"{path}: expected int, got bool"]
    return (
        []
        if isinstance(actual, golden)
        else [f"{path}: expected {golden.__name__}, got {actual!r}"]
    )


def test_golden_shapes_of_create_get_list_and_errors(fake_google: FakeGoogle) -> None:
    http = client(fake_google)
    sid = new_spreadsheet(http)
    got = http.request("get", f"{SHEETS}/{sid}", params={"includeGridData": "false"}).json()
    assert shape_matches(got, SPREADSHEET_GET) == []
    assert got["sheets"][0]["properties"]["sheetId"] == 0  # present here, unlike in ranges
    with pytest.raises(APIError) as e:
        http.request("get", f"{SHEETS}/nope", params={"includeGridData": "false"})
    assert shape_matches(e.value.response.json(), SHEETS_404) == []
    assert e.value.response.json()["error"]["status"] == "NOT_FOUND"
    listing = http.request(
        "get",
        DRIVE,
        params={
            "q": 'mimeType="application/vnd.google-apps.spreadsheet"',
            "pageSize": 1000,
            "fields": "kind,nextPageToken,files(id,name,createdTime,modifiedTime)",
        },
    ).json()
    assert shape_matches(listing, FILES_LIST) == []
    assert listing["files"][0]["modifiedTime"].endswith("Z")


def test_golden_shapes_of_batch_update_replies_notes_and_values(fake_google: FakeGoogle) -> None:
    http = client(fake_google)
    sid = new_spreadsheet(http)
    rng = {"startRowIndex": 0, "endRowIndex": 1, "startColumnIndex": 0, "endColumnIndex": 1}
    # The very requests gspread sent in those cassettes.
    validation = {
        "setDataValidation": {
            "range": {**rng, "sheetId": 0},
            "rule": {
                "condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": "y"}]},
                "showCustomUi": False,
                "strict": True,
                "inputMessage": "n",
            },
        }
    }
    got = http.batch_update(sid, {"requests": [validation]})
    assert shape_matches(got, EMPTY_REPLY) == []
    protect: dict[str, Any] = {
        "addProtectedRange": {
            "protectedRange": {
                "range": {**rng, "endRowIndex": 2, "endColumnIndex": 2, "sheetId": 0},
                "description": None,
                "warningOnly": False,
                "requestingUserCanEdit": False,
                "editors": {"users": [], "groups": []},
            }
        }
    }
    got = http.batch_update(sid, {"requests": [protect]})
    assert shape_matches(got, PROTECTED_REPLY) == []
    notes: dict[str, Any] = {"fields": "sheets.data.rowData.values.note", "ranges": "'Sheet1'"}
    assert shape_matches(http.spreadsheets_get(sid, notes), NOTES_NONE) == []
    note = {
        "updateCells": {
            "range": {**rng, "sheetId": 0},
            "fields": "note",
            "rows": [{"values": [{"note": "slim shaddy"}]}],
        }
    }
    http.batch_update(sid, {"requests": [note]})
    assert shape_matches(http.spreadsheets_get(sid, notes), NOTES_ONE) == []
    got = http.values_update(
        sid, "'Sheet1'!A1", params={"valueInputOption": "RAW"}, body={"values": [["a", "b"]]}
    )
    assert shape_matches(got, VALUES_UPDATE) == []
    got = http.values_batch_get(sid, ["'Sheet1'!A:A"])
    assert shape_matches(got, VALUES_BATCH_GET) == []
    with pytest.raises(APIError) as e:
        http.batch_update(
            sid,
            {
                "requests": [
                    {
                        "updateSheetProperties": {
                            "properties": {"sheetId": 0, "hidden": True},
                            "fields": "hidden",
                        }
                    }
                ]
            },
        )
    assert e.value.response.json()["error"] == {
        "code": 400,
        "message": HIDE_ALL,
        "status": "INVALID_ARGUMENT",
    }


def test_unknown_request_types_are_refused_not_ignored(fake_google: FakeGoogle) -> None:
    http = client(fake_google)
    sid = new_spreadsheet(http)
    before = fake_google.spreadsheet(sid).sheets[0].properties["title"]
    with pytest.raises(APIError) as e:
        http.batch_update(
            sid,
            {
                "requests": [
                    {"updateSheetProperties": {"properties": {"title": "X"}, "fields": "title"}},
                    {"addSlicer": {"slicer": {}}},
                ]
            },
        )
    body = e.value.response.json()["error"]
    assert body["status"] == "INVALID_ARGUMENT" and 'Unknown name "addSlicer"' in body["message"]
    # Atomic: the first request was not applied either.
    assert fake_google.spreadsheet(sid).sheets[0].properties["title"] == before


def test_oauth_verifies_the_jwt_and_api_calls_need_a_live_token(fake_google: FakeGoogle) -> None:
    http = client(fake_google)
    new_spreadsheet(http)
    assert fake_google.grants == [SERVICE_ACCOUNT]
    # Without a token: 401 like Google's, with its WWW-Authenticate header.
    raw = requests.get(f"{fake_google.url}/v4/spreadsheets/x", timeout=5)
    assert raw.status_code == 401
    assert raw.json()["error"]["status"] == "UNAUTHENTICATED"
    assert "invalid_token" in raw.headers["WWW-Authenticate"]
    # A key whose private half the account does not have is refused by the token endpoint.
    forged = fake_google.add_service_account("other@roadmap-test.iam.gserviceaccount.com")
    fake_google.accounts["forged@roadmap-test.iam.gserviceaccount.com"] = fake_google.accounts[
        SERVICE_ACCOUNT
    ]
    bad = fake_google.add_service_account("x@y", forged=True)
    bad["client_email"] = "forged@roadmap-test.iam.gserviceaccount.com"
    with pytest.raises(RefreshError) as e:
        new_spreadsheet(client(fake_google, bad))
    assert "Invalid JWT Signature" in str(e.value)
    assert forged["client_email"] not in fake_google.grants


def test_an_expired_token_gets_401_and_google_auth_refreshes_it(fake_google: FakeGoogle) -> None:
    http = client(fake_google)
    new_spreadsheet(http)
    fake_google.clock.advance(3601)  # the fake's token lifetime is an hour of its clock
    new_spreadsheet(http)
    assert fake_google.grants == [SERVICE_ACCOUNT, SERVICE_ACCOUNT]
    assert [r.status for r in fake_google.records()][-2:] == [401, 200]


def test_quota_per_user_per_minute_answers_429_until_the_clock_moves(
    fake_google: FakeGoogle,
) -> None:
    http = client(fake_google, max_tries=1)
    sid = new_spreadsheet(http)
    fake_google.quotas["read"] = 5
    for _ in range(5):
        http.spreadsheets_get(sid, {"fields": "spreadsheetId"})
    with pytest.raises(APIError) as e:
        http.spreadsheets_get(sid, {"fields": "spreadsheetId"})
    error = e.value.response.json()["error"]
    assert error["code"] == 429 and error["status"] == "RESOURCE_EXHAUSTED"
    assert "Read requests per minute per user" in error["message"]
    fake_google.clock.advance(60)
    http.spreadsheets_get(sid, {"fields": "spreadsheetId"})


def test_a_person_typing_in_the_browser(fake_google: FakeGoogle) -> None:
    http = client(fake_google)
    sid = new_spreadsheet(http)
    school = "school@example.ru"
    fake_google.share(sid, school, "writer")
    http.batch_update(
        sid,
        {
            "requests": [
                {
                    "updateSpreadsheetProperties": {
                        "properties": {"locale": "ru_RU"},
                        "fields": "locale",
                    }
                }
            ]
        },
    )
    before = http.request("get", f"{DRIVE}/{sid}", params={"fields": "modifiedTime,version"}).json()
    fake_google.clock.advance(5)
    fake_google.type(
        sid,
        "Sheet1",
        {
            "A1": "=1+1",
            "A2": "'=1+1",
            "A3": "20.09.2021",
            "A4": "320",
            "A5": '=IMPORTRANGE("a","b")',
        },
        user=school,
    )
    assert fake_google.cell(sid, "Sheet1", "A1")["userEnteredValue"] == {"formulaValue": "=1+1"}
    assert fake_google.value(sid, "Sheet1", "A1") == 2
    assert fake_google.value(sid, "Sheet1", "A2") == "=1+1"
    a3 = fake_google.cell(sid, "Sheet1", "A3")
    assert a3["userEnteredFormat"]["numberFormat"]["type"] == "DATE"
    assert a3["userEnteredValue"]["numberValue"] == (date(2021, 9, 20) - date(1899, 12, 30)).days
    assert fake_google.value(sid, "Sheet1", "A5") == "#REF!"
    after = http.request(
        "get", f"{DRIVE}/{sid}", params={"fields": "modifiedTime,version,lastModifyingUser"}
    ).json()
    assert after["modifiedTime"] > before["modifiedTime"]
    assert int(after["version"]) > int(before["version"])
    assert after["lastModifyingUser"]["emailAddress"] == school
    assert after["lastModifyingUser"]["me"] is False


def test_people_cannot_type_into_protected_cells_or_off_the_dropdown(
    fake_google: FakeGoogle,
) -> None:
    http = client(fake_google)
    sid = new_spreadsheet(http)
    fake_google.share(sid, "school@example.ru", "writer")
    fake_google.share(sid, COORDINATOR, "writer")
    http.batch_update(
        sid,
        {
            "requests": [
                {
                    "addProtectedRange": {
                        "protectedRange": {
                            "range": {"sheetId": 0, "startColumnIndex": 0, "endColumnIndex": 1},
                            "editors": {"users": [SERVICE_ACCOUNT, COORDINATOR]},
                        }
                    }
                },
                {
                    "setDataValidation": {
                        "range": {"sheetId": 0, "startColumnIndex": 1, "endColumnIndex": 2},
                        "rule": {
                            "condition": {
                                "type": "ONE_OF_LIST",
                                "values": [{"userEnteredValue": "Выполнено"}],
                            },
                            "strict": True,
                        },
                    }
                },
            ]
        },
    )
    with pytest.raises(PersonError, match="protected"):
        fake_google.type(sid, "Sheet1", {"A2": "план"}, user="school@example.ru")
    fake_google.type(sid, "Sheet1", {"A2": "план"}, user=COORDINATOR)
    with pytest.raises(PersonError, match="list"):
        fake_google.type(sid, "Sheet1", {"B2": "Сделано"}, user="school@example.ru")
    fake_google.type(sid, "Sheet1", {"B2": "Выполнено"}, user="school@example.ru")


def test_files_list_pages_and_tells_who_changed_a_file_last(fake_google: FakeGoogle) -> None:
    http = client(fake_google)
    drive = fake_google.add_shared_drive("Общий диск", {COORDINATOR: "organizer"})
    folder = fake_google.add_folder("Папка", COORDINATOR, writers=[SERVICE_ACCOUNT], parent=drive)
    ids = [
        http.request(
            "post",
            DRIVE,
            json={
                "name": f"t{i}",
                "mimeType": "application/vnd.google-apps.spreadsheet",
                "parents": [folder],
            },
        ).json()["id"]
        for i in range(5)
    ]
    fake_google.share(ids[0], "school@example.ru")
    fake_google.type(ids[0], "Sheet1", {"A1": "x"}, user="school@example.ru")
    seen: dict[str, bool] = {}
    params: dict[str, Any] = {
        "q": f"'{folder}' in parents and trashed = false",
        "pageSize": 2,
        "fields": "nextPageToken,files(id,lastModifyingUser(me))",
    }
    pages = 0
    while True:
        page = http.request("get", DRIVE, params=params).json()
        pages += 1
        seen |= {f["id"]: f["lastModifyingUser"]["me"] for f in page["files"]}
        if "nextPageToken" not in page:
            break
        params["pageToken"] = page["nextPageToken"]
    assert pages == 3
    assert seen == {i: i != ids[0] for i in ids}
    with pytest.raises(APIError) as e:
        http.request("get", DRIVE, params={"q": "name = 'a' or name = 'b'"})
    assert e.value.code == 400 and "errors" in e.value.response.json()["error"]


def test_faults_are_injected_as_asked(fake_google: FakeGoogle) -> None:
    http = client(fake_google, max_tries=1)
    sid = new_spreadsheet(http)
    fake_google.inject(Fault(status=503, target=sid, times=1))
    with pytest.raises(APIError) as e:
        http.spreadsheets_get(sid, {"fields": "spreadsheetId"})
    assert e.value.code == 503
    http.spreadsheets_get(sid, {"fields": "spreadsheetId"})
    assert fake_google.counts(sid)["fault"] == 1 and fake_google.counts(sid)["get"] == 1


def test_the_network_guard_stops_anything_but_loopback() -> None:
    with socket.socket() as s, pytest.raises(NetworkGuardError):
        s.connect(("192.0.2.1", 443))


def test_files_create_answers_in_drive_shape(fake_google: FakeGoogle) -> None:
    http = client(fake_google)
    drive = fake_google.add_shared_drive("Общий диск для формы", {SERVICE_ACCOUNT: "organizer"})
    answer = http.request(
        "post",
        DRIVE,
        json={
            "name": "Форма",
            "mimeType": "application/vnd.google-apps.spreadsheet",
            "parents": [drive],
        },
    ).json()
    assert shape_matches(answer, FILES_CREATE) == []
