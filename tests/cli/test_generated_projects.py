"""`ecko new` end to end, as a user runs it.

A virtual environment, `pip install -e .`, the project's own tests, then `ecko run` from
another folder, stopped by pid.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.cli.conftest import StartEcko, free_port

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def make_venv(folder: Path) -> Path:
    """Create a virtual environment that sees this one's packages; return its python.

    `--system-site-packages` would expose the base interpreter's packages, not this
    environment's, so a .pth file adds this environment's site folder (its own .pth files
    included, so the editable Ecko checkout is found): nothing is downloaded.
    """
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120
    )
    python = folder / "bin" / "python"
    site_packages = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    (Path(site_packages) / "_ecko_tests_parent.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n"
    )
    return python


def run(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    environment.pop("PYTHONPATH", None)
    completed = subprocess.run(
        arguments,
        cwd=cwd,
        env={**environment, "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


@pytest.mark.parametrize(
    ("template", "name", "target"),
    [("api", "my-api", "app:app"), ("web", "mysite", "mysite.app:app")],
)
def test_generated_project_installs_passes_its_tests_and_serves(
    tmp_path: Path, start_ecko: StartEcko, template: str, name: str, target: str
) -> None:
    python = make_venv(tmp_path / "venv")
    run([str(python), "-m", "ecko", "new", name, "--template", template], tmp_path)
    folder = tmp_path / name
    run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "-e", "."],
        folder,
    )  # fmt: skip

    tested = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], folder)
    assert " passed" in tested.stdout
    assert "failed" not in tested.stdout, tested.stdout

    port = free_port()
    # From another folder: the app is found through the editable install, not the cwd.
    ecko = start_ecko("run", target, "--port", str(port), python=python)
    base = f"http://127.0.0.1:{port}"
    page = ecko.get(f"{base}/", headers=BROWSER)
    assert page.startswith("<!doctype html>")
    assert "is running" in page
    assert '"health":"/health"' in ecko.get(f"{base}/", headers={"Accept": "application/json"})
    assert ecko.get(f"{base}/health") == '{"status":"ok"}'
    assert ecko.stop() == 0
    assert f"  Docs    {base}/docs\n" in ecko.log
