"""The circuit breaker's states, stepped on a clock of our own: a table of named cases."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from resolvers.sources.remote import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# Each step: "ok" / "fail" (an admitted call's verdict), "cancel" (admitted, no verdict), "wait N",
# "deny" (admit() refuses), "admit" (admit() lets it through); then the expected state.
CASES: list[tuple[str, list[str], str]] = [
    ("fewer failures than the threshold stay closed", ["fail"] * 4, "closed"),
    ("the threshold opens it", ["fail"] * 5, "open"),
    ("a success resets the count", ["fail"] * 4 + ["ok"] + ["fail"] * 4, "closed"),
    ("open refuses until the cool-down", ["fail"] * 5 + ["wait 4.9", "deny"], "open"),
    ("after the cool-down it is half-open", ["fail"] * 5 + ["wait 5"], "half_open"),
    ("the probe's success closes it", ["fail"] * 5 + ["wait 5", "ok"], "closed"),
    ("the probe's failure opens it again", ["fail"] * 5 + ["wait 5", "fail", "deny"], "open"),
    ("one probe at a time", ["fail"] * 5 + ["wait 5", "admit", "deny", "deny"], "half_open"),
    ("a cancelled probe lets the next one probe", ["fail"] * 5 + ["wait 5", "admit", "cancel", "admit"], "half_open"),
    ("a reopened breaker waits a whole cool-down", ["fail"] * 5 + ["wait 5", "fail", "wait 4", "deny"], "open"),
]


@pytest.mark.parametrize(("steps", "state"), [(s, e) for _, s, e in CASES], ids=[n for n, _, _ in CASES])
def test_breaker(steps: list[str], state: str) -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=5, cool_down=5.0, clock=clock)
    verdicts: dict[str, Callable[[], None]] = {
        "ok": breaker.succeeded,
        "fail": breaker.failed,
        "cancel": breaker.abandoned,
    }
    for step in steps:
        if step.startswith("wait"):
            clock.now += float(step.split()[1])
        elif step == "deny":
            assert not breaker.admit()
        elif step == "admit":
            assert breaker.admit()
        elif step == "cancel":
            breaker.abandoned()
        else:
            assert breaker.admit()
            verdicts[step]()
    assert breaker.state == state


@pytest.mark.parametrize(("threshold", "cool_down"), [(0, 5.0), (5, 0.0)])
def test_a_breaker_that_could_never_work_is_refused(threshold: int, cool_down: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        CircuitBreaker(threshold=threshold, cool_down=cool_down)
