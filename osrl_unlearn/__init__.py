"""osrl-unlearn: Safe-RULE unlearning of poisoned trajectories for OSRL agents.

This module stays import-light on purpose: gymnasium loads
`osrl_unlearn.data.registration` while `import gymnasium` is still running, so nothing
here may import gymnasium, dsrl or torch at module level.
"""

import os

__version__ = "0.1.0"

# dsrl warns on import that MetaDrive's `gym` is missing; those tasks are not used here.
os.environ.setdefault("DSRL_SUPPRESS_IMPORT_ERROR", "1")

# gymnasium-robotics prints a note about its Adroit tasks' rewards whenever gymnasium
# loads it as a plugin, in every command; no Adroit task is used here. Its text comes
# from farama_notifications (a plain dict), so drop that one entry before gymnasium loads.
try:
    from farama_notifications import notifications as _notifications

    _notifications.pop("gymnasium_robotics", None)
except ImportError:
    pass
