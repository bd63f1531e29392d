"""tokentag.forked: results from real forked workers, their failures, and their reaping."""

from __future__ import annotations

import os
import time

import pytest

from tokentag.importer import forked

pytestmark = pytest.mark.skipif(not forked.available(), reason="fork is used on Linux only")


def square_with_pid(job: int) -> tuple[int, int, bytes]:
    # Every 7th result is larger than a pipe holds, so writes and reads come in pieces.
    return job * job, os.getpid(), b"x" * (1 << 20 if job % 7 == 0 else 10)


def fail_on_13(job: int) -> int:
    if job == 13:
        raise KeyError(f"job {job}")
    return job


def die_on_5(job: int) -> int:
    if job == 5:
        os._exit(3)
    return job


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_every_job_s_result_comes_back_once_from_the_workers() -> None:
    jobs = list(range(40))
    parts = forked.shares(jobs, lambda job: job, 3)
    got = list(forked.results(square_with_pid, parts))
    assert sorted(square for square, _, _ in got) == [job * job for job in jobs]
    assert {len(blob) for _, _, blob in got} == {10, 1 << 20}
    pids = {pid for _, pid, _ in got}
    assert len(pids) == 3 and os.getpid() not in pids
    assert all(gone(pid) for pid in pids)  # reaped, not left as zombies


def test_shares_balance_sizes_and_start_with_the_largest_job() -> None:
    sizes = [50, 1, 30, 30, 20, 10, 9, 8, 7, 5]
    parts = forked.shares(sizes, lambda size: size, 3)
    assert sorted(size for part in parts for size in part) == sorted(sizes)
    totals = [sum(part) for part in parts]
    assert max(totals) - min(totals) <= max(sizes) // 2
    assert all(part == sorted(part, reverse=True) for part in parts)
    assert forked.shares([4], lambda size: size, 3) == [[4]]


def test_a_worker_s_exception_is_raised_in_the_parent() -> None:
    with pytest.raises(KeyError, match="job 13"):
        list(forked.results(fail_on_13, forked.shares(list(range(30)), lambda job: 1, 2)))


def test_a_worker_that_dies_is_an_error_not_missing_results() -> None:
    with pytest.raises(RuntimeError, match="ended early"):
        list(forked.results(die_on_5, [[1, 2, 3], [4, 5, 6]]))


def test_a_parent_that_stops_early_terminates_and_reaps_its_workers() -> None:
    results = forked.results(square_with_pid, [list(range(0, 400, 2)), list(range(1, 400, 2))])
    _, pid, _ = next(results)
    results.close()
    assert gone(pid)


def finished_at(job: int) -> tuple[float, bytes]:
    return time.monotonic(), b"x" * 100_000


def test_a_worker_reads_on_while_the_parent_is_busy() -> None:
    # 20 results of 100 kB: more than a default 64 KiB pipe holds, so without the wider
    # pipe and the held backlog the worker would wait for the parent's second read.
    results = forked.results(finished_at, [list(range(20))])
    next(results)
    time.sleep(0.5)  # the parent writing a batch
    resumed = time.monotonic()
    finished = [at for at, _ in results]
    assert len(finished) == 19
    assert max(finished) < resumed


def test_a_backlog_beyond_its_bound_waits_and_still_arrives_whole(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forked, "BACKLOG_BYTES", 150_000)
    results = forked.results(square_with_pid, [list(range(1, 30))])
    first = next(results)
    time.sleep(0.2)
    got = [first, *results]
    assert sorted(square for square, _, _ in got) == [job * job for job in range(1, 30)]
    assert sum(len(blob) for _, _, blob in got) == 4 * (1 << 20) + 25 * 10


def slow(job: int) -> int:
    time.sleep(0.05)
    return job


def test_the_parent_is_told_whenever_it_would_wait() -> None:
    idle: list[int] = []
    got: list[int] = []
    results = forked.results(slow, [[1, 2, 3], [4, 5, 6]], lambda: idle.append(len(got)))
    for result in results:
        got.append(result)
    assert sorted(got) == [1, 2, 3, 4, 5, 6]
    assert idle[0] == 0 and len(idle) >= 3  # before the first result, and between later ones


def big_then_slow(job: int) -> bytes:
    if job == 0:
        return b"x" * (3 << 20)  # more than the pipe holds: the worker keeps the rest
    time.sleep(1.0 if job == 1 else 0.1)
    return b"%d" % job


def test_a_result_still_being_written_does_not_hold_up_the_others() -> None:
    start = time.monotonic()
    arrived = {}
    for result in forked.results(big_then_slow, [[0, 1], [10, 11, 12]]):
        arrived[len(result) if len(result) > 100 else int(result)] = time.monotonic() - start
    assert set(arrived) == {3 << 20, 1, 10, 11, 12}
    assert max(arrived[10], arrived[11], arrived[12]) < 0.8 < arrived[1]
