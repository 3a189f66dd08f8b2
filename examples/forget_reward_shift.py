"""Do the poisoned episodes' rewards tell the defender which attack it faces?

For each generated poisoned dataset given: the mean per-step reward of D_k and of D_f, the
share of D_f's steps above D_k's 90th percentile, the largest reward in each, and the mean
cost of each. A reward-inflating attack (RewardLure) needs Safe-RULE's reward term at its
percentile; the others may not (results/ballcircle-bcql/one-factor/). If D_f's rewards
stood above D_k's only under RewardLure, the defender could choose offline.

    python examples/forget_reward_shift.py DATASET_ID [DATASET_ID ...]
"""

import sys

import numpy as np

from osrl_unlearn.data.datasets import FORGET_MASK_KEY, generated_path, read_hdf5


def reward_shift(dataset_id: str) -> str:
    """One markdown line of D_k's and D_f's rewards and costs."""
    data, _ = read_hdf5(generated_path(dataset_id))
    forget = data[FORGET_MASK_KEY].astype(bool)
    keep_rewards, forget_rewards = data["rewards"][~forget], data["rewards"][forget]
    above = np.mean(forget_rewards > np.percentile(keep_rewards, 90))
    return (f"| {dataset_id} | {keep_rewards.mean():.3f} | {forget_rewards.mean():.3f} | "
            f"{above:.2f} | {keep_rewards.max():.2f} | {forget_rewards.max():.2f} | "
            f"{data['costs'][~forget].mean():.3f} | {data['costs'][forget].mean():.3f} |")


def main(dataset_ids) -> None:
    print("| dataset | D_k mean reward | D_f mean reward | D_f share above D_k's 90th "
          "percentile | D_k largest | D_f largest | D_k mean cost | D_f mean cost |")
    print("|" + " --- |" * 8)
    for dataset_id in dataset_ids:
        print(reward_shift(dataset_id))


if __name__ == "__main__":
    main(sys.argv[1:])
