"""Concurrency primitives for the sync layer (threads): the same API as ``_async_backend``."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from queue import SimpleQueue
from typing import TypeVar, Union

T = TypeVar("T")
R = TypeVar("R")


def sleep(seconds: float) -> None:
    time.sleep(seconds)


@contextlib.contextmanager
def worker_threads(count: int) -> Iterator[ThreadPoolExecutor | None]:
    """None: blocking work already runs in ``map_unordered``'s threads."""
    yield None


def run_in_worker(workers: ThreadPoolExecutor | None, fn: Callable[[T], R], item: T) -> R:
    return fn(item)


def blocking(fn: Callable[..., R]) -> Callable[..., R]:
    """``fn`` itself: a blocking call is already callable from any thread."""
    return fn


def map_unordered(
    fn: Callable[[T], R], items: Iterable[T], limit: int
) -> Iterator[tuple[T, Union[R, BaseException]]]:
    """Runs ``fn`` over ``items`` in at most ``limit`` threads; yields ``(item, result or error)`` as each call
    finishes. Items are pulled lazily; an exception from ``fn`` is yielded, not raised."""
    limit = max(1, limit)
    iterator = iter(items)
    # Finished futures report themselves on a queue: waiting costs O(1) per completion, where
    # concurrent.futures.wait(FIRST_COMPLETED) installs and removes a waiter on every pending future each time.
    finished: SimpleQueue[Future[R]] = SimpleQueue()
    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="orthanc-client") as pool:
        pending: dict[Future[R], T] = {}

        def refill() -> None:
            while len(pending) < limit:
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                future = pool.submit(fn, item)
                pending[future] = item
                future.add_done_callback(finished.put)

        refill()
        try:
            while pending:
                future = finished.get()
                item = pending.pop(future)
                error = future.exception()
                yield item, (error if error is not None else future.result())
                refill()
        finally:
            for future in pending:
                future.cancel()
