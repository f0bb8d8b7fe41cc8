"""The write path's figures when the two endpoints take turns: runs merged, ratio the median of the rounds."""

from __future__ import annotations

from bench.http import LoadResult
from bench.report import targets
from bench.scenarios import paired_ratio


def test_runs_at_one_concurrency_merge_into_one() -> None:
    a = LoadResult(16, 4.0, 400, 1, [0.01] * 400, {201: 400, 503: 1})
    b = LoadResult(16, 4.0, 600, 0, [0.02] * 600, {201: 600})
    merged = LoadResult.merged([a, b]).summary()
    assert merged["requests_ok"] == 1000
    assert merged["seconds"] == 8.0
    assert merged["req_per_s"] == 125.0
    assert merged["errors"] == 1
    assert merged["statuses"] == {"201": 1000, "503": 1}
    assert merged["p50_ms"] == 20.0  # the latencies of both runs, not of the first


def test_the_target_row_shows_the_median_and_every_round() -> None:
    row = {
        "concurrency": 4,
        "registry": {"req_per_s": 410.0},
        "bare_fastapi": {"req_per_s": 1000.0},
        "ratio": 0.41,
        "round_ratios": [0.45, 0.39, 0.41],
    }
    [target] = targets({"write_path": [row]})
    assert target["pass"] is True
    assert target["measured"] == "41.0 % (median of rounds 45.0 % / 39.0 % / 41.0 %; all rounds 410.0 / 1000.0 req/s)"
    [below] = targets({"write_path": [{**row, "ratio": 0.39}]})
    assert below["pass"] is False


def _run(rate: float) -> LoadResult:
    ok = int(rate * 2)
    return LoadResult(4, 2.0, ok, 0, [0.01] * ok, {201: ok} if ok else {})


def test_the_ratio_is_the_median_of_the_rounds() -> None:
    ratio, rounds = paired_ratio([_run(400), _run(300), _run(450), _run(420)], [_run(1000)] * 4)
    assert rounds == [0.4, 0.3, 0.45, 0.42]
    assert ratio == 0.41  # the mean of the middle two


def test_a_round_in_which_the_registry_served_nothing_counts_as_zero() -> None:
    ratio, rounds = paired_ratio([_run(0), _run(420), _run(430), _run(0)], [_run(1000)] * 4)
    assert rounds == [0.0, 0.42, 0.43, 0.0]
    assert ratio == 0.21  # not 0.425: a failing round is a data point, not a missing one


def test_a_round_without_a_floor_leaves_the_figure_unknown() -> None:
    ratio, rounds = paired_ratio([_run(400)] * 4, [_run(1000), _run(0), _run(1000), _run(1000)])
    assert rounds == [0.4, None, 0.4, 0.4]
    assert ratio is None
