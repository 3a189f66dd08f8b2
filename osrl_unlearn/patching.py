"""The project's patches to installed upstream packages: apply idempotently, check status."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

from osrl_unlearn.errors import UserInputError

PATCH_DIR = Path(__file__).resolve().parent.parent / "patches"
# Patches to installed packages: file name -> the package it patches (applied with -p1
# inside the folder that holds the package).
SITE_PATCHES = {"safety-gymnasium-0.4.0-py311-dataclasses.patch": "safety_gymnasium"}


def _site_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise UserInputError(f"{package} is not installed; run `make setup` first")
    return Path(spec.origin).parent.parent


def _patch_runs(patch_file: Path, site: Path, *extra: str) -> bool:
    command = ["patch", "-p1", "--dry-run", "--batch", "--silent", "-d", str(site), *extra]
    with open(patch_file) as handle:
        return subprocess.run(command, stdin=handle, capture_output=True).returncode == 0


def is_applied(name: str) -> bool:
    """True when the patch is already in the installed package (it reverses cleanly)."""
    return _patch_runs(PATCH_DIR / name, _site_dir(SITE_PATCHES[name]), "-R")


def apply_all() -> None:
    """Apply every site patch not yet applied; a clear error if one no longer fits."""
    for name, package in SITE_PATCHES.items():
        patch_file, site = PATCH_DIR / name, _site_dir(package)
        if is_applied(name):
            print(f"{name}: already applied")
            continue
        if not _patch_runs(patch_file, site):
            raise UserInputError(
                f"{name} no longer applies to the installed {package} in {site}; "
                "the package version differs from the one the patch was made for"
            )
        with open(patch_file) as handle:
            subprocess.run(["patch", "-p1", "--batch", "--silent", "-d", str(site)],
                           stdin=handle, check=True)
        print(f"{name}: applied to {site / package}")
