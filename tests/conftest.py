"""Shared fixtures: a clean AUDITPACK_* environment for every test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's keys or settings."""
    import os

    for name in list(os.environ):
        if name.startswith("AUDITPACK_"):
            monkeypatch.delenv(name)


import json  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import date, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from auditpack.mockapi.server import MockApi  # noqa: E402
from auditpack.mockapi.synth import generate  # noqa: E402
from auditpack.mockapi.synth_truth import GroundTruth  # noqa: E402


@dataclass
class Org:
    """A generated dataset and what the generator says it holds."""

    path: Path
    meta: dict[str, Any]
    truth: GroundTruth

    @property
    def schedule(self) -> list[datetime]:
        return [parse_time(m) for m in self.meta["collection_schedule"]]

    @property
    def start(self) -> date:
        return date.fromisoformat(self.meta["period"]["start"])

    @property
    def keys(self) -> dict[str, str]:
        return dict(self.meta["keys"])


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def make_org(root: Path, **kwargs: Any) -> Org:
    truth = generate(root, **kwargs)
    return Org(root, json.loads((root / "dataset.json").read_text()), truth)


@pytest.fixture(scope="session")
def small_org(tmp_path_factory: pytest.TempPathFactory) -> Org:
    """30 members over two weeks: fast enough for every collection test."""
    return make_org(tmp_path_factory.mktemp("small-org"), users=30, days=14, seed=21)


@pytest.fixture(scope="session")
def paged_org(tmp_path_factory: pytest.TempPathFactory) -> Org:
    """Enough members and events that every list needs more than one page at maximum size."""
    return make_org(tmp_path_factory.mktemp("paged-org"), users=1150, days=14, seed=5,
                    events=12_500)


@pytest.fixture()
def mock(small_org: Org) -> Iterator[MockApi]:
    with MockApi(small_org.path, rate_limit_analytics=0, rate_limit_compliance=0) as api:
        yield api
