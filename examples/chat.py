"""A tiny chat: one HTML page, one WebSocket route, rooms kept by `ecko.websockets.Hub`.

Run it with `ecko run examples/chat.py:app`, open http://127.0.0.1:8000/ in two browser
windows, join the same room in both and talk. GET /rooms lists the rooms and their sizes.
"""

from __future__ import annotations

from typing import Annotated

from ecko import Ecko, HTMLResponse, Path, Query, WebSocket
from ecko.websockets import Hub

app = Ecko()
hub = Hub()


@app.get("/")
def index() -> HTMLResponse:
    return HTMLResponse(PAGE)


@app.get("/rooms")
def rooms() -> dict[str, int]:
    """Each room with people in it, and how many."""
    return {room: len(hub.members(room)) for room in hub.rooms()}


@app.websocket("/chat/{room}", max_message_size=4096)
async def chat(
    ws: WebSocket,
    room: Annotated[str, Path(max_length=64)],
    name: Annotated[str, Query(min_length=1, max_length=32)] = "anonymous",
) -> None:
    await ws.accept()
    async with hub.join(room, ws):
        members = len(hub.members(room))
        await hub.broadcast_json(room, {"kind": "joined", "name": name, "members": members})
        async for text in ws:
            await hub.broadcast_json(room, {"kind": "message", "name": name, "text": text})
    # Out of the room (the client left): tell whoever is still there.
    members = len(hub.members(room))
    await hub.broadcast_json(room, {"kind": "left", "name": name, "members": members})


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ecko chat</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
  form { display: flex; gap: .5rem; margin: .5rem 0; }
  input { flex: 1; padding: .4rem; font: inherit; }
  #log { list-style: none; padding: .5rem; height: 24rem; overflow-y: auto; }
  #log { border: 1px solid #ccc; }
  #log .info { color: #777; font-style: italic; }
  #log b { margin-right: .4rem; }
</style>
</head>
<body>
<h1>Ecko chat</h1>
<form id="join">
  <input id="room" placeholder="room" value="lobby" required maxlength="64">
  <input id="name" placeholder="your name" required maxlength="32">
  <button>Join</button>
</form>
<ul id="log"></ul>
<form id="say">
  <input id="text" placeholder="say something" autocomplete="off" disabled>
  <button id="send" disabled>Send</button>
</form>
<script>
const log = document.getElementById("log");
const text = document.getElementById("text");
const send = document.getElementById("send");
let socket = null;

function show(who, words, info) {
  const item = document.createElement("li");
  if (info) item.className = "info";
  if (who) {
    const name = document.createElement("b");
    name.textContent = who;
    item.append(name);
  }
  item.append(document.createTextNode(words));  // text, never HTML: no injection
  log.append(item);
  log.scrollTop = log.scrollHeight;
}

document.getElementById("join").addEventListener("submit", (event) => {
  event.preventDefault();
  if (socket) socket.close(1000, "switching rooms");
  const room = document.getElementById("room").value;
  const name = document.getElementById("name").value;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}/chat/${encodeURIComponent(room)}` +
              `?name=${encodeURIComponent(name)}`;
  const current = socket = new WebSocket(url);
  current.addEventListener("open", () => {
    log.replaceChildren();
    show("", `You are in room "${room}".`, true);
    text.disabled = send.disabled = false;
    text.focus();
  });
  current.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.kind === "message") show(message.name + ":", message.text, false);
    else show("", `${message.name} ${message.kind} (${message.members} here)`, true);
  });
  current.addEventListener("close", (event) => {
    if (current !== socket) return;
    text.disabled = send.disabled = true;
    show("", `Disconnected (code ${event.code}${event.reason ? ": " + event.reason : ""}).`, true);
  });
});

document.getElementById("say").addEventListener("submit", (event) => {
  event.preventDefault();
  if (socket && socket.readyState === WebSocket.OPEN && text.value) {
    socket.send(text.value);
    text.value = "";
  }
});
</script>
</body>
</html>
"""
