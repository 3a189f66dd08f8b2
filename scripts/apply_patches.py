"""Apply the project's patches to the installed upstream packages (idempotent)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from osrl_unlearn.errors import UserInputError  # noqa: E402
from osrl_unlearn.patching import apply_all  # noqa: E402

try:
    apply_all()
except UserInputError as error:
    sys.exit(f"error: {error}")
