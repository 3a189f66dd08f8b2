"""osrl-unlearn: Safe-RULE unlearning of poisoned trajectories for OSRL agents.

This module stays import-light on purpose: gymnasium loads
`osrl_unlearn.registration` while `import gymnasium` is still running, so nothing
here may import gymnasium, dsrl or torch at module level.
"""

__version__ = "0.1.0"
