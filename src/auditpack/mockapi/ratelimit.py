"""A sliding 60-second request budget per API, on the monotonic clock."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Admission:
    """The budget's answer to one request."""

    allowed: bool
    limit: int
    remaining: int
    reset_in: float  # seconds until the window holds no counted request
    retry_after: int  # whole seconds until a slot frees (0 when allowed)


class SlidingWindowLimiter:
    """At most ``limit`` admitted requests in any ``window`` seconds; ``limit`` 0 means no limit."""

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._admitted: deque[float] = deque()
        self._lock = threading.Lock()

    @property
    def unlimited(self) -> bool:
        return self.limit == 0

    def admit(self) -> Admission:
        """Count the request if a slot is free; refused requests are not counted."""
        if self.unlimited:
            return Admission(True, 0, 0, 0.0, 0)
        with self._lock:
            now = self._clock()
            while self._admitted and self._admitted[0] <= now - self.window:
                self._admitted.popleft()
            if len(self._admitted) >= self.limit:
                wait = self._admitted[0] + self.window - now
                reset = self._admitted[-1] + self.window - now
                return Admission(False, self.limit, 0, reset, max(1, math.ceil(wait)))
            self._admitted.append(now)
            # The request just counted is the newest, so the window empties one window from now.
            return Admission(True, self.limit, self.limit - len(self._admitted), self.window, 0)
