"""One way to map a function over tasks, locally or on a Dask cluster.

``imap(fn, items, initializer=..., initargs=..., executor="local"|"dask", jobs=N,
scheduler=ADDRESS)`` yields ``fn(item)`` for every item, **in item order**, as results come
back, so that the caller can store each one (e.g. in the feature cache) before the next
arrives; a run interrupted half-way keeps what was stored.

- ``local``: ``jobs == 1`` runs in this process (the initializer runs here once);
  ``jobs > 1`` uses a :class:`concurrent.futures.ProcessPoolExecutor` whose workers each run the
  initializer once (models loaded once per process). The pool is kept and reused by every later
  call with the same ``jobs``, initializer and initargs (issue 15: one pool for a whole audit, not
  one per call with the models loaded again); closed at exit or by :func:`close_pools`.
- ``dask``: a ``dask.distributed.Client`` connected to ``scheduler`` when given, else to a
  ``LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True)`` started on first use
  and reused by later calls in this process (closed at exit or by :func:`close_dask`). The
  initializer runs once per worker through a worker plugin. At most ``window`` tasks are in
  flight, so memory stays bounded whatever the number of items. Workers read inputs by path:
  on a remote cluster the paths must be visible to the workers (a shared file system).

Dask is an optional dependency (``pip install auditkit[dask]``).
"""
from __future__ import annotations

import atexit
import itertools
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

__all__ = ["EXECUTORS", "close_dask", "close_pools", "dask_client", "imap", "running_pool", "submit"]

EXECUTORS = ("local", "dask")

_CLIENTS: dict[tuple, Any] = {}
_POOLS: dict[tuple, ProcessPoolExecutor] = {}


def _check(executor: str, jobs: int) -> None:
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs!r}")


def imap(fn: Callable[[Any], Any], items: Iterable[Any], *, initializer: Callable[..., None] | None = None,
         initargs: tuple = (), executor: str = "local", jobs: int = 1, scheduler: str | None = None,
         chunksize: int = 1, window: int | None = None) -> Iterator[Any]:
    """Yield ``fn(item)`` for each item, in order, on the chosen executor.

    Parameters
    ----------
    fn : callable
        A picklable module-level function.
    items : iterable
        Its arguments, one per call (picklable).
    initializer, initargs : optional
        Run once per worker process before its first task (``initializer(*initargs)``).
    executor : {"local", "dask"}
    jobs : int
        Local worker processes, or the size of the local Dask cluster when no ``scheduler``.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); only with ``executor="dask"``.
    chunksize : int
        Items per task for the local process pool.
    window : int, optional
        The most tasks in flight: Dask tasks (default ``8 * workers``) or local chunks (default
        ``4 * jobs``).

    Examples
    --------
    >>> list(imap(abs, [-1, 2, -3]))
    [1, 2, 3]
    """
    _check(executor, jobs)
    if scheduler is not None and executor != "dask":
        raise ValueError(f"scheduler {scheduler!r} given but executor is {executor!r}; use executor='dask'")
    if executor == "dask":
        yield from _dask_imap(fn, items, initializer, initargs, jobs=jobs, scheduler=scheduler, window=window)
        return
    if jobs == 1:
        if initializer is not None:
            initializer(*initargs)
        for it in items:
            yield fn(it)
        return
    yield from _pool_imap(fn, items, initializer, initargs, jobs=jobs, chunksize=chunksize, window=window)


def _pool(jobs: int, initializer: Callable[..., None] | None, initargs: tuple) -> ProcessPoolExecutor:
    """The kept local pool for these settings (started on first use)."""
    key = (jobs, initializer, initargs)
    ex = _POOLS.get(key)
    if ex is None:
        ex = _POOLS[key] = ProcessPoolExecutor(max_workers=jobs, initializer=initializer, initargs=initargs)
    return ex


def submit(fn: Callable[..., Any], *args: Any, jobs: int, initializer: Callable[..., None] | None = None,
           initargs: tuple = ()) -> Any:
    """``fn(*args)`` as a Future on the kept local pool of ``jobs`` workers (the one :func:`imap`
    uses with the same settings), to overlap one task with this process's own work; None when
    no such pool is running (starting one, with its workers' initializer, would cost more)."""
    _check("local", jobs)
    ex = _POOLS.get((jobs, initializer, initargs))
    return ex.submit(fn, *args) if ex is not None else None


def running_pool() -> ProcessPoolExecutor | None:
    """A local pool this process keeps running (the largest), or None: work that needs no worker
    initialisation (the report's figures, issue 15) can use its idle workers."""
    return max(_POOLS.values(), key=lambda ex: ex._max_workers, default=None)


def close_pools() -> None:
    """Shut down the local process pools this process kept."""
    while _POOLS:
        _, ex = _POOLS.popitem()
        ex.shutdown(wait=True, cancel_futures=True)


atexit.register(close_pools)


def _run_chunk(fn: Callable[[Any], Any], chunk: list) -> list:
    return [fn(it) for it in chunk]


def _pool_imap(fn, items, initializer, initargs, *, jobs: int, chunksize: int,
               window: int | None) -> Iterator[Any]:
    """Chunks of ``chunksize`` items on the kept pool, at most ``window`` chunks in flight (default
    ``4 * jobs``); results in item order. Queued chunks are cancelled when the caller stops early;
    a pool whose worker died is dropped so that the next call starts a fresh one."""
    ex = _pool(jobs, initializer, initargs)
    window = window or 4 * jobs
    it = iter(items)

    def chunks():
        while True:
            c = list(itertools.islice(it, max(1, chunksize)))
            if not c:
                return
            yield c

    src = chunks()
    pending: deque = deque()
    try:
        for c in itertools.islice(src, window):
            pending.append(ex.submit(_run_chunk, fn, c))
        while pending:
            res = pending.popleft().result()
            for c in itertools.islice(src, 1):
                pending.append(ex.submit(_run_chunk, fn, c))
            yield from res
    except BrokenProcessPool:
        _POOLS.pop((jobs, initializer, initargs), None)
        raise
    finally:
        for fut in pending:
            fut.cancel()


def dask_client(*, scheduler: str | None = None, jobs: int = 1):
    """A (cached) ``dask.distributed.Client``: to ``scheduler``, else to a local cluster of
    ``jobs`` single-threaded worker processes."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RuntimeError("executor 'dask' needs dask.distributed; install auditkit[dask] "
                           "(pip install 'dask[distributed]')") from e
    key = ("scheduler", scheduler) if scheduler else ("local", jobs)
    client = _CLIENTS.get(key)
    if client is not None and client.status == "running":
        return client
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as e:
            raise RuntimeError(f"cannot reach the Dask scheduler at {scheduler!r}: {e}") from e
    else:
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        client = Client(cluster)
    _CLIENTS[key] = client
    return client


def close_dask() -> None:
    """Close the Dask clients (and local clusters) this process started."""
    while _CLIENTS:
        _, client = _CLIENTS.popitem()
        cluster = getattr(client, "cluster", None)
        try:
            client.close()
            if cluster is not None:
                cluster.close()
        except Exception as e:  # noqa: BLE001 - best effort at shutdown, never mask the real error
            warnings.warn(f"closing the Dask client failed: {type(e).__name__}: {e}", stacklevel=2)


atexit.register(close_dask)


def _plugin(initializer: Callable[..., None], initargs: tuple):
    from dask.distributed import WorkerPlugin

    class _Init(WorkerPlugin):
        """Runs ``initializer(*initargs)`` once on every worker (models loaded once)."""

        name = f"auditkit-init-{getattr(initializer, '__module__', '')}.{getattr(initializer, '__qualname__', '')}"

        def __init__(self) -> None:
            self.initializer, self.initargs = initializer, initargs

        def setup(self, worker) -> None:  # dask's hook: runs once when the worker starts
            self.initializer(*self.initargs)

    return _Init()


def _dask_imap(fn, items, initializer, initargs, *, jobs: int, scheduler: str | None,
               window: int | None) -> Iterator[Any]:
    client = dask_client(scheduler=scheduler, jobs=jobs)
    if initializer is not None:
        client.register_plugin(_plugin(initializer, initargs))
    n_workers = max(1, len(client.scheduler_info().get("workers", {})) or jobs)
    window = window or 8 * n_workers
    it = iter(items)
    pending: deque = deque()
    try:
        for item in itertools.islice(it, window):
            pending.append(client.submit(fn, item, pure=False))
        while pending:
            fut = pending.popleft()
            res = fut.result()
            fut.release()
            for item in itertools.islice(it, 1):
                pending.append(client.submit(fn, item, pure=False))
            yield res
    finally:
        for fut in pending:
            fut.cancel()
