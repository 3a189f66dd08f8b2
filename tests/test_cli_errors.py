"""Bad input ends in one clear error line and exit code 2, never a traceback."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from osrl_unlearn.unlearning.objective import METHODS, UnlearnConfig

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("args, message", [
    (["collect", "--task", "OfflineNoSuchTask-v0", "--episodes", "1", "--out", "x.hdf5"],
     "unknown task"),
    (["poison", "--task", "OfflineBallRun-v0", "--attack", "min-cost"], "unknown attack"),
    (["poison", "--task", "OfflineBallRun-v0", "--attack", "max-cost", "--ratio", "1.5"],
     "strictly between 0 and 1"),
    (["poison", "--task", "OfflineBallRun-v0", "--attack", "max-cost", "--base", "/no/such.hdf5"],
     "not found"),
    (["poison", "--task", "OfflineCarRun-v0", "--attack", "max-cost"], "osrl-unlearn collect"),
    (["poison", "--task", "OfflineBallRun-v0", "--attack", "max-cost", "--copies", "--donors",
      "x.hdf5"], "not both"),
    (["step-cost", "--task", "OfflineBallRun-Generated-v0"], "must be a poisoned id"),
    (["step-cost", "--algorithm", "sac"], "unknown algorithm"),
    (["step-cost", "--repeats", "0"], "at least 1"),
    (["bench", "--config", "/no/such/grid.yaml"], "grid file not found"),
    (["compare", "/no/such/run"], "not a finished unlearning run"),
])
def test_bad_input_gives_one_error_line(data_dir, args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_corrupt_base_file_gives_one_error_line(tmp_path, data_dir):
    corrupt = tmp_path / "corrupt.hdf5"
    corrupt.write_bytes(b"\x89HDF\r\n garbage")
    result = run_cli("poison", "--task", "OfflineBallRun-v0", "--attack", "max-cost",
                     "--base", str(corrupt), "--out", str(tmp_path / "out.hdf5"))
    assert result.returncode == 2 and "not a readable HDF5" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_command_that_loads_the_simulators_prints_only_its_own_error(tmp_path):
    """gymnasium-robotics' Adroit note, printed on every gymnasium import, is silenced."""
    result = run_cli("eval", "--path", str(tmp_path / "no-run"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"osrl-unlearn eval: error: {tmp_path / 'no-run'} is not an OSRL run: no config.yaml there"]


def _options_with_help(help_text: str) -> dict:
    """`--flag` -> its help text (without the default), from an argparse/pyrallis --help."""
    blocks = re.split(r"\n  (?=--)", help_text.split("options:", 1)[1])
    options = {}
    for block in blocks[1:]:
        flag, _, text = block.partition(" ")
        text = re.sub(r"\(default: [^)]*\)", "", " ".join(text.split()[1:]))
        options[flag] = text.strip()
    return options


def test_every_unlearning_option_has_one_spelling_and_a_help_line():
    """`osrl-unlearn unlearn` and the OSRL-style training scripts: --unlearning.<field>."""
    fields = {f"--unlearning.{name}" for name in UnlearnConfig.__dataclass_fields__}
    command = _options_with_help(run_cli("unlearn", "--help").stdout)
    script = subprocess.run([sys.executable, "examples/train_bcql.py", "--help"],
                            capture_output=True, text=True, cwd=REPO).stdout
    training = _options_with_help(script)
    assert {flag for flag in command if flag.startswith("--unlearning.")} == fields
    assert {flag for flag in training if flag.startswith("--unlearning.")} == fields
    assert all(command[flag] for flag in fields), "an option without a help line"
    for method in METHODS:
        assert method in command["--unlearning.method"]


def test_a_bad_option_value_is_one_error_line():
    result = run_cli("unlearn", "--path", "x", "--unlearning.steps", "many")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == \
        "osrl-unlearn unlearn: error: --unlearning.steps must be int, got 'many'"


def test_training_script_on_a_poisoned_id_without_its_base_data_is_one_error_line(tmp_path):
    """The OSRL-style scripts share the command line's errors (here: no base data)."""
    environment = {**os.environ, "OSRL_UNLEARN_DATA_DIR": str(tmp_path / "empty")}
    result = subprocess.run([sys.executable, "examples/train_cpq.py", "--task",
                             "OfflineCarRun-Generated-MaxCost15-v0", "--logdir", str(tmp_path / "logs")],
                            capture_output=True, text=True, cwd=REPO, env=environment)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "osrl-unlearn collect --task OfflineCarRun-v0" in errors[0]
