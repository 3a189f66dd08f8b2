"""Pieces several adapters share: OSRL's unpacked training step and double-Q critic members."""

import torch


def train_step_unpacked(trainer, batch) -> None:
    """One of OSRL's own training steps, for trainers that take the batch's tensors."""
    trainer.train_one_step(*batch)


class DoubleQCriticMembers:
    """Q values of every member of OSRL's EnsembleDoubleQCritic (BCQ-L, BEAR-L)."""

    def reward_members(self, observations, actions):
        _, _, first, second = self.critic.predict(observations, actions)
        return torch.stack(first + second)

    def cost_members(self, observations, actions):
        _, _, first, second = self.cost_critic.predict(observations, actions)
        return torch.stack(first + second)
