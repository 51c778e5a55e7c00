"""Injected failures: what can go wrong on the wire, reproducibly.

Each request gets its own generator seeded with ``(seed, sequence number)``, so a given seed and
request sequence always meets the same faults, whatever the timing or the thread that serves it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from auditpack.errors import UsageError


class FaultKind(StrEnum):
    SERVER_ERROR = "5xx"  # a 500, 502, 503 or 529 error response
    SLOW = "slow"  # the response is delayed by slow_seconds
    DROP = "drop"  # the connection closes without a response
    MALFORMED = "malformed"  # a 200 whose body is not JSON
    TRUNCATE = "truncate"  # a 200 whose body stops half-way; Content-Length promises more
    EXPIRE = "expire"  # the request's cursor is reported expired


SERVER_ERROR_STATUSES = (500, 502, 503, 529)
APIS = ("analytics", "compliance")


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    status: int | None = None  # for SERVER_ERROR


@dataclass(frozen=True)
class FaultSpec:
    """Per-request fault probabilities (in the order they are drawn) and their settings."""

    server_error: float = 0.0
    slow: float = 0.0
    drop: float = 0.0
    malformed: float = 0.0
    truncate: float = 0.0
    expire: float = 0.0
    seed: int = 0
    slow_seconds: float = 2.0
    only: str | None = None  # "analytics" or "compliance": faults hit that API only

    @classmethod
    def parse(cls, spec: str) -> FaultSpec:
        """Parse ``5xx=0.05,slow=0.02,...,seed=7,slow_seconds=2,only=compliance``."""
        values: dict[str, object] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, sep, raw = item.partition("=")
            name, raw = name.strip(), raw.strip()
            field = _FIELD_FOR.get(name)
            if not sep or field is None:
                raise UsageError(
                    f"--faults: cannot read {item!r}; expected NAME=VALUE with NAME one of "
                    f"{', '.join(_FIELD_FOR)}"
                )
            if field in values:
                raise UsageError(f"--faults: {name} is given twice")
            values[field] = _convert(name, raw)
        spec_value = cls(**values)  # type: ignore[arg-type]
        total = sum(rate for _, rate in spec_value._rates())
        if total > 1:
            raise UsageError(f"--faults: the probabilities add up to {total:g}, more than 1")
        return spec_value

    @property
    def active(self) -> bool:
        return any(rate > 0 for _, rate in self._rates())

    def decide(self, sequence: int, api: str | None, has_cursor: bool) -> Fault | None:
        """The fault for request number ``sequence``, if any.

        The draw happens for every request, so a fault that does not apply (another API, an
        expiry without a cursor) leaves the following decisions unchanged.
        """
        if not self.active:
            return None
        rng = random.Random(f"{self.seed}:{sequence}")
        draw, status = rng.random(), rng.choice(SERVER_ERROR_STATUSES)
        if api is None or (self.only is not None and api != self.only):
            return None
        threshold = 0.0
        for kind, rate in self._rates():
            threshold += rate
            if draw < threshold:
                if kind is FaultKind.EXPIRE and not has_cursor:
                    return None
                return Fault(kind, status if kind is FaultKind.SERVER_ERROR else None)
        return None

    def _rates(self) -> list[tuple[FaultKind, float]]:
        return [
            (FaultKind.SERVER_ERROR, self.server_error),
            (FaultKind.SLOW, self.slow),
            (FaultKind.DROP, self.drop),
            (FaultKind.MALFORMED, self.malformed),
            (FaultKind.TRUNCATE, self.truncate),
            (FaultKind.EXPIRE, self.expire),
        ]


_FIELD_FOR = {
    "5xx": "server_error",
    "slow": "slow",
    "drop": "drop",
    "malformed": "malformed",
    "truncate": "truncate",
    "expire": "expire",
    "seed": "seed",
    "slow_seconds": "slow_seconds",
    "only": "only",
}


def _convert(name: str, raw: str) -> object:
    if name == "only":
        if raw not in APIS:
            raise UsageError(f"--faults: only must be analytics or compliance, got {raw!r}")
        return raw
    try:
        value = int(raw) if name == "seed" else float(raw)
    except ValueError:
        raise UsageError(f"--faults: {name} must be a number, got {raw!r}") from None
    if name == "slow_seconds" and not 0 <= value <= 600:
        raise UsageError(f"--faults: slow_seconds must be between 0 and 600, got {raw}")
    if name not in ("seed", "slow_seconds") and not 0 <= value <= 1:
        raise UsageError(f"--faults: {name} is a probability between 0 and 1, got {raw}")
    return value
