"""A circuit breaker per subgraph: a source that keeps failing is not called again for a while.

A hung or broken subgraph would otherwise cost every request its full timeout. After ``threshold``
consecutive failures the breaker opens, and calls fail at once (no request is sent) for ``cool_down``
seconds; then it is half-open and lets one probe through. The probe's success closes it, its failure opens
it for another cool-down. Only failures of the subgraph count (transport errors, timeouts, 5xx, malformed
answers): a refusal or a per-entity error is an answer from a subgraph that is up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

__all__ = ["CircuitBreaker", "State"]

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Consecutive-failure breaker; ``clock`` is monotonic seconds (injected for tests that step time)."""

    def __init__(self, *, threshold: int = 5, cool_down: float = 5.0, clock: Callable[[], float] = time.monotonic):
        if threshold < 1 or cool_down <= 0:
            raise ValueError("a circuit breaker needs threshold >= 1 and cool_down > 0")
        self.threshold = threshold
        self.cool_down = cool_down
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._probing or self._clock() - self._opened_at >= self.cool_down:
            return "half_open"
        return "open"

    def admit(self) -> bool:
        """Whether a call may go out now. In half-open, only one caller is admitted, as the probe."""
        if self._opened_at is None:
            return True
        if self._probing or self._clock() - self._opened_at < self.cool_down:
            return False
        self._probing = True
        return True

    def succeeded(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def failed(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.threshold:
            self._opened_at = self._clock()
        self._probing = False

    def abandoned(self) -> None:
        """An admitted call ended without a verdict (cancelled): the next caller may probe at once."""
        self._probing = False
