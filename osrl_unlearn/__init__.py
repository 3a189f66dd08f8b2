"""osrl-unlearn: Safe-RULE unlearning of poisoned trajectories for OSRL agents.

This module stays import-light on purpose: gymnasium loads
`osrl_unlearn.registration` while `import gymnasium` is still running, so nothing
here may import gymnasium, dsrl or torch at module level.
"""

import os

__version__ = "0.1.0"

# dsrl warns on import that MetaDrive's `gym` is missing; those tasks are not used here.
os.environ.setdefault("DSRL_SUPPRESS_IMPORT_ERROR", "1")
