"""Every feature at once, for the bad-input fuzzers: all middleware, forms, files, events, docs.

`build(directory)` makes the app serving the static files and templates `write_files()` put
in `directory`; `create_app()`, the uvicorn factory, does both in $KITCHEN_SINK_DIR.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import msgspec

from ecko import (
    BackgroundTasks,
    Cookie,
    Ecko,
    File,
    Form,
    Header,
    HTMLResponse,
    Query,
    Request,
    Router,
    State,
    UploadFile,
    context,
    setup_openapi,
)
from ecko.middleware import (
    Middleware,
    compression,
    cors,
    csrf,
    https_redirect,
    proxy_headers,
    rate_limit,
    request_id,
    security_headers,
    sessions,
    timeout,
    trusted_hosts,
)
from ecko.middleware.sessions import MemoryStore
from ecko.sse import MemoryReplayBuffer, ServerSentEvent
from ecko.templating import Templates

SECRET = "kitchen-sink-secret-" + "x" * 32
MAX_BODY_SIZE = 64 * 1024
STATIC_FILES = {
    "hello.txt": "hello, static world\n" * 50,
    "index.html": "<!doctype html><title>index</title>",
    "sub/deep.css": "body { color: red; }\n" * 40,
    ".hidden": "secret",
}
TEMPLATE = "<!doctype html><p>Hello {{ name }}, {{ context.request.url.path }}</p>\n"

router = Router()
done: list[str] = []


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []


@router.get("/token")
def token() -> dict[str, str]:
    context.session["visits"] = context.session.get("visits", 0) + 1
    return {"token": context.csrf_token}


@router.get("/api/items/{item_id}")
def read_item(
    item_id: int,
    q: str | None = None,
    limit: int = Query(10, ge=1, le=100),
    tags: list[str] = Query([]),
    flag: bool = False,
    x_count: int = Header(0),
    theme: str = Cookie("light"),
) -> dict[str, object]:
    return {
        "id": item_id,
        "q": q,
        "limit": limit,
        "tags": tags,
        "flag": flag,
        "count": x_count,
        "theme": theme,
    }


@router.post("/api/items")
def create_item(item: Item, tasks: BackgroundTasks) -> Item:
    tasks.add(done.append, item.name)
    return item


@router.put("/api/items/{item_id}")
def replace_item(item_id: int, item: Item, dry_run: bool = False) -> dict[str, object]:
    return {"id": item_id, "item": item, "dry_run": dry_run}


@router.get("/api/whoami")
def whoami(request: Request) -> dict[str, object]:
    return {
        "url": str(request.url),
        "client": request.client,
        "scheme": request.url.scheme,
        "host": request.headers.get("host"),
        "cookies": dict(request.cookies),
    }


@router.post("/profile")
async def profile(
    name: str = Form(), age: int = Form(), avatar: UploadFile | None = File(None)
) -> dict[str, object]:
    content = await avatar.read() if avatar else b""
    return {
        "name": name,
        "age": age,
        "bytes": len(content),
        "filename": avatar.filename if avatar else None,
    }


@router.post("/api/raw-form")
async def raw_form(request: Request) -> dict[str, int]:
    return {"fields": len(await request.form())}


@router.sse("/events", replay=MemoryReplayBuffer(), ping=None)
def events(start: int = 0) -> Iterator[ServerSentEvent]:
    for number in range(start, start + 2):
        yield ServerSentEvent({"n": number}, event="tick", id=str(number))


def write_files(directory: Path) -> None:
    """Write the static files and the template the app serves into `directory`."""
    for name, text in STATIC_FILES.items():
        (directory / "static" / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / "static" / name).write_text(text)
    (directory / "templates").mkdir(exist_ok=True)
    (directory / "templates" / "page.html").write_text(TEMPLATE)


def build(directory: Path, *, reverse: bool = False) -> Ecko[State]:
    """Make the app serving `directory`; `reverse` runs the middleware in the opposite order.

    The usual order puts proxy_headers() first and csrf() last. Reversed, hostile input
    reaches csrf(), sessions() and https_redirect() before trusted_hosts() checks the Host,
    and the variants switch to the `Forwarded` header and server-side sessions.
    """
    app = Ecko(max_body_size=MAX_BODY_SIZE)
    middleware: list[Middleware] = [
        proxy_headers(trusted=["127.0.0.1"], forwarded=reverse),
        trusted_hosts(["testserver", "127.0.0.1", "localhost", "*.example.com"]),
        https_redirect(),
        request_id(),
        security_headers(),
        cors(["https://app.example.com"], allow_credentials=True, headers=["X-CSRF-Token"]),
        compression(minimum_size=20),
        rate_limit("100000/second"),
        timeout(10),
        sessions(SECRET, store=MemoryStore() if reverse else None),
        csrf(SECRET, exempt_paths=["/api/*"]),
    ]
    for each in reversed(middleware) if reverse else middleware:
        app.use(each)
    app.static("/static", directory / "static", index=True)
    templates = Templates(directory / "templates")

    @app.get("/")
    def home(name: str = "world") -> HTMLResponse:
        return templates.render("page.html", name=name)

    app.include(router)
    setup_openapi(app, title="Kitchen sink", version="1.0")
    return app


def create_app() -> Ecko[State]:
    """Build the app for uvicorn's `--factory`, writing its files into $KITCHEN_SINK_DIR."""
    directory = Path(os.environ["KITCHEN_SINK_DIR"])
    write_files(directory)
    return build(directory)
