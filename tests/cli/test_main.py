from __future__ import annotations

import subprocess
import sys

import pytest

from ecko.__about__ import __version__
from ecko.cli import main
from tests.cli.conftest import ECKO_ROOT
from tests.test_import_budget import modules_added_by


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0

    assert capsys.readouterr().out == f"ecko {__version__}\n"


def test_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2

    assert "the following arguments are required: COMMAND" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve"]) == 2

    assert "invalid choice: 'serve'" in capsys.readouterr().err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0

    out = capsys.readouterr().out
    assert out.startswith("usage: ecko ")
    assert all(command in out for command in ("run", "new", "routes"))


def test_run_help_documents_the_modes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--help"]) == 0

    out = capsys.readouterr().out
    for option in ("--prod", "--reload", "--no-reload", "--workers", "--server", "--root-path"):
        assert option in out


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_port_must_be_a_port_number(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "app:app", "--port", port]) == 2

    assert "argument --port:" in capsys.readouterr().err


def test_workers_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "app:app", "--prod", "--workers", "0"]) == 2

    assert "argument --workers: 0 is not a positive number" in capsys.readouterr().err


def test_python_dash_m_ecko_runs_the_cli() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "ecko", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PYTHONPATH": ECKO_ROOT, "PATH": ""},
    )

    assert (completed.returncode, completed.stdout) == (0, f"ecko {__version__}\n")


def test_importing_the_cli_loads_no_server_and_no_command_module() -> None:
    added = modules_added_by("import ecko.cli") - modules_added_by("import ecko")

    assert {name for name in added if name.startswith("ecko")} == {"ecko.cli"}
    assert {name.partition(".")[0] for name in added} - set(sys.stdlib_module_names) == {"ecko"}


@pytest.mark.parametrize("command", [[], ["run"], ["new"], ["routes"], ["openapi"]])
def test_every_help_ends_with_examples(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--help"]) == 0

    out = capsys.readouterr().out
    examples = out[out.index("\nexamples:\n") :]
    assert f"  ecko {command[0] if command else 'new'} " in examples


def test_errors_are_red_on_a_terminal_and_plain_with_no_color(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert main(["run", "a:b:c"]) == 2
    assert capsys.readouterr().err.startswith("\x1b[1;31merror:\x1b[0m invalid target 'a:b:c'")

    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["run", "a:b:c"]) == 2
    assert capsys.readouterr().err.startswith("error: invalid target 'a:b:c'")
