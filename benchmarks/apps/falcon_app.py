"""Falcon (ASGI): resource classes, bodies validated with msgspec (Falcon's own recipe)."""

# ruff: noqa: D101, D102, D103 - handlers written as each framework's docs write them

import asyncio
from typing import Any

import falcon
import falcon.asgi
import msgspec
from apps.common import API_KEY, FILE, ITEMS
from falcon.media import JSONHandler


class User(msgspec.Struct):
    """Scenario 5's body."""

    name: str
    email: str
    age: int


class Hello:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"message": "Hello, World!"}


class Plaintext:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "Hello, World!"


class UserItem:
    async def on_get(self, req: Any, resp: Any, user_id: int) -> None:
        resp.media = {"id": user_id, "active": req.get_param_as_bool("active", default=False)}


class Search:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {
            "q": req.get_param("q", required=True),
            "limit": req.get_param_as_int("limit", required=True),
            "page": req.get_param_as_int("page"),
            "tag": req.get_param_as_list("tag", default=[]),
        }


user_decoder = msgspec.json.Decoder(User)


class Users:
    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        try:
            user = user_decoder.decode(await req.stream.read())
        except msgspec.ValidationError as error:
            raise falcon.HTTPUnprocessableEntity(description=str(error)) from None
        resp.status = falcon.HTTP_201
        resp.media = {"id": 1, "name": user.name, "email": user.email, "age": user.age}


class Sync:
    def get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"message": "sync"}

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        # Falcon's ASGI responders are coroutines; its helper runs sync code in a thread.
        await falcon.util.sync_to_async(self.get, req, resp)


class Items:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = ITEMS


class Echo:
    async def on_websocket(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text(await ws.receive_text())
        except falcon.WebSocketDisconnected:
            pass


class Download:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = "application/octet-stream"
        resp.data = await asyncio.to_thread(FILE.read_bytes)


def _app() -> falcon.asgi.App:
    application = falcon.asgi.App()
    # Same bytes as the others: compact JSON through msgspec, as Falcon's docs suggest.
    json_handler = JSONHandler(dumps=msgspec.json.encode, loads=msgspec.json.decode)
    application.req_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    application.resp_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    return application


app = _app()
app.add_route("/", Hello())
app.add_route("/plaintext", Plaintext())
app.add_route("/users/{user_id:int}", UserItem())
app.add_route("/search", Search())
app.add_route("/users", Users())
app.add_route("/sync", Sync())
app.add_route("/items", Items())
app.add_route("/ws", Echo())
app.add_route("/file", Download())


class TagResponse:
    """Add `x-middleware: on` to every response."""

    async def process_response(self, req: Any, resp: Any, resource: Any, ok: bool) -> None:
        resp.set_header("x-middleware", "on")


async def check_key(req: Any, resp: Any, resource: Any, params: Any) -> None:
    if req.get_header("x-api-key") != API_KEY:
        raise falcon.HTTPUnauthorized()


class Guarded:
    @falcon.before(check_key)
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"message": "guarded"}


guarded_app = _app()
guarded_app.add_middleware(TagResponse())
guarded_app.add_route("/guarded", Guarded())
