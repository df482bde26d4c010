"""How the request benchmarks fold their mirrored turns into one row (benchmarks/load.py): a
turn that was slow or failed must show in the row, never be averaged away."""

from __future__ import annotations

import pytest

from benchmarks.load import LoadResult, combined


def turn(requests: int, seconds: float, p50: float, p99: float, **more: int) -> LoadResult:
    return LoadResult(
        label="t",
        requests=requests,
        seconds=seconds,
        non_2xx=more.get("non_2xx", 0),
        socket_errors=more.get("socket_errors", 0),
        p50_ms=p50,
        p90_ms=p50 * 2,
        p99_ms=p99,
        max_ms=p99 * 2,
        wraps=more.get("wraps", 0),
        cpu_ms_per_request=more.get("cpu", 1),
        sent=requests + 50,
        matched=more.get("matched", -1),
    )


def test_rates_add_up_over_the_turns_and_the_worst_p99_is_the_rows() -> None:
    row = combined("help", [turn(3000, 4.0, 10, 40), turn(1000, 4.0, 30, 90, cpu=3)])
    assert row.rate == pytest.approx(500.0)  # 4,000 requests in 8 s, not the mean of rates
    assert row.p99_ms == 90 and row.max_ms == 180
    assert row.p50_ms == pytest.approx(15.0)  # weighted by each turn's requests
    assert row.cpu_ms_per_request == pytest.approx(1.5)
    assert row.sent == 4100


def test_errors_wraps_and_counted_answers_of_every_turn_are_kept() -> None:
    row = combined(
        "submit",
        [turn(10, 1.0, 1, 1, non_2xx=1, matched=9), turn(10, 1.0, 1, 1, wraps=1, matched=10)],
    )
    assert (row.non_2xx, row.wraps, row.matched) == (1, 1, 19)
    unchecked = combined("button", [turn(10, 1.0, 1, 1, matched=9), turn(10, 1.0, 1, 1)])
    assert unchecked.matched == -1  # a turn that did not count answers: none is claimed


def test_a_row_without_turns_is_refused() -> None:
    with pytest.raises(ValueError, match="no turns"):
        combined("help", [])
