"""Run a function over jobs in forked worker processes and stream the results back.

`tokentag import` reads up to gigabytes of transcripts in parallel while one process
writes the ledger and the index. multiprocessing.Pool served, but its three handler
threads cost that writing process 0.3 s of CPU per gigabyte read, and contended with it
for the GIL (measured on the bench data: 0.06 s of CPU in the main thread, 0.35 s in the
process). Here each worker gets its share of the jobs up front and writes each result,
pickled and length-prefixed, to a pipe of its own; the parent reads whichever pipe is
ready.

A worker does not wait for the parent while it has work: results the pipe cannot take yet
are held and written between jobs, and the pipe is widened to what Linux allows an
unprivileged process. With a 64 KiB pipe the workers spent 0.4-0.5 s of a 1.0 s import
blocked while the parent wrote a batch; with both, the import took 0.85 s. A worker waits
only when it holds more than BACKLOG_BYTES, so memory stays bounded.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import select
import selectors
import signal
import struct
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")
_HEADER = struct.Struct("!Q")
PIPE_BYTES = 1 << 20  # fs.pipe-max-size's default: the most an unprivileged process may ask
BACKLOG_BYTES = 4 << 20  # per worker, held beyond what its pipe holds


class _Failure:
    """What a worker sends instead of a result when its function raised."""

    def __init__(self, error: BaseException) -> None:
        try:
            pickle.loads(pickle.dumps(error))  # some exceptions pickle but do not unpickle
            self.error = error
        except Exception:  # noqa: BLE001 - an error that does not pickle still gets told
            self.error = RuntimeError(f"{type(error).__name__}: {error}")


def available() -> bool:
    """Fork without exec: where it is the platform's own default, Linux."""
    return sys.platform.startswith("linux")


def shares(jobs: Sequence[Job], size: Callable[[Job], int], workers: int) -> list[list[Job]]:
    """Jobs split into `workers` shares of about the same total size, each share largest
    job first (the largest jobs go first to the least loaded share)."""
    parts: list[list[Job]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for job in sorted(jobs, key=size, reverse=True):
        least = loads.index(min(loads))
        parts[least].append(job)
        loads[least] += size(job)
    return [part for part in parts if part]


def results(work: Callable[[Job], Result], parts: list[list[Job]],
            on_idle: Callable[[], object] | None = None) -> Iterator[Result]:
    """`work(job)` for every job, each part in a forked process of its own, in the order
    they finish. An exception in a worker is raised here. `on_idle()` is called whenever
    no result is ready, before waiting for one."""
    pipes: dict[int, int] = {}  # read end -> worker pid
    try:
        for part in parts:
            read_end, write_end = os.pipe()
            _widen(write_end)
            pid = os.fork()
            if pid == 0:
                _worker(work, part, write_end, [read_end, *pipes])
            os.close(write_end)
            pipes[read_end] = pid
        yield from _collect(pipes, on_idle)
    finally:
        _stop(pipes)


def _worker(work: Callable[[Job], Result], part: list[Job], out: int, others: list[int]) -> None:
    """The child: never returns into the parent's code, never runs its exit handlers."""
    code = 0
    try:
        for fd in others:
            os.close(fd)
        outbox = _Outbox(out)
        for job in part:
            try:
                result: object = work(job)
            except BaseException as error:  # noqa: BLE001 - the parent raises it
                result, code = _Failure(error), 1
            outbox.put(pickle.dumps(result, pickle.HIGHEST_PROTOCOL))
            if code:
                break
        outbox.drain()
    except BaseException:  # noqa: BLE001 - the parent sees a worker that ended early
        code = 2
    finally:
        os._exit(code)


def _widen(fd: int) -> None:
    # A lower limit set by the administrator refuses it: the default size still works.
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class _Outbox:
    """A worker's length-prefixed results, written as far as the pipe takes them now."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.held: deque[memoryview] = deque()
        self.size = 0
        os.set_blocking(fd, False)
        self._writable = select.poll()
        self._writable.register(fd, select.POLLOUT)

    def put(self, data: bytes) -> None:
        self.held.append(memoryview(_HEADER.pack(len(data)) + data))
        self.size += len(self.held[-1])
        self._write()
        while self.size > BACKLOG_BYTES:
            self._wait_and_write()

    def drain(self) -> None:
        while self.held:
            self._wait_and_write()

    def _wait_and_write(self) -> None:
        self._writable.poll()
        self._write()

    def _write(self) -> None:
        while self.held:
            try:
                written = os.write(self.fd, self.held[0])
            except BlockingIOError:
                return
            self.size -= written
            if written == len(self.held[0]):
                self.held.popleft()
            else:
                self.held[0] = self.held[0][written:]


def _collect(pipes: dict[int, int], on_idle: Callable[[], object] | None,
             ) -> Iterator[Result]:
    """Each worker's results as they complete. Whatever a pipe holds is read into that
    worker's buffer: waiting on one worker for the rest of a result it is still writing
    would leave the others' results unread."""
    buffers = {fd: bytearray() for fd in pipes}
    with selectors.DefaultSelector() as selector:
        for fd in pipes:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            ready = selector.select(0)
            if not ready and on_idle is not None:
                on_idle()
            for key, _ in ready or selector.select():
                fd = int(key.fd)
                chunk = os.read(fd, PIPE_BYTES)
                if not chunk:  # the worker is done: it must have done all of its part
                    if buffers.pop(fd):
                        raise RuntimeError("an import worker ended in the middle of a result")
                    selector.unregister(fd)
                    _reap(pipes, fd)
                    continue
                buffers[fd] += chunk
                yield from _complete_results(buffers[fd])


def _complete_results(buffer: bytearray) -> Iterator[Result]:
    """The whole results at the start of `buffer`, taken out of it."""
    start = 0
    while len(buffer) - start >= _HEADER.size:
        end = start + _HEADER.size + _HEADER.unpack_from(buffer, start)[0]
        if end > len(buffer):
            break
        message = pickle.loads(memoryview(buffer)[start + _HEADER.size:end])
        start = end
        if isinstance(message, _Failure):
            raise message.error
        yield message
    del buffer[:start]


def _reap(pipes: dict[int, int], fd: int) -> None:
    pid = pipes.pop(fd)
    os.close(fd)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if code != 0:
        raise RuntimeError(f"an import worker ended early (exit status {code})")


def _stop(pipes: dict[int, int]) -> None:
    """Close the pipes and reap the workers not reaped yet; those still running (the
    parent is leaving early, on an error) are terminated first."""
    for fd, pid in pipes.items():
        os.close(fd)
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if not finished:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
    pipes.clear()
