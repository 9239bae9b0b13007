"""/docs of the todo example in headless Chromium: it renders offline and "Try it out" works.

Drives Debian's /usr/bin/chromium through Playwright (never a downloaded browser). Requests
to any host but the local server are refused and listed, so the page must work without
Internet access. The screenshot goes to pytest's tmp dir (its path is printed) and, when
ECKO_SCREENSHOT_DIR is set, into that folder too, for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from ecko.openapi.assets import swagger_ui_assets
from ecko.testing import LiveServer

CHROMIUM = "/usr/bin/chromium"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) not installed")
pytestmark = [
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing: apt-get install chromium"
    ),
    pytest.mark.skipif(
        not swagger_ui_assets().local,
        reason="Swagger UI 5 is not installed locally, so /docs needs the Internet: "
        + swagger_ui_assets().note,
    ),
]


@pytest.fixture
def todo_server(tmp_path: Path) -> Iterator[LiveServer]:
    env = {"TODO_DB": str(tmp_path / "todo.sqlite3")}
    with LiveServer("todo:app", cwd=EXAMPLES, env=env) as server:
        created = httpx.post(f"{server.url}/todos", json={"title": "Look at the docs"})
        assert created.status_code == 201
        yield server


@pytest.fixture
def browser_page() -> Iterator[tuple[Any, list[str]]]:
    """Yield a Chromium page that refuses, and lists, every request leaving the machine."""
    blocked: list[str] = []

    def only_local(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1600})
            context.route("**/*", only_local)
            yield context.new_page(), blocked
        finally:
            browser.close()


def save_screenshot(page: Any, tmp_path: Path) -> Path:
    path = tmp_path / "docs.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot of /docs: {path}")  # shown with `pytest -s`
    chosen = os.environ.get("ECKO_SCREENSHOT_DIR")
    if chosen:
        Path(chosen).mkdir(parents=True, exist_ok=True)
        copy = Path(chosen) / "docs.png"
        shutil.copyfile(path, copy)
        print(f"screenshot copied to {copy}")
    return path


def test_docs_page_renders_offline_and_try_it_out_gets_200(
    todo_server: LiveServer, browser_page: tuple[Any, list[str]], tmp_path: Path
) -> None:
    page, blocked = browser_page
    page.goto(f"{todo_server.url}/docs")
    page.wait_for_selector(".opblock", timeout=20_000)

    assert page.title() == "Todo API"
    assert page.get_attribute('meta[name="ecko-docs-assets"]', "content") == "local"
    summaries = page.locator(".opblock-summary").all_inner_texts()
    rendered = {" ".join(text.split()[:2]) for text in summaries}
    assert {"GET /todos", "POST /todos", "GET /todos/{todo_id}", "DELETE /todos/{todo_id}"} <= {
        item.replace("\u200b", "") for item in rendered
    }

    operation = page.locator("#operations-default-list_todos")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for(timeout=20_000)
    body = operation.locator(".live-responses-table tr.response .microlight").first

    assert status.inner_text().strip() == "200"
    assert "Look at the docs" in body.inner_text()
    screenshot = save_screenshot(page, tmp_path)
    assert screenshot.stat().st_size > 10_000
    assert blocked == []
