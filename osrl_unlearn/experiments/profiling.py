"""What one unlearning step costs against one OSRL training step: time and peak memory.

Both are measured on the same poisoned dataset, algorithm, network sizes and batch
size, one after the other on the same machine, each in its own child process so
that each peak resident memory (VmHWM) is its own. Weights are freshly initialised:
the cost of a step does not depend on them.

    osrl-unlearn step-cost --task OfflineBallRun-Generated-MaxCost15-v0 --algorithm bcql
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Dict

WARMUP_STEPS = 100  # untimed; also Safe-RULE's retain-only warm-up, so timed steps forget


def _memory_kib(field_name: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def measure_in_process(task: str, algorithm: str, mode: str, steps: int,
                       batch_size: int, threads: int) -> Dict[str, float]:
    """Time `steps` training or unlearning steps here; report time and memory."""
    import torch

    from osrl_unlearn.data import datasets
    from osrl_unlearn.adapters import get_adapter
    from osrl_unlearn.evaluation import env_dims, make_eval_env
    from osrl_unlearn.data.registration import base_task
    from osrl_unlearn.data.tasks import episode_length
    from osrl_unlearn.training import batches, load_training_data, sampled_batches
    from osrl_unlearn.unlearning.objective import UnlearnConfig
    from osrl_unlearn.unlearning.stage import build_unlearner

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    adapter = get_adapter(algorithm)
    cfg = adapter.Config(task=task, batch_size=batch_size, threads=threads,
                         episode_len=episode_length(base_task(task)))
    data = load_training_data(cfg)
    env = make_eval_env(task, cfg.reward_scale, cfg.cost_limit)
    if mode == "train":
        from fsrl.utils import BaseLogger

        model = adapter.build_model(cfg, *env_dims(env), data=data)
        trainer = adapter.build_trainer(model, env, cfg, BaseLogger())
        stream = batches(data, cfg, adapter)

        def step(index: int) -> None:
            adapter.train_step(trainer, next(stream))
    else:
        keep, forget = datasets.split_keep_forget(data, data[datasets.FORGET_MASK_KEY])
        ucfg = UnlearnConfig(steps=steps + WARMUP_STEPS, retention_warmup=WARMUP_STEPS)
        model = build_unlearner(cfg, adapter, env, keep, ucfg)
        keep_stream = sampled_batches(keep, cfg, adapter)  # as the unlearning stage draws them
        forget_stream = sampled_batches(forget, cfg, adapter)

        def step(index: int) -> None:
            model.unlearn_step(next(keep_stream), next(forget_stream), index)
    setup_rss = _memory_kib("VmRSS")
    for index in range(WARMUP_STEPS):
        step(index)
    started = time.perf_counter()
    for index in range(WARMUP_STEPS, WARMUP_STEPS + steps):
        step(index)
    seconds = time.perf_counter() - started
    return {"mode": mode, "steps": steps, "seconds_per_step": seconds / steps,
            "rss_after_setup_mib": setup_rss / 1024, "peak_rss_mib": _memory_kib("VmHWM") / 1024}


def measure_step_cost(task: str, algorithm: str, steps: int = 300, batch_size: int = 256,
                      threads: int = 2, repeats: int = 3) -> Dict[str, object]:
    """Training then unlearning, each in a child process, `repeats` times; the median of
    their ratios and the spread (a machine's load moves single timings)."""
    pairs = []
    for _ in range(repeats):
        results = {}
        for mode in ("train", "unlearn"):
            command = [sys.executable, "-m", "osrl_unlearn.experiments.profiling", "--task", task,
                       "--algorithm", algorithm, "--mode", mode, "--steps", str(steps),
                       "--batch-size", str(batch_size), "--threads", str(threads)]
            finished = subprocess.run(command, capture_output=True, text=True)
            if finished.returncode != 0:
                raise RuntimeError(f"{mode} measurement failed:\n{finished.stderr[-2000:]}")
            results[mode] = json.loads(finished.stdout.strip().splitlines()[-1])
        pairs.append(results)
    time_ratios = [pair["unlearn"]["seconds_per_step"] / pair["train"]["seconds_per_step"]
                   for pair in pairs]
    memory_ratios = [pair["unlearn"]["peak_rss_mib"] / pair["train"]["peak_rss_mib"]
                     for pair in pairs]
    return {
        "task": task, "algorithm": algorithm, "batch_size": batch_size, "steps": steps,
        "threads": threads, "repeats": repeats, "measurements": pairs,
        "step_time_ratio": statistics.median(time_ratios),
        "step_time_ratio_range": [min(time_ratios), max(time_ratios)],
        "peak_memory_ratio": statistics.median(memory_ratios),
        "train_seconds_per_step": statistics.median(
            pair["train"]["seconds_per_step"] for pair in pairs),
        "unlearn_seconds_per_step": statistics.median(
            pair["unlearn"]["seconds_per_step"] for pair in pairs),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="one side of `osrl-unlearn step-cost`")
    parser.add_argument("--task", required=True)
    parser.add_argument("--algorithm", required=True)
    parser.add_argument("--mode", choices=("train", "unlearn"), required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(measure_in_process(args.task, args.algorithm, args.mode, args.steps,
                                        args.batch_size, args.threads)))
