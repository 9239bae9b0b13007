from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]  # no types-PyYAML in the dev extra

from ecko.cli import main
from tests.cli.conftest import ECKO_ROOT, WriteModule

DOCUMENTED = """\
import datetime

from ecko import Ecko, setup_openapi

app = Ecko()
setup_openapi(app, title="Shop", version="2.0.0")


@app.get("/items/{item_id}", tags=["items"])
def get_item(item_id: int, since: datetime.date = datetime.date(2024, 1, 1)) -> dict[str, int]:
    \"\"\"Get an item.\"\"\"
    return {"id": item_id}
"""


def test_prints_the_document_as_indented_json(
    write_module: WriteModule, capsys: pytest.CaptureFixture[str]
) -> None:
    write_module("shop.py", DOCUMENTED)

    assert main(["openapi", "shop:app"]) == 0

    out = capsys.readouterr().out
    document = json.loads(out)
    assert document["openapi"].startswith("3.1")
    assert document["info"] == {"title": "Shop", "version": "2.0.0"}
    assert document["paths"]["/items/{item_id}"]["get"]["summary"] == "Get an item."
    assert out.startswith('{\n  "openapi"')


def test_document_matches_what_the_app_serves(write_module: WriteModule, project: Path) -> None:
    from ecko.testing import TestClient

    write_module("shop.py", DOCUMENTED)
    assert main(["openapi", "shop:app", "--output", "openapi.json"]) == 0

    import shop  # type: ignore[import-not-found]

    served = TestClient(shop.app).get("/openapi.json").json()
    assert json.loads((project / "openapi.json").read_text()) == served


def test_yaml_output_to_a_file(
    write_module: WriteModule, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_module("shop.py", DOCUMENTED)

    assert main(["openapi", "shop.py", "--yaml", "-o", "openapi.yaml"]) == 0

    document = yaml.safe_load((project / "openapi.yaml").read_text())
    assert document["info"]["title"] == "Shop"
    parameters = document["paths"]["/items/{item_id}"]["get"]["parameters"]
    assert {parameter["name"] for parameter in parameters} == {"item_id", "since"}
    assert capsys.readouterr() == ("", "wrote the OpenAPI document to openapi.yaml\n")


def test_yaml_without_pyyaml_names_the_extra(
    write_module: WriteModule, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module("shop.py", DOCUMENTED)
    monkeypatch.setitem(sys.modules, "yaml", None)

    assert main(["openapi", "shop:app", "--yaml"]) == 2

    assert capsys.readouterr().err == (
        "error: 'yaml' is not installed; install it with: pip install 'ecko[yaml]'\n"
    )


def test_app_without_setup_openapi_is_a_one_line_error(
    write_module: WriteModule, capsys: pytest.CaptureFixture[str]
) -> None:
    write_module("bare.py", "from ecko import Ecko\n\napp = Ecko()\n")

    assert main(["openapi", "bare:app"]) == 2

    assert capsys.readouterr().err == (
        "error: 'bare:app' has no OpenAPI document: call setup_openapi(app, title=..., "
        "version=...) where the app is created (from ecko import setup_openapi)\n"
    )


def test_raw_asgi_app_is_refused(
    write_module: WriteModule, capsys: pytest.CaptureFixture[str]
) -> None:
    write_module("raw.py", "async def app(scope, receive, send):\n    pass\n")

    assert main(["openapi", "raw:app"]) == 2

    assert "is a function, not an Ecko app" in capsys.readouterr().err


def test_unwritable_output_is_a_one_line_error(
    write_module: WriteModule, capsys: pytest.CaptureFixture[str]
) -> None:
    write_module("shop.py", DOCUMENTED)

    assert main(["openapi", "shop:app", "-o", "missing/dir/openapi.json"]) == 2

    assert capsys.readouterr().err == (
        "error: cannot write 'missing/dir/openapi.json': No such file or directory\n"
    )


def test_runs_as_a_command(write_module: WriteModule, project: Path) -> None:
    write_module("shop.py", DOCUMENTED)

    completed = subprocess.run(
        [sys.executable, "-m", "ecko", "openapi", "shop:app"],
        cwd=project,
        env={"PYTHONPATH": ECKO_ROOT, "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["info"]["title"] == "Shop"
