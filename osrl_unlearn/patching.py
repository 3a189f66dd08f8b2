"""The project's patches to installed upstream packages: apply idempotently, check status."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from typing import Optional

from osrl_unlearn.errors import UserInputError

PATCH_DIR = Path(__file__).resolve().parent.parent / "patches"
# Patches to installed packages: file name -> the package it patches (applied with -p1
# inside the folder that holds the package).
SITE_PATCHES = {
    "safety-gymnasium-0.4.0-py311-dataclasses.patch": "safety_gymnasium",
    # dsrl 0.1.0 downloads from a host that is gone; DSRL's repository moved its table
    "dsrl-0.1.0-huggingface-urls.patch": "dsrl",
}


def patched_files(name: str) -> list:
    """The files a patch changes, relative to the folder that holds the package."""
    lines = (PATCH_DIR / name).read_text().splitlines()
    return [line.split()[1].split("/", 1)[1] for line in lines if line.startswith("+++ ")]


def _site_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise UserInputError(f"{package} is not installed; run `make setup` first")
    return Path(spec.origin).parent.parent


def _patch_runs(patch_file: Path, site: Path, *extra: str) -> bool:
    # --force, not --batch: --batch takes a patch that "looks reversed" as reversed and
    # would report an unapplied patch as reversible, i.e. as applied.
    command = ["patch", "-p1", "--dry-run", "--force", "--silent", "-d", str(site), *extra]
    with open(patch_file) as handle:
        return subprocess.run(command, stdin=handle, capture_output=True).returncode == 0


def is_applied(name: str, site: Optional[Path] = None) -> bool:
    """True when the patch is already in the installed package (it reverses cleanly)."""
    return _patch_runs(PATCH_DIR / name, site or _site_dir(SITE_PATCHES[name]), "-R")


def apply_all(site: Optional[Path] = None) -> None:
    """Apply every site patch not yet applied; a clear error if one no longer fits.

    `site` overrides the folder holding the packages (for checks on a copy).
    """
    for name, package in SITE_PATCHES.items():
        patch_file, target = PATCH_DIR / name, site or _site_dir(package)
        if is_applied(name, target):
            print(f"{name}: already applied")
            continue
        if not _patch_runs(patch_file, target):
            raise UserInputError(
                f"{name} no longer applies to the installed {package} in {target}; "
                "the package version differs from the one the patch was made for"
            )
        with open(patch_file) as handle:
            subprocess.run(["patch", "-p1", "--force", "--silent", "-d", str(target)],
                           stdin=handle, check=True)
        print(f"{name}: applied to {target / package}")
