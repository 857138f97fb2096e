"""What this CPU offers the models: how many cores this process may use."""
from __future__ import annotations

import os


def default_workers() -> int:
    """The cores this process may run on (its affinity mask on Linux)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def parallel_map(fn, items: list, workers: int):
    """fn over items in `workers` threads, each with one torch thread (when torch is in use);
    results in order.

    Independent batches on one torch thread each beat one batch on all threads: there is
    no barrier to wait at, so a core taken by another program slows one worker, not every op;
    and with OMP_WAIT_POLICY=PASSIVE (speakerid_gui/__init__.py) every parallel op wakes
    sleeping threads, which made GE2E's LSTM (hundreds of small steps) 5x slower on 2 threads.
    """
    if workers <= 1 or not items:
        return [fn(item) for item in items]
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")  # ONNX Runtime and numpy runs never import it (0.85 s)

    def one_thread():
        if torch is not None:
            torch.set_num_threads(1)  # per OpenMP thread: set in each worker

    before = torch.get_num_threads() if torch is not None else None
    # numpy's BLAS on one thread too while the workers run: with its own two threads per worker,
    # CAM++'s fbank and pooling took 1.0 s instead of 0.5 s on 240 clips. OpenBLAS's count is the
    # process's: threadpoolctl lets one thread at a time set it (a second job at once runs as is)
    # and the with-block hands that back, so every job's thread can set it in turn.
    with threadpool_limits(1, user_api="blas"):
        try:
            with ThreadPoolExecutor(workers, initializer=one_thread) as pool:
                return list(pool.map(fn, items))
        finally:
            if torch is not None:
                torch.set_num_threads(before)

