"""The request pacer keeps a budget with a fake clock: exact, no sleeping in tests."""

from __future__ import annotations

from auditpack.sources import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_requests_are_spaced_to_stay_under_the_budget() -> None:
    clock = FakeClock()
    pacer = Pacer(60, margin=1.0, clock=clock, sleep=clock.sleep)
    for _ in range(61):
        pacer.wait()
    assert clock.now == 60.0  # 61 requests: the 61st waits until the minute is over


def test_retry_after_pushes_the_next_slot_back() -> None:
    clock = FakeClock()
    pacer = Pacer(600, margin=1.0, clock=clock, sleep=clock.sleep)
    pacer.wait()
    pacer.hold(5.0)
    pacer.wait()
    assert clock.now == 5.0


def test_zero_lifts_the_limit() -> None:
    clock = FakeClock()
    pacer = Pacer(0, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        pacer.wait()
    assert clock.now == 0.0
