from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from ecko.__about__ import __version__
from ecko.cli import main
from tests.cli.conftest import ECKO_ROOT, StartEcko, free_port

GENERATED = [".gitignore", "README.md", "app.py", "pyproject.toml", "tests/test_app.py"]


def generated_files(folder: Path) -> list[str]:
    return sorted(
        path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
    )


def run_python(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": ECKO_ROOT, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_creates_the_project_and_prints_the_quick_start(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "myproject"]) == 0

    assert generated_files(project / "myproject") == GENERATED
    out = capsys.readouterr().out
    assert out.startswith(f"Created project 'myproject' in myproject{os.sep}:\n")
    assert out.endswith("\nNext steps:\n  cd myproject\n  pip install -e .\n  ecko run app:app\n")


def test_templates_are_filled_in(project: Path) -> None:
    assert main(["new", "shop-api"]) == 0

    folder = project / "shop-api"
    pyproject = tomllib.loads((folder / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "shop-api"
    assert pyproject["project"]["dependencies"] == [f"ecko>={__version__}"]
    assert "# shop-api\n" in (folder / "README.md").read_text()
    assert "<h1>shop-api</h1>" in (folder / "app.py").read_text()
    assert "__pycache__/" in (folder / ".gitignore").read_text().splitlines()
    for name in ("app.py", "tests/test_app.py"):
        compile((folder / name).read_text(), name, "exec")


def test_directory_option_picks_the_folder_and_an_empty_one_is_fine(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "site").mkdir()

    assert main(["new", "myproject", "--directory", "site"]) == 0

    assert generated_files(project / "site") == GENERATED
    assert "\n  cd site\n" in capsys.readouterr().out


def test_creating_in_the_current_folder_skips_cd(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "myproject", "--directory", "."]) == 0

    assert generated_files(project) == GENERATED
    assert "cd " not in capsys.readouterr().out


def test_non_empty_folder_is_refused_and_left_alone(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "myproject").mkdir()
    (project / "myproject" / "notes.txt").write_text("keep me")

    assert main(["new", "myproject"]) == 2

    assert capsys.readouterr().err == (
        "error: folder 'myproject' already exists and is not empty; "
        "choose another name or an empty --directory\n"
    )
    assert generated_files(project / "myproject") == ["notes.txt"]


def test_file_in_the_way_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "myproject").write_text("")

    assert main(["new", "myproject"]) == 2

    assert capsys.readouterr().err == (
        "error: 'myproject' exists and is a file; choose another --directory\n"
    )


@pytest.mark.parametrize("name", ["my project", "_x", "x-", "../evil", "a/b", "café", "x!"])
def test_invalid_name_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert main(["new", name]) == 2

    assert capsys.readouterr().err.startswith(f"error: {name!r} is not a valid project name;")
    assert list(project.iterdir()) == []


@pytest.mark.parametrize("name", ["ecko", "Ecko", "ECKO"])
def test_a_project_named_ecko_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert main(["new", name]) == 2

    assert "would shadow Ecko itself" in capsys.readouterr().err


def test_generated_project_builds_with_app_py_importable_once_installed(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hatchling = pytest.importorskip("hatchling.build", reason="hatchling builds generated projects")
    assert main(["new", "myproject"]) == 0
    monkeypatch.chdir(project / "myproject")

    wheel = project / "wheel" / hatchling.build_wheel(str(project / "wheel"))
    editable = project / "editable" / hatchling.build_editable(str(project / "editable"))

    with zipfile.ZipFile(wheel) as archive:
        assert [name for name in archive.namelist() if "dist-info" not in name] == ["app.py"]
    with zipfile.ZipFile(editable) as archive:
        # `pip install -e .` adds the project folder to sys.path, so `import app` works anywhere.
        assert archive.read("_myproject.pth").decode().split() == [str(project / "myproject")]


def test_generated_tests_pass(project: Path) -> None:
    assert main(["new", "myproject"]) == 0

    completed = run_python(["-m", "pytest", "-q", "-p", "no:cacheprovider"], project / "myproject")

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "3 passed" in completed.stdout


def test_generated_app_lists_its_routes(project: Path) -> None:
    assert main(["new", "myproject"]) == 0

    completed = run_python(["-m", "ecko", "routes", "app:app"], project / "myproject")

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        "METHODS  PATH        NAME   HANDLER",
        "GET      /           home   app.home",
        "GET      /api/hello  hello  app.hello",
    ]


def test_generated_app_is_served_by_ecko_run(project: Path, start_ecko: StartEcko) -> None:
    assert main(["new", "myproject"]) == 0
    port = free_port()

    ecko = start_ecko("run", "app:app", "--port", str(port), cwd=project / "myproject")

    assert "<h1>myproject</h1>" in ecko.get(f"http://127.0.0.1:{port}/")
    assert ecko.get(f"http://127.0.0.1:{port}/api/hello?name=Ada") == '{"message":"Hello, Ada!"}'
    assert ecko.stop() == 0
