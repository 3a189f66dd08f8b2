"""Running a benchmark grid on Ray: this machine's cores, or a cluster.

    osrl-unlearn bench --config G --ray              # a local Ray on this machine's cores
    osrl-unlearn bench --config G --ray HOST:6379    # join a cluster (`ray start --head`)

One Ray task per task, algorithm and seed: its poisoned agents (one per attack and
ratio) and every method on each, in order. They share one retrained agent (retraining
depends only on D_k), which two concurrent tasks would otherwise both train into the
same folder. Each task asks for as many CPUs as the grid's torch threads. The datasets
are built here first, one at a time, for the same reason. A task streams its rows back
one by one (a Ray generator task), and only this process writes the results file: each
row lands the moment its method is done, so a grid stopped mid-task keeps what it
finished. A task that dies (a lost worker, out of memory) becomes an error row for
each of its rows not yet landed.
"""

import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from osrl_unlearn.experiments.bench import (
    ROW_KEY, Cell, GridConfig, _describe, cell_rows, ensure_dataset
)


def agent_group(cells_and_methods: Sequence[Tuple[Cell, List[str]]], grid: GridConfig
                ) -> Iterator[Dict[str, Any]]:
    """The rows of one task, algorithm and seed, each as it is done: every cell and
    method in turn (a Ray generator task)."""
    import torch

    torch.set_num_threads(grid.threads)
    for cell, methods in cells_and_methods:
        yield from cell_rows(cell, grid, methods)


def run_on_ray(todo: Dict[Cell, List[str]], grid: GridConfig,
               record: Callable[[Dict[str, Any]], None], address: Optional[str]) -> None:
    """Run `todo` (the unfinished methods of each cell) as Ray tasks; `record` each row."""
    try:
        import ray
    except ImportError:
        from osrl_unlearn.errors import UserInputError

        raise UserInputError("--ray needs Ray: pip install 'osrl-unlearn[ray]' "
                             "(make setup installs it)") from None
    groups: Dict[Tuple, List[Tuple[Cell, List[str]]]] = {}
    for cell, methods in todo.items():
        try:  # one process builds the data: concurrent tasks would write the same files
            ensure_dataset(cell, grid)
        except Exception as error:
            for method in methods:
                record(_error_row(cell, method, grid, f"its dataset failed: {_describe(error)}"))
            continue
        groups.setdefault((cell.task, cell.algorithm, cell.seed), []).append((cell, methods))

    variables = {name: os.environ[name] for name in ("OSRL_UNLEARN_DATA_DIR", "WANDB_MODE")
                 if name in os.environ}
    ray.init(address=address, num_cpus=None if address else os.cpu_count(),
             include_dashboard=False, runtime_env={"env_vars": variables},
             log_to_driver=False)
    try:
        task = ray.remote(num_cpus=grid.threads, num_returns="streaming")(agent_group)
        # each running task: its stream of rows, and the keys of its rows not landed yet
        streams = {}
        for members in groups.values():
            streams[task.remote(members, grid)] = {
                cell.key(method): cell for cell, methods in members for method in methods}
        while streams:
            (ready, ), _ = ray.wait(list(streams), num_returns=1)
            try:
                row = ray.get(next(ready))
            except StopIteration:
                streams.pop(ready)
            except Exception as error:  # the task itself died, not one of its rows
                for key, cell in streams.pop(ready).items():
                    record(_error_row(cell, key[-1], grid,
                                      f"its Ray task died: {_describe(error)}"))
            else:
                streams[ready].pop(tuple(row[name] for name in ROW_KEY), None)
                record(row)
    finally:
        ray.shutdown()


def _error_row(cell: Cell, method: str, grid: GridConfig, error: str) -> Dict[str, Any]:
    import time

    return {**dict(zip(ROW_KEY, cell.key(method))), "dataset": cell.dataset_id,
            "train_steps": grid.train_steps, "unlearn_steps": grid.unlearn_steps,
            "status": "error", "error": error, "bench_seconds": 0.0,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
