from __future__ import annotations

import io
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ecko.__about__ import __version__
from ecko.cli import main
from tests.cli.conftest import ECKO_ROOT

COMMON = [
    ".dockerignore",
    ".env.example",
    ".github/workflows/ci.yml",
    ".gitignore",
    "Dockerfile",
    "README.md",
    "pyproject.toml",
]
API = sorted([*COMMON, "app.py", "settings.py", "tests/test_app.py", "tests/test_settings.py"])
WEB = sorted(
    [
        *COMMON,
        "mysite/__init__.py",
        "mysite/app.py",
        "mysite/routers/__init__.py",
        "mysite/routers/api.py",
        "mysite/routers/pages.py",
        "mysite/settings.py",
        "mysite/static/style.css",
        "mysite/templates/base.html",
        "mysite/templates/contact.html",
        "mysite/templates/index.html",
        "mysite/templates/thanks.html",
        "tests/test_api.py",
        "tests/test_pages.py",
        "tests/test_settings.py",
    ]
)
RUFF = Path(sys.executable).parent / "ruff"


def generated_files(folder: Path) -> list[str]:
    return sorted(
        path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
    )


def test_creates_the_api_project_and_prints_the_next_steps(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "myproject"]) == 0

    assert generated_files(project / "myproject") == API
    out = capsys.readouterr().out
    assert out.startswith(f"Created project myproject (api template) in myproject{os.sep}:\n")
    assert out.endswith(
        "\nNext steps:\n  cd myproject\n  pip install -e '.[dev]'\n  ecko run app:app\n  pytest\n"
    )


def test_creates_the_web_project_as_a_package(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "mysite", "--template", "web"]) == 0

    assert generated_files(project / "mysite") == WEB
    assert "\n  ecko run mysite.app:app\n" in capsys.readouterr().out


@pytest.mark.parametrize("template", ["api", "web"])
def test_templates_are_filled_in_and_pass_ruff(project: Path, template: str) -> None:
    assert main(["new", "shop-api", "--template", template]) == 0

    folder = project / "shop-api"
    pyproject = tomllib.loads((folder / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "shop-api"
    assert pyproject["project"]["dependencies"][0].endswith(f">={__version__}")
    assert "$" not in "".join(path.read_text() for path in folder.rglob("*.py"))
    settings = "settings.py" if template == "api" else "shop_api/settings.py"
    assert 'ENV_PREFIX = "SHOP_API_"' in (folder / settings).read_text()
    assert "SHOP_API_GREETING=Hello" in (folder / ".env.example").read_text()
    target = "app:app" if template == "api" else "shop_api.app:app"
    dockerfile = (folder / "Dockerfile").read_text()
    assert f'CMD ["ecko", "run", "{target}", "--prod",' in dockerfile
    assert "USER app" in dockerfile
    assert dockerfile.count("FROM ") == 2
    workflow = (folder / ".github/workflows/ci.yml").read_text()
    assert "${{ matrix.python-version }}" in workflow
    assert "ruff check ." in workflow
    for check in (["check", "."], ["format", "--check", "."]):
        linted = subprocess.run(
            [str(RUFF), *check], cwd=folder, capture_output=True, text=True, check=False
        )
        assert linted.returncode == 0, linted.stdout + linted.stderr


def test_directory_option_picks_the_folder_and_an_empty_one_is_fine(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "site").mkdir()

    assert main(["new", "myproject", "--directory", "site"]) == 0

    assert generated_files(project / "site") == API
    assert "\n  cd site\n" in capsys.readouterr().out


def test_creating_in_the_current_folder_skips_cd(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "myproject", "--directory", "."]) == 0

    assert generated_files(project) == API
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


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("1app", "its package name '1app' must be a Python identifier (start with a letter)"),
        ("json", "its package 'json' would clash with the standard library's 'json' module"),
        ("class", "its package 'class' would clash with a Python keyword"),
        ("tests", "its package 'tests' would clash with a module the project itself contains"),
    ],
)
def test_name_whose_package_cannot_be_imported_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str], name: str, reason: str
) -> None:
    assert main(["new", name]) == 2

    assert capsys.readouterr().err.startswith(
        f"error: {name!r} is not a valid project name: {reason}"
    )
    assert list(project.iterdir()) == []


@pytest.mark.parametrize("name", ["ecko", "Ecko", "ECKO"])
def test_a_project_named_ecko_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert main(["new", name]) == 2

    assert "would shadow Ecko itself" in capsys.readouterr().err


def test_missing_name_without_a_terminal_is_a_one_line_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new"]) == 2

    assert capsys.readouterr().err == (
        "error: missing the project name: ecko new NAME, e.g. ecko new myproject\n"
    )


class Terminal(io.StringIO):
    """Typed answers on a stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_terminal_prompts_for_the_name_and_template_and_asks_again_when_invalid(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", Terminal("1bad\nmysite\nhtml\nweb\n"))
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setenv("NO_COLOR", "1")

    assert main(["new"]) == 0

    assert generated_files(project / "mysite") == WEB
    out = terminal.getvalue()
    assert "Project name [myproject]: " in out
    assert "its package name '1bad' must be a Python identifier" in out
    assert "Template [api]: choose one of: api, web\nTemplate [api]: " in out


def test_no_input_takes_the_defaults_even_in_a_terminal(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", Terminal(""))
    monkeypatch.setattr(sys, "stdout", Terminal())

    assert main(["new", "myproject", "--no-input"]) == 0

    assert generated_files(project / "myproject") == API


def test_ctrl_c_at_a_prompt_exits_130_without_a_traceback(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Interrupted(Terminal):
        def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
            raise KeyboardInterrupt

    monkeypatch.setattr(sys, "stdin", Interrupted())
    monkeypatch.setattr(sys, "stdout", Terminal())

    assert main(["new"]) == 130
    assert list(project.iterdir()) == []


def test_generated_api_project_lists_its_routes(project: Path) -> None:
    assert main(["new", "myproject"]) == 0

    completed = subprocess.run(
        [sys.executable, "-m", "ecko", "routes", "app:app"],
        cwd=project / "myproject",
        env={**os.environ, "PYTHONPATH": ECKO_ROOT, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].split() == ["METHODS", "PATH", "HANDLER", "NAME", "TAGS"]
    assert [line.split() for line in lines if " app:" in line] == [
        ["GET", "/", "app:home", "home"],
        ["POST", "/api/greetings", "app:create_greeting", "create_greeting", "greetings"],
        ["GET", "/api/hello", "app:hello", "hello", "greetings"],
        ["GET", "/health", "app:health", "health", "ops"],
    ]
    assert {"/docs", "/openapi.json"} <= {line.split()[1] for line in lines}
