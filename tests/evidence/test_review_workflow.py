"""Access-review campaigns on the collected sample: snapshot, assignment, workbooks, refusals.

Every refusal is driven through `auditpack review import` exactly as a compliance manager would,
and each one must name the problem and record nothing.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from openpyxl import load_workbook

from auditpack.errors import UsageError
from auditpack.review.assign import Rules, assign, read_rules
from auditpack.review.campaigns import CampaignStore
from auditpack.review.model import Campaign, MemberRow, Snapshot, row_id
from auditpack.review.workbook import HEADERS, write_workbook
from tests.evidence.conftest import CollectedOrg
from tests.evidence.review_helpers import copy_store, edit, fill, keep_all, replace_part, review

FALLBACK = "it.lead@example.test"
ONE, TWO = "reviewer.one@example.test", "reviewer.two@example.test"


@pytest.fixture(scope="module")
def campaign(sample: CollectedOrg, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("review")
    store, cfg = copy_store(sample, work)
    con = duckdb.connect(str(store / "auditpack.duckdb"), read_only=True)
    try:  # the two largest groups, whatever the organization calls them
        g1, g2 = (r[0] for r in con.execute(
            "SELECT g.name FROM dir_groups g JOIN dir_group_members m USING (snapshot_id, "
            "group_id) GROUP BY g.name ORDER BY count(DISTINCT m.user_id) DESC, g.name "
            "LIMIT 2").fetchall())
    finally:
        con.close()
    csv = work / "reviewers.csv"
    csv.write_text(f"member,reviewer\ngroup:{g1},{ONE}\ngroup:{g2},{TWO}\n"
                   "ghost@example.test,nobody@example.test\n", encoding="utf-8")
    assert review(cfg, "start", "--period", "2026-Q3", "--reviewers", str(csv),
                  "--fallback-reviewer", FALLBACK, "--at", "2026-10-05T08:00:00Z") == 0
    assert review(cfg, "export", "--out", str(work / "wb")) == 0
    cs = CampaignStore(store)
    (cid,) = cs.open_ids()
    books = {p.name: p for p in (work / "wb").glob("*.xlsx")}
    return {"cfg": cfg, "store": store, "cs": cs, "campaign": cs.load(cid), "work": work,
            "books": books, "groups": (g1, g2)}


def book_of(campaign: dict[str, Any], reviewer: str) -> Path:
    (path,) = [p for n, p in campaign["books"].items() if reviewer.replace("@", "_") in n]
    return path


def test_campaign_pins_a_dated_snapshot(campaign: dict[str, Any], sample: CollectedOrg) -> None:
    c: Campaign = campaign["campaign"]
    cs: CampaignStore = campaign["cs"]
    rows = cs.rows(c.campaign_id)
    members = (cs.folder(c.campaign_id) / "members.jsonl").read_bytes()
    assert c.snapshot.members_sha256 == hashlib.sha256(members).hexdigest()
    assert c.snapshot.as_of == datetime.fromisoformat(
        sample.meta["collection_schedule"][-1].replace("Z", "+00:00"))
    con = sample.connect()
    try:
        listed = con.execute("SELECT count(*) FROM dir_users WHERE snapshot_id = ?",
                             [c.snapshot.directory_snapshot_id]).fetchone()
    finally:
        con.close()
    # the directory snapshot is dated at the review instant: one row per listed membership,
    # plus rows for leftover access outside any organization
    assert listed is not None
    assert sum(1 for r in rows if r.org_uuid) == listed[0]
    assert all(r.leaver for r in rows if not r.org_uuid)
    assert len({r.row_id for r in rows}) == len(rows)


def test_assignment_follows_the_rules(campaign: dict[str, Any]) -> None:
    c: Campaign = campaign["campaign"]
    rows = {r.row_id: r for r in campaign["cs"].rows(c.campaign_id)}
    g1, g2 = (g.lower() for g in campaign["groups"])
    assigned = [rid for ids in c.assignments.values() for rid in ids]
    assert sorted(assigned + list(c.unassigned)) == sorted(rows)  # each row once
    for rid in c.assignments[ONE]:
        assert g1 in rows[rid].groups.lower().split("; ")
    for rid in c.assignments[TWO]:
        groups = rows[rid].groups.lower().split("; ")
        assert g2 in groups and g1 not in groups
    assert c.unmatched_rules == ["ghost@example.test"]
    assert set(c.assignments) == {ONE, TWO, FALLBACK}


def test_workbooks_hold_only_their_rows_locked_but_the_decision(
        campaign: dict[str, Any]) -> None:
    c: Campaign = campaign["campaign"]
    assert len(campaign["books"]) == len(c.assignments)
    for reviewer, ids in c.assignments.items():
        wb = load_workbook(book_of(campaign, reviewer))
        ws = wb["Review"]
        assert tuple(cell.value for cell in ws[1]) == HEADERS
        assert [ws.cell(r, 1).value for r in range(2, ws.max_row + 1)] == ids
        assert ws.protection.sheet
        assert wb["_auditpack"].sheet_state == "veryHidden"
        (rule,) = ws.data_validations.dataValidation
        assert rule.type == "list" and rule.formula1 == '"Keep,Revoke,Modify"'
        assert str(rule.sqref) == f"O2:O{len(ids) + 1}"
        locked = [ws.cell(2, col).protection.locked for col in range(1, len(HEADERS) + 1)]
        assert locked == [True] * (len(HEADERS) - 2) + [False, False]


def test_formula_text_is_written_as_text(tmp_path: Path, campaign: dict[str, Any]) -> None:
    hostile = MemberRow(row_id=row_id("o", "u"), org_uuid="o", organization="=1+1",
                        user_id="u", email="@SUM(A1)", name='=HYPERLINK("http://x","y")',
                        role="-2", groups="+cmd|' /C calc'!A0", workspaces=0, active_keys=0,
                        joined_at=None, last_activity=None, dormant=False, leaver=False,
                        change="")
    path = tmp_path / "h.xlsx"
    write_workbook(path, campaign["campaign"], ONE, [hostile])
    ws = load_workbook(path)["Review"]
    for col, value in ((2, "=1+1"), (3, "@SUM(A1)"), (4, '=HYPERLINK("http://x","y")'),
                       (6, "-2"), (7, "+cmd|' /C calc'!A0")):
        cell = ws.cell(2, col)
        assert cell.data_type == "s" and cell.value == value and cell.quotePrefix


# --- refusals -------------------------------------------------------------------------------


def _set_meta(key: str, value: str) -> Any:
    def change(wb: Any) -> None:
        ws = wb["_auditpack"]
        for r in range(1, ws.max_row + 1):
            if ws.cell(r, 1).value == key:
                ws.cell(r, 2).value = value
    return change


def _cell(row: int, header: str, value: Any) -> Any:
    def change(wb: Any) -> None:
        wb["Review"].cell(row, HEADERS.index(header) + 1).value = value
    return change


def _both(*changes: Any) -> Any:
    def change(wb: Any) -> None:
        for c in changes:
            c(wb)
    return change


def _append_copy(row_id_value: str | None) -> Any:
    def change(wb: Any) -> None:
        ws = wb["Review"]
        values = [c.value for c in ws[2]]
        values[0] = row_id_value if row_id_value is not None else values[0]
        ws.append(values)
    return change


def _delete_row(wb: Any) -> None:
    wb["Review"].delete_rows(3)


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">'.encode()
                             for i in range(1, 10)).replace(b"&lol0;", b"&lol;")
                  + b']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
                  b'main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is>'
                  b"</c></row></sheetData></worksheet>")

# name -> (how to spoil reviewer ONE's filled workbook, what stderr must say, extra CLI args)
REFUSALS: dict[str, tuple[Any, list[str], list[str]]] = {
    "wrong campaign": (_set_meta("campaign_id", "2026-Q3-deadbeef"),
                       ["belongs to campaign '2026-Q3-deadbeef', which this store does not "
                        "hold"], []),
    "tampered locked cell": (_cell(2, "Role", "primary_owner"),
                             ["row 2, column 'Role': locked cell changed", "'primary_owner'"],
                             []),
    "tampered date": (_cell(3, "Last activity", datetime(2020, 1, 1)),
                      ["row 3, column 'Last activity': locked cell changed"], []),
    "unknown decision": (_cell(2, "Decision", "Maybe"),
                         ["row 2, column 'Decision': 'Maybe' is not one of Keep, Revoke, Modify"],
                         []),
    "missing justification": (_both(_cell(2, "Decision", "Revoke"),
                                    _cell(2, "Justification", None)),
                              ["row 2, column 'Justification': Revoke needs a justification"],
                              []),
    "row added": (_append_copy("RNOTINCAMPAIGN"),
                  ["row 'RNOTINCAMPAIGN' is not in this campaign"], []),
    "row duplicated": (_append_copy(None), ["appears twice"], []),
    "row removed": (_delete_row, ["was removed from the workbook"], []),
    "several problems at once": (_both(_cell(2, "E-mail", "x@evil.test"),
                                       _cell(3, "Decision", "Delete")),
                                 ["2 problems", "row 2, column 'E-mail'",
                                  "row 3, column 'Decision'"], []),
    "another reviewer's rows": (_set_meta("reviewer", TWO),
                                ["is assigned to another reviewer"], []),
    "imported by another reviewer": (lambda wb: None, ["cannot import it"],
                                     ["--reviewer", TWO]),
    "header changed": (_cell(1, "Role", "Role (edited)"), ["the header row was changed"], []),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_bad_workbooks_are_refused_and_nothing_recorded(
        case: str, campaign: dict[str, Any], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    spoil, expected, extra = REFUSALS[case]
    filled = fill(book_of(campaign, ONE), keep_all, tmp_path / "filled.xlsx")
    bad = edit(filled, tmp_path / "returned.xlsx", spoil)
    _assert_refused(campaign, bad, expected, extra, capsys)


def _hostile_files(campaign: dict[str, Any], tmp: Path) -> dict[str, tuple[Path, str]]:
    source = book_of(campaign, ONE)
    with zipfile.ZipFile(source) as zf:
        parts = zf.namelist()
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in parts:
            with zipfile.ZipFile(source) as src:
                zf.writestr(name, src.read(name))
        zf.writestr("xl/media/padding.bin", b"\0" * (32 * 2**20))
    (tmp / "zipbomb.xlsx").write_bytes(bomb.getvalue())
    (tmp / "random.xlsx").write_bytes(hashlib.sha512(b"x").digest() * 100)
    (tmp / "truncated.xlsx").write_bytes(source.read_bytes()[:2000])
    return {
        "xml bomb": (replace_part(source, tmp / "laughs.xlsx", "xl/worksheets/sheet1.xml",
                                  BILLION_LAUGHS), "hostile XML"),
        "xml bomb in shared strings": (replace_part(
            source, tmp / "laughs2.xlsx", "xl/sharedStrings.xml", BILLION_LAUGHS), "hostile XML"),
        "external entity": (replace_part(
            source, tmp / "xxe.xlsx", "xl/workbook.xml",
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<r>&x;</r>"), "hostile XML"),
        "zip bomb": (tmp / "zipbomb.xlsx", "zip bomb"),
        "not a zip": (tmp / "random.xlsx", "not an XLSX file"),
        "truncated": (tmp / "truncated.xlsx", "not an XLSX file"),
        "malformed xml": (replace_part(source, tmp / "broken.xlsx", "xl/workbook.xml",
                                       b"<workbook><sheets>"), "malformed XML"),
    }


@pytest.mark.parametrize("case", ["xml bomb", "xml bomb in shared strings", "external entity", "zip bomb", "not a zip",
                                  "truncated", "malformed xml"])
def test_hostile_files_are_refused(case: str, campaign: dict[str, Any], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    path, expected = _hostile_files(campaign, tmp_path)[case]
    _assert_refused(campaign, path, [expected], [], capsys)


def _assert_refused(campaign: dict[str, Any], path: Path, expected: list[str],
                    extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    cs: CampaignStore = campaign["cs"]
    cid = campaign["campaign"].campaign_id
    before = [r.file_sha256 for r in cs.imports(cid)]
    capsys.readouterr()
    assert review(campaign["cfg"], "import", str(path), *extra) == 1
    err = capsys.readouterr().err
    assert "refused" in err and "nothing recorded" in err
    for text in expected:
        assert text in err, (text, err)
    assert "Traceback" not in err
    assert [r.file_sha256 for r in cs.imports(cid)] == before
    assert not cs.has_import(cid, hashlib.sha256(path.read_bytes()).hexdigest())


def test_import_records_decisions_once(campaign: dict[str, Any], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    cs: CampaignStore = campaign["cs"]
    c: Campaign = campaign["campaign"]
    first = c.assignments[TWO][0]

    def decide(row: dict[str, Any]) -> tuple[str | None, str | None]:
        return ("Revoke", "moved to another team") if row["Row ID"] == first else ("keep", None)

    filled = fill(book_of(campaign, TWO), decide, tmp_path / "two.xlsx")
    assert review(campaign["cfg"], "import", str(filled), "--reviewer", TWO.upper(),
                  "--at", "2026-10-06T09:00:00Z") == 0
    assert review(campaign["cfg"], "import", str(filled)) == 0
    assert "already imported" in capsys.readouterr().out
    records = [r for r in cs.imports(c.campaign_id) if r.reviewer == TWO]
    assert len(records) == 1
    (record,) = records
    assert record.imported_at == datetime(2026, 10, 6, 9, tzinfo=UTC)
    assert record.file_sha256 == hashlib.sha256(filled.read_bytes()).hexdigest()
    standing = cs.decisions(c.campaign_id)
    assert standing[first][0].decision == "Revoke"
    assert standing[first][0].justification == "moved to another team"
    assert {standing[r][0].decision for r in c.assignments[TWO][1:]} == {"Keep"}
    capsys.readouterr()
    assert review(campaign["cfg"], "status", "--today", "2026-10-30") == 0
    out = capsys.readouterr().out
    total = len(cs.rows(c.campaign_id))
    assert f"{len(c.assignments[TWO])}/{total} rows decided" in out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith(ONE))
    assert "OVERDUE" in line
    line = next(ln for ln in out.splitlines() if ln.strip().startswith(TWO))
    assert "OVERDUE" not in line
    assert review(campaign["cfg"], "close", "--attested-by", "CISO") == 1
    assert "rows are still undecided" in capsys.readouterr().err


def test_a_second_campaign_cannot_start_while_one_is_open(
        campaign: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert review(campaign["cfg"], "start", "--period", "2026-Q3") == 2
    assert "is still open" in capsys.readouterr().err


# --- assignment rules -------------------------------------------------------------------------


def _row(email: str, groups: str = "", org: str = "Org A") -> MemberRow:
    return MemberRow(row_id=row_id(org, email), org_uuid=org.lower().replace(" ", "-"),
                     organization=org, user_id=f"user_{email.split('@')[0]}", email=email,
                     name=None, role="user", groups=groups, workspaces=0, active_keys=0,
                     joined_at=None, last_activity=None, dormant=False, leaver=False, change="")


def test_most_specific_rule_wins_and_nobody_reviews_themselves() -> None:
    rules = Rules(people={"ann@x.test": "boss@x.test", "user_bob": "boss@x.test"},
                  groups=[("eng", "eng.lead@x.test"), ("ops", "ops.lead@x.test")],
                  orgs={"org a": "org.owner@x.test"})
    rows = [_row("ann@x.test", "Eng"), _row("bob@x.test"), _row("cy@x.test", "Ops; Eng"),
            _row("eng.lead@x.test", "Eng"), _row("dee@x.test"), _row("eve@x.test", org="B")]
    plan = assign(rows, rules, "fallback@x.test", {})
    where = {rid: reviewer for reviewer, ids in plan.by_reviewer.items() for rid in ids}
    assert where[rows[0].row_id] == "boss@x.test"  # the person's own rule beats the group
    assert where[rows[1].row_id] == "boss@x.test"  # by user id
    assert where[rows[2].row_id] == "eng.lead@x.test"  # first group rule in file order
    assert where[rows[3].row_id] == "org.owner@x.test"  # not their own reviewer
    assert where[rows[4].row_id] == "org.owner@x.test"
    assert where[rows[5].row_id] == "fallback@x.test"
    unassigned = assign(rows, Rules(groups=[("eng", "eng.lead@x.test")]), None, {})
    assert unassigned.unassigned[rows[3].row_id] == \
        "the only reviewer found is the member themselves"
    assert unassigned.unassigned[rows[1].row_id].startswith("no reviewer rule matches")


@pytest.mark.parametrize(("text", "message"), [
    ("who,reviewer\na@x.test,b@x.test\n", "must name the columns"),
    ("member,reviewer\na@x.test,not-an-email\n", "line 2: reviewer 'not-an-email'"),
    ("member,reviewer\n,b@x.test\n", "line 2: the member is empty"),
])
def test_bad_reviewer_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        read_rules(path)


def test_snapshot_model_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="extra"):
        Snapshot.model_validate({"as_of": "2026-10-05T00:00:00Z", "directory_snapshot_id": "x",
                                 "directory_snapshot_as_of": "2026-10-05T00:00:00Z",
                                 "members": 1, "members_sha256": "0", "surprise": 1})
