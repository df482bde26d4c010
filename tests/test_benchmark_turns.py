"""How the request benchmarks fold their mirrored turns into one row (benchmarks/load.py): a
turn that was slow or failed must show in the row, never be averaged away; percentiles are
those of all the turns' requests together."""

from __future__ import annotations

from typing import Any, cast

import pytest

from benchmarks.load import HEADROOM, MIN_REQUESTS, Load, LoadResult, combined, percentile


def turn(
    requests: int,
    seconds: float,
    p50: float,
    p99: float,
    histogram: dict[int, int] | None = None,
    **more: int,
) -> LoadResult:
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
        histogram=histogram or {},
    )


def test_rates_add_up_over_the_turns_and_percentiles_are_of_all_their_requests() -> None:
    fast = {10_000: 2970, 40_000: 30}  # µs → requests: 99 % at 10 ms, 1 % at 40 ms
    slow = {30_000: 960, 90_000: 40}  # 96 % at 30 ms, 4 % at 90 ms
    row = combined("help", [turn(3000, 4.0, 10, 40, fast), turn(1000, 4.0, 30, 90, slow, cpu=3)])
    assert row.rate == pytest.approx(500.0)  # 4,000 requests in 8 s, not the mean of rates
    # Of 4,000: 2,970 at 10 ms, 960 at 30, 30 at 40, 40 at 90. The 3,960th is at 40 ms.
    assert (row.p50_ms, row.p90_ms, row.p99_ms) == (10.0, 30.0, 40.0)
    assert row.max_ms == 180
    assert row.cpu_ms_per_request == pytest.approx(1.5)
    assert row.sent == 4100
    assert row.histogram == {10_000: 2970, 30_000: 960, 40_000: 30, 90_000: 40}


def test_without_a_histogram_the_worst_turns_percentiles_are_the_rows() -> None:
    row = combined("help", [turn(3000, 4.0, 10, 40, {10_000: 3000}), turn(0, 4.0, 30, 90)])
    assert (row.p50_ms, row.p99_ms) == (30, 90)


def test_percentile_is_the_nearest_rank() -> None:
    histogram = {1: 50, 2: 49, 7: 1}
    assert [percentile(histogram, p) for p in (1, 50, 51, 99, 99.5, 100)] == [1, 1, 2, 2, 7, 7]
    with pytest.raises(ValueError):
        percentile({}, 99)


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


def test_a_turn_is_written_headroom_times_what_the_fastest_turn_answered_within_bounds() -> None:
    load = Load("help", cast(Any, None), lambda first, count: [], requests=40_000)
    load.runs.append(turn(200, 2.0, 10, 40))  # a warm-up (100/s, a cold start) does not count
    assert load.count_for(4.0) == 40_000  # no turn yet: the ceiling
    load.turns.append(turn(4_000, 4.0, 10, 40))  # 1,000/s
    load.turns.append(turn(2_400, 4.0, 10, 40))  # a slower turn does not lower it
    assert load.count_for(4.0) == int(1_000 * 4.0 * HEADROOM)
    load.turns.append(turn(200_000, 4.0, 10, 40))  # 50,000/s: the ceiling again
    assert load.count_for(4.0) == 40_000
    slow = Load("submit", cast(Any, None), lambda first, count: [], requests=40_000)
    slow.turns.append(turn(10, 1.0, 10, 40))
    assert slow.count_for(4.0) == MIN_REQUESTS
