"""EV02 reading attested review campaigns: counted, incomplete, unverified, stale, closed early.

The review tables are registered on the sample's read-only connection exactly as a build does
(`register_review_tables`), from attestations made by the real close command.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auditpack.evidence import compute_all
from auditpack.evidence.interface import Status
from auditpack.review.records import register_review_tables, relevant_attestations
from tests.evidence.conftest import CollectedOrg
from tests.evidence.review_helpers import copy_store, review


@pytest.fixture(scope="module")
def closed(sample: CollectedOrg, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A campaign nobody answered, closed with --allow-incomplete."""
    from auditpack.cli import main

    work = tmp_path_factory.mktemp("incomplete")
    store, cfg = copy_store(sample, work)
    assert main(["keys", "generate", "--config", str(cfg), "--insecure-no-passphrase"]) == 0
    assert review(cfg, "start", "--period", "2026-Q3", "--fallback-reviewer",
                  "it.lead@example.test", "--at", "2026-10-05T08:00:00Z") == 0
    assert review(cfg, "close", "--attested-by", "CISO", "--at", "2026-10-05T09:00:00Z") == 1
    assert review(cfg, "close", "--attested-by", "CISO", "--allow-incomplete",
                  "--at", "2026-10-05T09:00:00Z") == 0
    return {"store": store, "work": work}


def _later(sample: CollectedOrg) -> datetime:
    """A build the day after the sample's last collection, after the campaign closed."""
    return sample.as_of + timedelta(days=1)


def _ev02(sample: CollectedOrg, attestations: list[Any], **context: Any) -> Any:
    con = sample.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        register_review_tables(con, attestations)
        ctx = replace(sample.context(con), **{"as_of": _later(sample), **context})
        (result,) = compute_all(ctx, ["access_review"])
        return result
    finally:
        con.close()


def test_incomplete_close_is_recorded_and_reported(closed: dict[str, Any],
                                                   sample: CollectedOrg) -> None:
    (folder,) = (closed["store"] / "reviews").glob("*/attestation")
    document = json.loads((folder / "attestation.json").read_bytes())
    assert document["complete"] is False
    assert document["decision_counts"]["undecided"] == document["scope"]["rows"] > 0
    attestations = relevant_attestations(closed["store"], period_start=sample.period.start,
                                         as_of=_later(sample), public_key=None)
    assert [a.verified for a in attestations] == [True]
    result = _ev02(sample, attestations)
    assert result.status is Status.EXCEPTIONS
    assert [f.rule for f in result.findings] == ["review_closed_incomplete"]
    assert result.metrics["review_campaigns"] == 1


def test_a_complete_campaign_makes_the_review_effective(closed: dict[str, Any],
                                                        sample: CollectedOrg) -> None:
    (a,) = relevant_attestations(closed["store"], period_start=sample.period.start,
                                 as_of=_later(sample), public_key=None)
    complete = replace(a, document={**a.document, "complete": True,
                                    "decision_counts": {**a.document["decision_counts"],
                                                        "undecided": 0}})
    result = _ev02(sample, [complete])
    assert result.status is Status.EFFECTIVE and not result.findings
    # an attestation closed long before the period ends is stale
    old = replace(complete, document={**complete.document, "closed_at": "2026-01-05T09:00:00Z"})
    stale = _ev02(sample, [old])
    assert [f.rule for f in stale.findings] == ["review_interval_exceeded"]


def test_an_attestation_of_another_key_is_not_counted(closed: dict[str, Any],
                                                      sample: CollectedOrg,
                                                      tmp_path: Path) -> None:
    from auditpack.package import generate_key

    other = generate_key(tmp_path / "k.pem", None, insecure_no_passphrase=True)
    (a,) = relevant_attestations(closed["store"], period_start=sample.period.start,
                                 as_of=_later(sample), public_key=other.public_key())
    assert not a.verified
    result = _ev02(sample, [a])
    assert "attestation_unverified" in [f.rule for f in result.findings]
    assert result.metrics["review_campaigns"] == 0


def test_attestations_closed_after_as_of_are_left_out(closed: dict[str, Any],
                                                      sample: CollectedOrg) -> None:
    # the sample's last collection (06:00) comes before the 09:00 close
    assert relevant_attestations(closed["store"], period_start=sample.period.start,
                                 as_of=sample.as_of, public_key=None) == []
