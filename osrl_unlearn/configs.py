"""Training configurations: OSRL's flags, with sizes scaled down for a 2-core CPU.

Field names are OSRL's own (examples/configs/*_configs.py in liuzuxin/OSRL), so an
OSRL command line works unchanged; the defaults differ where OSRL's would take hours
here: hidden sizes 256 -> 128, VAE 400 -> 128, batch 512 -> 256, 100,000 -> 10,000
update steps, evaluation every 2,500 steps on 5 episodes. `episode_len` defaults to
the DSRL task's own episode length. Algorithm fields keep the defaults of
OSRL's configs; only the network sizes are smaller.

Each config's `TASK_SETTINGS` is what OSRL's per-task config classes are: per DSRL
task, the settings with which that algorithm, trained on the task's clean generated
data, is safe (`osrl-unlearn references`). As in OSRL's scripts, a field left at its
class default takes the task's value (`apply_task_settings`). Settings tried, safe or
not: `results/references/settings-tried.md`.
"""

from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List, Optional, Tuple

from osrl_unlearn.data.registration import base_task
from osrl_unlearn.unlearning.objective import UnlearnConfig


@dataclass
class TrainConfig:
    """Flags every OSRL training script shares."""

    # logging (OSRL: logs/<group>/<name>/)
    project: str = "OSRL-unlearn"
    group: Optional[str] = None
    name: Optional[str] = None
    prefix: Optional[str] = ""
    suffix: Optional[str] = ""
    logdir: Optional[str] = "logs"
    verbose: bool = False
    # dataset processing, passed to DSRL's pre_process_data as in OSRL
    outliers_percent: Optional[float] = None
    noise_scale: Optional[float] = None
    inpaint_ranges: Optional[Tuple[Tuple[float, float, float, float], ...]] = None
    epsilon: Optional[float] = None
    density: float = 1.0
    # training
    task: str = "OfflineBallRun-Generated-v0"
    dataset: Optional[str] = None  # an explicit HDF5 file instead of the task's data
    seed: int = 0
    device: str = "cpu"
    threads: int = 2
    reward_scale: float = 0.1
    cost_scale: float = 1.0
    cost_limit: float = 10.0  # the task's limit: evaluation's normalized cost, the run's group
    # the limit the agent's cost constraint is trained to (default: cost_limit); a lower
    # one leaves a margin, since OSRL's Lagrangian agents constrain Q_c averaged over the
    # dataset's states, not over the states their own episodes visit
    constraint_cost_limit: Optional[float] = None
    episode_len: Optional[int] = None
    batch_size: int = 256
    update_steps: int = 10_000
    num_workers: int = 0
    gamma: float = 0.99
    tau: float = 0.005
    # evaluation
    eval_episodes: int = 5
    eval_every: int = 2_500
    # continue a run (same --name) stopped after one of its evaluations
    resume: bool = False
    # the unlearning stage after training: --unlearn true [--unlearning.steps 5000 ...]
    unlearn: bool = False
    unlearn_forget: Optional[str] = None  # poisoned id or mask file; default: the task
    unlearning: UnlearnConfig = field(default_factory=UnlearnConfig)

    # DSRL task -> {field: value}, set per algorithm below
    TASK_SETTINGS: ClassVar[Dict[str, Dict[str, Any]]] = {}

    def constraint_limit(self) -> float:
        """The cost limit the agent's constraint is built with."""
        return self.cost_limit if self.constraint_cost_limit is None else self.constraint_cost_limit


@dataclass
class BCQLTrainConfig(TrainConfig):
    """BCQ-L (osrl.algorithms.BCQL)."""

    prefix: Optional[str] = "BCQL"
    actor_lr: float = 0.001
    critic_lr: float = 0.001
    vae_lr: float = 0.001
    phi: float = 0.05
    lmbda: float = 0.75
    beta: float = 0.5
    a_hidden_sizes: List[int] = field(default_factory=lambda: [128, 128])
    c_hidden_sizes: List[int] = field(default_factory=lambda: [128, 128])
    vae_hidden_sizes: int = 128
    sample_action_num: int = 10
    num_q: int = 2
    num_qc: int = 2
    PID: List[float] = field(default_factory=lambda: [0.1, 0.003, 0.001])

    # BallCircle: safe at 5,000 steps in 2 of 3 seeds (0.34, 0.23, 1.37), at 10,000 in 1 of
    # 3; seed 0's 50,000-step curve stays near the limit (results/references/)
    TASK_SETTINGS: ClassVar[Dict[str, Dict[str, Any]]] = {
        "OfflineBallCircle-v0": {"update_steps": 5_000},
    }


@dataclass
class BEARLTrainConfig(TrainConfig):
    """BEAR-L (osrl.algorithms.BEARL)."""

    prefix: Optional[str] = "BEARL"
    actor_lr: float = 0.001
    critic_lr: float = 0.001
    vae_lr: float = 0.001
    alpha_lr: float = 0.001
    a_hidden_sizes: List[int] = field(default_factory=lambda: [128, 128])
    c_hidden_sizes: List[int] = field(default_factory=lambda: [128, 128])
    vae_hidden_sizes: int = 128
    sample_action_num: int = 10
    beta: float = 0.5
    lmbda: float = 0.75
    mmd_sigma: float = 50
    target_mmd_thresh: float = 0.05
    num_samples_mmd_match: int = 10
    start_update_policy_step: int = 0
    kernel: str = "gaussian"
    num_q: int = 2
    num_qc: int = 2
    PID: List[float] = field(default_factory=lambda: [0.1, 0.003, 0.001])


@dataclass
class CPQTrainConfig(TrainConfig):
    """CPQ (osrl.algorithms.CPQ)."""

    prefix: Optional[str] = "CPQ"
    actor_lr: float = 0.0001
    critic_lr: float = 0.001
    alpha_lr: float = 0.0001
    vae_lr: float = 0.001
    a_hidden_sizes: List[int] = field(default_factory=lambda: [128, 128])
    c_hidden_sizes: List[int] = field(default_factory=lambda: [128, 128])
    vae_hidden_sizes: int = 128
    sample_action_num: int = 10
    beta: float = 0.5
    num_q: int = 2
    num_qc: int = 2
    qc_scalar: float = 1.5
    # False: OSRL's CPQ exactly, whose OOD cost penalty never trains the cost critic
    # (see osrl_unlearn/adapters/cpq.py)
    ood_penalty_gradient: bool = True


@dataclass
class COptiDICETrainConfig(TrainConfig):
    """COptiDICE (osrl.algorithms.COptiDICE)."""

    prefix: Optional[str] = "COptiDICE"
    actor_lr: float = 0.0001
    critic_lr: float = 0.0001
    scalar_lr: float = 0.0001
    a_hidden_sizes: List[int] = field(default_factory=lambda: [128, 128])
    c_hidden_sizes: List[int] = field(default_factory=lambda: [128, 128])
    alpha: float = 0.5
    cost_ub_epsilon: float = 0.01
    f_type: str = "softchi"
    num_nu: int = 2
    num_chi: int = 2

    # CarCircle: safe at 5,000 steps in 3 of 3 seeds, unsafe at 10,000 in 2 of 2 (seed 0's
    # curve is unsafe from 10,000 to 35,000, safe again from 40,000; results/references/)
    TASK_SETTINGS: ClassVar[Dict[str, Dict[str, Any]]] = {
        "OfflineCarCircle-v0": {"update_steps": 5_000},
    }


def apply_task_settings(cfg: TrainConfig, default_cfg: TrainConfig) -> None:
    """OSRL's rule for per-task settings: a field still at its class default takes the
    task's value from `TASK_SETTINGS`; `default_cfg` takes it too, so that it does not
    name the run. (So, as in OSRL, passing a task's field at the class default keeps
    the task's value.)"""
    for key, value in type(cfg).TASK_SETTINGS.get(base_task(cfg.task), {}).items():
        if getattr(cfg, key) == getattr(default_cfg, key):
            setattr(cfg, key, value)
        setattr(default_cfg, key, value)
