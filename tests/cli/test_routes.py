from __future__ import annotations

import json
import re

import pytest

from ecko.cli import main
from tests.cli.conftest import WriteModule

SHOP = """\
from ecko import Ecko, WebSocket

app = Ecko()
admin = Ecko()


@app.get("/users/{user_id}", tags=["users"])
def get_user(user_id: int) -> dict[str, int]:
    \"\"\"Get a user by id.\"\"\"
    return {"id": user_id}


@app.delete("/users/{user_id}")
def delete_user(user_id: int) -> dict[str, bool]:
    return {"deleted": True}


@app.route(
    "/users",
    ["POST", "GET"],
    name="users",
    summary="List or create users.",
    tags=["users", "admin"],
)
def users() -> dict[str, list[str]]:
    return {"users": []}


@app.websocket("/ws")
async def chat(websocket: WebSocket) -> None:
    await websocket.accept()


class Views:
    @staticmethod
    def about() -> str:
        return "about"


app.get("/about")(Views.about)


async def legacy(scope, receive, send):
    pass


app.mount("/legacy", legacy)
app.mount("/admin", admin)
"""


def test_table_lists_routes_and_mounts_sorted_by_path(
    write_module: WriteModule, capsys: pytest.CaptureFixture[str]
) -> None:
    write_module("shop.py", SHOP)

    assert main(["routes", "shop:app"]) == 0

    assert capsys.readouterr().out == (
        "METHODS   PATH              HANDLER           NAME         TAGS\n"
        "GET       /about            shop:Views.about  about\n"
        "MOUNT     /admin            ecko.app:Ecko\n"
        "MOUNT     /legacy           shop:legacy\n"
        "GET,POST  /users            shop:users        users        users,admin\n"
        "GET       /users/{user_id}  shop:get_user     get_user     users\n"
        "DELETE    /users/{user_id}  shop:delete_user  delete_user\n"
        "WS        /ws               shop:chat         chat\n"
    )


def test_table_is_coloured_on_a_terminal_unless_no_color(
    write_module: WriteModule, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module("shop.py", SHOP)
    monkeypatch.setenv("FORCE_COLOR", "1")

    assert main(["routes", "shop:app"]) == 0
    coloured = capsys.readouterr().out
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["routes", "shop:app"]) == 0
    plain = capsys.readouterr().out

    assert "\x1b[1mMETHODS\x1b[0m" in coloured
    assert "\x1b[31mDELETE\x1b[0m" in coloured
    assert "\x1b" not in plain
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def test_json_lists_the_same_rows_with_summaries(
    write_module: WriteModule, capsys: pytest.CaptureFixture[str]
) -> None:
    write_module("shop.py", SHOP)

    assert main(["routes", "shop.py", "--json"]) == 0

    rows = json.loads(capsys.readouterr().out)
    assert [(row["kind"], row["methods"], row["path"]) for row in rows] == [
        ("http", ["GET"], "/about"),
        ("mount", [], "/admin"),
        ("mount", [], "/legacy"),
        ("http", ["GET", "POST"], "/users"),
        ("http", ["GET"], "/users/{user_id}"),
        ("http", ["DELETE"], "/users/{user_id}"),
        ("websocket", ["WS"], "/ws"),
    ]
    assert rows[4] == {
        "kind": "http",
        "methods": ["GET"],
        "path": "/users/{user_id}",
        "name": "get_user",
        "handler": "shop:get_user",
        "summary": "Get a user by id.",
        "tags": ["users"],
    }
    assert rows[3]["summary"] == "List or create users."
    assert rows[1] == {
        "kind": "mount",
        "methods": [],
        "path": "/admin",
        "name": None,
        "handler": "ecko.app:Ecko",
        "summary": None,
        "tags": [],
    }


def test_app_without_routes_says_so(
    write_module: WriteModule, capsys: pytest.CaptureFixture[str]
) -> None:
    write_module("empty.py", "from ecko import Ecko\n\napp = Ecko()\n")

    assert main(["routes", "empty"]) == 0

    assert capsys.readouterr().out == "METHODS  PATH  HANDLER  NAME  TAGS\n(no routes)\n"


def test_raw_asgi_app_is_refused(
    write_module: WriteModule, capsys: pytest.CaptureFixture[str]
) -> None:
    write_module("raw.py", "async def app(scope, receive, send):\n    pass\n")

    assert main(["routes", "raw:app"]) == 2

    assert capsys.readouterr().err == (
        "error: 'raw:app' is a function, not an Ecko app; "
        "`ecko routes` lists the routes of an Ecko() instance\n"
    )


def test_target_errors_are_the_same_as_for_run(
    write_module: WriteModule, capsys: pytest.CaptureFixture[str]
) -> None:
    write_module("shop.py", SHOP)

    assert main(["routes", "shop:api"]) == 2

    assert (
        capsys.readouterr().err
        == "error: module 'shop' has no attribute 'api'; it defines: app, admin, legacy\n"
    )


def test_factory_target_is_listed(
    write_module: WriteModule, capsys: pytest.CaptureFixture[str]
) -> None:
    write_module(
        "factory.py",
        "from ecko import Ecko\n\ndef create_app():\n    app = Ecko()\n"
        "    app.get('/ping')(lambda: 'pong')\n    return app\n",
    )

    assert main(["routes", "factory:create_app", "--factory", "--json"]) == 0

    assert [row["path"] for row in json.loads(capsys.readouterr().out)] == ["/ping"]
