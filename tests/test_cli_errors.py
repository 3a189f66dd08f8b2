"""Bad input ends in one clear error line and exit code 2, never a traceback."""

import pytest

from conftest import run_cli


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
