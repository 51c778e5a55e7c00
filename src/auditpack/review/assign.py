"""Who reviews whom: rules from a CSV, a fallback reviewer, and no one reviewing themselves.

The CSV has a header with `member` and `reviewer` columns. A member is an e-mail address, a
user id, `group:<name or id>` or `org:<name or uuid>`. For each row the most specific rule
wins: the person (e-mail or id), then their groups (in file order), then their organization,
then the fallback reviewer. A reviewer is never assigned their own access; the next rule
applies instead. Rows no rule reaches stay in the campaign as unassigned, with the reason.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from auditpack.errors import UsageError
from auditpack.review.model import MemberRow

MAX_CSV_BYTES = 16 * 1024 * 1024
_EMAIL = re.compile(r"[^@\s,;<>\"']+@[^@\s,;<>\"']+\.[^@\s,;<>\"']+")


@dataclass
class Rules:
    """Reviewer rules read from the CSV, by kind, keys lower-cased."""

    people: dict[str, str] = field(default_factory=dict)  # e-mail or user id -> reviewer
    groups: list[tuple[str, str]] = field(default_factory=list)  # (group name or id, reviewer)
    orgs: dict[str, str] = field(default_factory=dict)  # org name or uuid -> reviewer
    texts: dict[str, str] = field(default_factory=dict)  # rule key -> as written, for messages


def valid_email(text: str) -> bool:
    return _EMAIL.fullmatch(text) is not None


def read_rules(path: Path) -> Rules:
    """Parse the reviewers CSV; raises UsageError naming the line of the first bad entry."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read reviewers file {path}: {exc.strerror}") from None
    if len(data) > MAX_CSV_BYTES:
        raise UsageError(f"reviewers file {path} is larger than {MAX_CSV_BYTES // 2**20} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"reviewers file {path} is not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    if "member" not in header or "reviewer" not in header:
        raise UsageError(f"reviewers file {path}: the header must name the columns `member` "
                         "and `reviewer`")
    m_col, r_col = header.index("member"), header.index("reviewer")
    rules = Rules()
    for line, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue
        if len(record) <= max(m_col, r_col):
            raise UsageError(f"reviewers file {path}, line {line}: expected a member and a "
                             "reviewer")
        member, reviewer = record[m_col].strip(), record[r_col].strip().lower()
        if not member:
            raise UsageError(f"reviewers file {path}, line {line}: the member is empty")
        if not valid_email(reviewer):
            raise UsageError(f"reviewers file {path}, line {line}: reviewer {reviewer!r} is not "
                             "an e-mail address")
        kind, _, name = member.partition(":")
        if kind.lower() == "group" and name.strip():
            rules.groups.append((name.strip().lower(), reviewer))
            rules.texts[f"group:{name.strip().lower()}"] = member
        elif kind.lower() == "org" and name.strip():
            rules.orgs[name.strip().lower()] = reviewer
            rules.texts[f"org:{name.strip().lower()}"] = member
        else:
            rules.people[member.lower()] = reviewer
            rules.texts[member.lower()] = member
    return rules


@dataclass(frozen=True)
class Assignment:
    """Reviewer -> row ids, the rows nobody could review and why, and rules that matched nothing."""

    by_reviewer: dict[str, list[str]]
    unassigned: dict[str, str]
    unmatched_rules: list[str]


def assign(rows: list[MemberRow], rules: Rules, fallback: str | None,
           group_ids: dict[str, str]) -> Assignment:
    """Assign every row; `group_ids` maps group names (lower-case) to their ids (lower-case)."""
    fallback = fallback.lower() if fallback else None
    used: set[str] = set()
    by_reviewer: dict[str, list[str]] = {}
    unassigned: dict[str, str] = {}
    for row in rows:
        own = (row.email or "").lower()
        names = [g.strip().lower() for g in row.groups.split(";") if g.strip()]
        held = set(names) | {group_ids[n] for n in names if n in group_ids}
        candidates = [(key, rules.people[key]) for key in (own, row.user_id.lower())
                      if key and key in rules.people]
        candidates += [(f"group:{g}", r) for g, r in rules.groups if g in held]
        for key in ((row.organization or "").lower(), (row.org_uuid or "").lower()):
            if key and key in rules.orgs:
                candidates.append((f"org:{key}", rules.orgs[key]))
        used.update(key for key, _ in candidates)
        if fallback:
            candidates.append(("fallback", fallback))
        chosen = next((r for _, r in candidates if r != own), None)
        if chosen is None:
            unassigned[row.row_id] = ("the only reviewer found is the member themselves"
                                      if candidates else
                                      "no reviewer rule matches and no fallback reviewer is set")
            continue
        by_reviewer.setdefault(chosen, []).append(row.row_id)
    unmatched = sorted(text for key, text in rules.texts.items() if key not in used)
    return Assignment(dict(sorted(by_reviewer.items())), unassigned, unmatched)
