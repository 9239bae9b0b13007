"""Render the development-mode error page and JSON for an unhandled exception (debug=True only)."""

from __future__ import annotations

import functools
import html
import itertools
import linecache
import math
import os
import reprlib
import sysconfig
import traceback
from collections.abc import Iterator
from types import FrameType
from typing import Any, NamedTuple

_CONTEXT_LINES = 5
_MAX_REPR = 200
_MAX_LOCALS = 100
# The same limits CPython's traceback module applies when printing.
_RECURSIVE_CUTOFF = 3
_MAX_GROUP_WIDTH = 15
_MAX_GROUP_DEPTH = 10

_RELATIONS = {
    "cause": "The above exception was the direct cause of the following exception:",
    "context": "During handling of the above exception, another exception occurred:",
}

# (line, end_line, column, end_column) of the failing expression; columns are UTF-8 offsets.
_Position = tuple[int | None, int | None, int | None, int | None]


class _Frame(NamedTuple):
    """One traceback entry: where it ran, and the live frame for its source and locals."""

    filename: str
    lineno: int
    function: str
    frame: FrameType
    position: _Position

    @property
    def key(self) -> tuple[str, int, str]:
        """Identify the call site, to spot recursion."""
        return (self.filename, self.lineno, self.function)


@functools.cache  # sysconfig computes the paths on first use: keep that out of import time
def _library_roots() -> tuple[str, ...]:
    """Return the directories whose code is not the user's: stdlib, site-packages, Ecko."""
    paths = sysconfig.get_paths()
    candidates = [paths.get(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")]
    candidates.append(os.path.dirname(os.path.abspath(__file__)))
    roots: set[str] = set()
    for candidate in candidates:
        if candidate:
            roots.update({os.path.abspath(candidate), os.path.realpath(candidate)})
    return tuple(roots)


@functools.lru_cache(maxsize=1024)
def _is_library(filename: str) -> bool:
    """Tell whether `filename` belongs to the stdlib, an installed package or Ecko itself."""
    if filename.startswith("<frozen "):
        return True
    if filename.startswith("<"):  # <string>, <stdin>: code the user typed or exec'd
        return False
    path = os.path.abspath(filename)
    parts = path.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return True
    return any(path == root or path.startswith(root + os.sep) for root in _library_roots())


def _safe_str(value: object, fallback: str) -> str:
    """Return `str(value)`, or `fallback` when its `__str__` raises."""
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - user code: the page must render whatever __str__ does
        return fallback


def _message(exc: BaseException) -> str:
    """Return the exception's message as `str(exc)` would, never raising."""
    return _safe_str(exc, "<exception str() failed>")


def _type_name(exc: BaseException) -> str:
    """Name the class as Python's traceback does: `json.decoder.JSONDecodeError`, `KeyError`."""
    cls = type(exc)
    module = getattr(cls, "__module__", None)
    if not isinstance(module, str) or module in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def _headline(exc: BaseException) -> str:
    """Return `Type: message`, or just `Type` when the message is empty."""
    message = _message(exc)
    return f"{_type_name(exc)}: {message}" if message else _type_name(exc)


def _cap(text: str, limit: int = _MAX_REPR) -> str:
    """Shorten `text` to at most `limit` characters, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _SafeRepr(reprlib.Repr):
    """A size-limited repr that reports a failing `__repr__` instead of hiding it."""

    def __init__(self) -> None:
        super().__init__()
        self.maxstring = _MAX_REPR
        self.maxother = _MAX_REPR
        self.maxlevel = 3

    def repr_instance(self, x: object, level: int) -> str:
        """Repr an object reprlib has no rule for, catching a raising `__repr__`."""
        try:
            return _cap(repr(x), self.maxother)
        except Exception as error:  # noqa: BLE001 - user __repr__: report it, keep rendering
            return _repr_failed(error)


def _repr_failed(error: Exception) -> str:
    """Describe a `__repr__` that raised `error`."""
    return f"<repr failed: {type(error).__name__}: {_safe_str(error, '?')}>"


_repr = _SafeRepr()


def _safe_repr(value: object) -> str:
    """Return a repr of `value` of at most ~200 characters; never raises."""
    try:
        return _cap(_repr.repr(value))
    except Exception as error:  # noqa: BLE001 - reprlib calls len(), sorted()... on user objects
        return _cap(_repr_failed(error))


def _chain(exc: BaseException, seen: set[int]) -> list[tuple[BaseException, str | None]]:
    """Return `exc` and the exceptions it came from, oldest first, as Python prints them.

    Each entry carries how it leads to the next one ("cause", "context"), None for `exc`.
    """
    links: list[tuple[BaseException, str | None]] = []
    current: BaseException | None = exc
    relation: str | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        links.append((current, relation))
        if current.__cause__ is not None:
            relation, current = "cause", current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            relation, current = "context", current.__context__
        else:
            current = None
    links.reverse()
    return links


def _frames(exc: BaseException) -> list[_Frame]:
    """Return the traceback entries of `exc`, outermost call first."""
    frames: list[_Frame] = []
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        code = frame.f_code
        position: _Position = (None, None, None, None)
        if tb.tb_lasti >= 0:
            # As traceback._get_code_position: co_positions has one entry per 2-byte code unit.
            found = next(itertools.islice(code.co_positions(), tb.tb_lasti // 2, None), None)
            position = found or position
        frames.append(_Frame(code.co_filename, tb.tb_lineno, code.co_name, frame, position))
        tb = tb.tb_next
    return frames


def _collapse(frames: list[_Frame]) -> Iterator[_Frame | int]:
    """Yield frames, replacing runs of the same call site past 3 with the count hidden."""
    previous: tuple[str, int, str] | None = None
    run = 0
    for frame in frames:
        if frame.key == previous:
            run += 1
        else:
            if run > _RECURSIVE_CUTOFF:
                yield run - _RECURSIVE_CUTOFF
            previous, run = frame.key, 1
        if run <= _RECURSIVE_CUTOFF:
            yield frame
    if run > _RECURSIVE_CUTOFF:
        yield run - _RECURSIVE_CUTOFF


def _source_lines(frame: _Frame) -> list[str]:
    """Return the lines of the frame's file, empty when its source is unavailable."""
    linecache.checkcache(frame.filename)  # the file may have been edited since it was imported
    try:
        return linecache.getlines(frame.filename, frame.frame.f_globals)
    except Exception:  # noqa: BLE001 - a user module's __loader__.get_source() may raise anything
        return []


def _locals(frame: _Frame) -> list[tuple[str, str]]:
    """Return the frame's local names with capped reprs, at most 100 of them."""
    names = list(frame.frame.f_locals.items())[:_MAX_LOCALS]
    return [(str(name), _safe_repr(value)) for name, value in names]


_e = html.escape


def _render_code(text: str, lineno: int, frame: _Frame) -> str:
    """Render the failing line, marking the failing expression when Python located it."""
    start_line, end_line, start, end = frame.position
    if start_line != lineno or start is None:
        return _e(text)
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: the offsets cannot be mapped back
        return _e(text)
    begin = len(encoded[:start].decode("utf-8", "replace"))
    if end_line == lineno and end is not None:
        finish = len(encoded[:end].decode("utf-8", "replace"))
    else:  # the expression continues on the next lines
        finish = len(text)
    if not 0 <= begin < finish <= len(text):
        return _e(text)
    return f"{_e(text[:begin])}<mark>{_e(text[begin:finish])}</mark>{_e(text[finish:])}"


def _render_source(frame: _Frame) -> str:
    """Render the 5 lines either side of the failing one, numbered, the failing one highlighted."""
    lines = _source_lines(frame)
    if not 1 <= frame.lineno <= len(lines):
        return '<p class="muted">Source not available.</p>'
    first = max(1, frame.lineno - _CONTEXT_LINES)
    last = min(len(lines), frame.lineno + _CONTEXT_LINES)
    rows = []
    for number in range(first, last + 1):
        text = lines[number - 1].rstrip("\r\n")
        if number == frame.lineno:
            code = _render_code(text, number, frame)
            rows.append(
                f'<div class="line current"><span class="lineno">{number}</span>'
                f"<code>{code}</code></div>"
            )
        else:
            rows.append(
                f'<div class="line"><span class="lineno">{number}</span>'
                f"<code>{_e(text)}</code></div>"
            )
    return f'<div class="source">{"".join(rows)}</div>'


def _render_locals(frame: _Frame) -> str:
    """Render the frame's locals as a name/repr table."""
    entries = _locals(frame)
    if not entries:
        return '<p class="muted">No local variables.</p>'
    rows = "".join(
        f'<tr><th scope="row">{_e(name)}</th><td><code>{_e(value)}</code></td></tr>'
        for name, value in entries
    )
    return f'<table class="locals"><caption>Local variables</caption>{rows}</table>'


def _render_frame(frame: _Frame) -> str:
    """Render one frame: open for the user's code, collapsed for library code."""
    library = _is_library(frame.filename)
    kind, opened = ("library", "") if library else ("user", " open")
    return (
        f'<details class="frame {kind}"{opened}><summary>'
        f'<span class="file">{_e(frame.filename)}</span>, '
        f'line <span class="lineno">{frame.lineno}</span>, '
        f'in <span class="function">{_e(frame.function)}</span></summary>'
        f"{_render_source(frame)}{_render_locals(frame)}</details>"
    )


def _render_traceback(exc: BaseException) -> str:
    """Render the frames of one exception, most recent call last."""
    frames = _frames(exc)
    if not frames:
        return '<p class="muted">No traceback: this exception was never raised.</p>'
    parts = ['<p class="tb-label">Traceback (most recent call last):</p>']
    for item in _collapse(frames):
        if isinstance(item, int):
            times = "time" if item == 1 else "times"
            parts.append(f'<p class="repeat">[Previous frame repeated {item} more {times}]</p>')
        else:
            parts.append(_render_frame(item))
    return "".join(parts)


def _render_notes(exc: BaseException) -> str:
    """Render the notes added with `add_note()`."""
    notes = getattr(exc, "__notes__", None)
    if not isinstance(notes, (list, tuple)) or not notes:
        return ""
    items = "".join(f"<li>{_e(_safe_str(note, '<note str() failed>'))}</li>" for note in notes)
    return f'<ul class="notes">{items}</ul>'


def _render_group(group: BaseExceptionGroup[BaseException], seen: set[int], depth: int) -> str:
    """Render the sub-exceptions of an exception group, within Python's width and depth limits."""
    if depth >= _MAX_GROUP_DEPTH:
        return '<p class="muted">... (max exception group depth reached)</p>'
    total = len(group.exceptions)
    parts = []
    for index, sub in enumerate(group.exceptions[:_MAX_GROUP_WIDTH], start=1):
        inner = _render_chain(sub, seen, depth + 1) or '<p class="muted">(shown above)</p>'
        parts.append(
            f'<div class="sub-exception"><p class="sub-label">Sub-exception {index} of {total}</p>'
            f"{inner}</div>"
        )
    if total > _MAX_GROUP_WIDTH:
        parts.append(f'<p class="muted">and {total - _MAX_GROUP_WIDTH} more exceptions</p>')
    return f'<div class="group">{"".join(parts)}</div>'


def _render_exception(exc: BaseException, seen: set[int], depth: int) -> str:
    """Render one exception: its headline, notes, traceback and any sub-exceptions."""
    message = _message(exc)
    message_html = f'<p class="exc-message">{_e(message)}</p>' if message else ""
    group = ""
    if isinstance(exc, BaseExceptionGroup):
        group = _render_group(exc, seen, depth)
    return (
        f'<section class="exception"><h2 class="exc-title">'
        f'<span class="exc-type">{_e(_type_name(exc))}</span></h2>{message_html}'
        f"{_render_notes(exc)}{_render_traceback(exc)}{group}</section>"
    )


def _render_chain(exc: BaseException, seen: set[int], depth: int) -> str:
    """Render `exc` with its causes and contexts, oldest first, joined as Python joins them."""
    parts = []
    for link, relation in _chain(exc, seen):
        parts.append(_render_exception(link, seen, depth))
        if relation is not None:
            parts.append(f'<p class="separator">{_e(_RELATIONS[relation])}</p>')
    return "".join(parts)


def _printable(text: str) -> str:
    """Replace lone surrogates so the text encodes as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


_STYLE = """
:root { color-scheme: light; --red: #b3261e; --ink: #1d1d1f; --muted: #6b6b73; --line: #e4e4e8; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--ink); background: #f6f6f8; }
code, pre, .file, .lineno, .exc-type { font-family: ui-monospace, "SFMono-Regular", Menlo,
  Consolas, monospace; font-size: 13px; }
header.summary { background: #2b0f0e; color: #fff; padding: 24px 32px; border-bottom: 4px solid
  var(--red); }
header .label { margin: 0; text-transform: uppercase; letter-spacing: .08em; font-size: 12px;
  color: #f2b8b5; }
header h1 { margin: 4px 0 8px; font-size: 24px; word-break: break-word; }
header .message { margin: 0 0 16px; white-space: pre-wrap; word-break: break-word;
  font-size: 17px; }
header dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
header dt { color: #f2b8b5; } header dd { margin: 0; font-family: ui-monospace, monospace;
  word-break: break-all; }
header .hint { margin: 16px 0 0; font-size: 13px; color: #f2b8b5; }
main { padding: 24px 32px; max-width: 1200px; }
.exception { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 16px 20px; margin: 0 0 16px; }
.exc-title { margin: 0; font-size: 18px; color: var(--red); }
.exc-message { margin: 4px 0 12px; white-space: pre-wrap; word-break: break-word; }
.notes { margin: 0 0 12px; color: var(--muted); }
.tb-label, .muted, .repeat { color: var(--muted); margin: 8px 0; }
.separator { margin: 16px 4px; font-style: italic; color: var(--muted); }
details.frame { border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; }
details.frame > summary { cursor: pointer; padding: 6px 10px; background: #fafafb;
  word-break: break-all; }
details.frame.user > summary { background: #fff4f3; border-left: 3px solid var(--red); }
details.frame.library > summary { color: var(--muted); }
.function { font-weight: 600; }
.source { margin: 8px 10px; border: 1px solid var(--line); border-radius: 4px; overflow-x: auto;
  background: #fbfbfc; }
.source .line { display: flex; white-space: pre; }
.source .line .lineno { flex: none; width: 4.5em; padding: 0 8px; text-align: right;
  color: var(--muted); user-select: none; border-right: 1px solid var(--line); }
.source .line code { padding: 0 8px; }
.source .line.current { background: #fde7e5; }
.source .line.current .lineno { color: var(--red); font-weight: 700; }
mark { background: #f7b7b1; color: inherit; border-radius: 2px; }
table.locals { margin: 8px 10px 12px; border-collapse: collapse; font-size: 13px; }
table.locals caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
table.locals th { text-align: left; font-weight: 600; padding: 2px 16px 2px 0;
  vertical-align: top; font-family: ui-monospace, monospace; }
table.locals td code { white-space: pre-wrap; word-break: break-all; }
.group { border-left: 3px solid var(--line); padding-left: 12px; margin-top: 12px; }
.sub-label { font-weight: 600; margin: 12px 0 6px; }
details.plain { margin-top: 24px; }
details.plain pre { background: #fff; border: 1px solid var(--line); border-radius: 6px;
  padding: 12px; overflow-x: auto; }
"""


def debug_html(exc: BaseException, *, method: str, path: str, request_id: str) -> str:
    """Render a self-contained HTML page describing `exc` for the developer.

    The page holds the request line and id, the full chained traceback with each frame's
    surrounding source and locals (frames from the user's code open, library frames
    collapsed), sub-exceptions of exception groups, and the plain-text traceback.
    Everything that comes from the request or the program is HTML-escaped.
    """
    headline = _headline(exc)
    message = _message(exc)
    message_html = f'<p class="message">{_e(message)}</p>' if message else ""
    text = "".join(traceback.format_exception(exc))
    body = _render_chain(exc, set(), depth=0)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(_cap(headline, 150))} · Ecko debug</title>"
        f"<style>{_STYLE}</style></head><body>"
        '<header class="summary"><p class="label">Unhandled exception</p>'
        f'<h1 class="exc-type">{_e(_type_name(exc))}</h1>{message_html}'
        f"<dl><dt>Request</dt><dd>{_e(method)} {_e(path)}</dd>"
        f"<dt>Request ID</dt><dd>{_e(request_id)}</dd></dl>"
        '<p class="hint">Shown because the app runs with Ecko(debug=True). '
        "Never enable debug mode in production: this page exposes source code and variables.</p>"
        f"</header><main>{body}"
        '<details class="plain"><summary>Plain-text traceback</summary>'
        f"<pre>{_e(text)}</pre></details></main></body></html>\n"
    )
    return _printable(page)


def _json_traceback(exc: BaseException) -> list[dict[str, Any]]:
    """Return the frames of `exc` as file/line/function/code entries, outermost first."""
    entries: list[dict[str, Any]] = []
    for frame in _frames(exc):
        lines = _source_lines(frame)
        code = lines[frame.lineno - 1].strip() if 1 <= frame.lineno <= len(lines) else None
        entries.append(
            {
                "file": _printable(frame.filename),
                "line": frame.lineno,
                "function": _printable(frame.function),
                "code": None if code is None else _printable(code),
            }
        )
    return entries


def _json_exception(exc: BaseException, seen: set[int], depth: int) -> dict[str, Any]:
    """Describe one exception: type, message, traceback, and sub-exceptions for a group."""
    entry: dict[str, Any] = {
        "type": _type_name(exc),
        "message": _printable(_message(exc)),
        "traceback": _json_traceback(exc),
    }
    if isinstance(exc, BaseExceptionGroup) and depth < _MAX_GROUP_DEPTH:
        entry["exceptions"] = [
            _json_with_chain(sub, seen, depth + 1)
            for sub in exc.exceptions[:_MAX_GROUP_WIDTH]
            if id(sub) not in seen
        ]
    return entry


def _json_with_chain(exc: BaseException, seen: set[int], depth: int) -> dict[str, Any]:
    """Describe `exc` plus the chain of exceptions it came from, oldest first."""
    older = _chain(exc, seen)[:-1]
    entry = _json_exception(exc, seen, depth)
    entry["chain"] = [
        {**_json_exception(link, seen, depth), "relation": relation} for link, relation in older
    ]
    return entry


def debug_json(exc: BaseException, *, request_id: str) -> dict[str, Any]:
    """Describe `exc` as JSON-ready data for clients that do not accept HTML.

    Returns:
        `type` and `message` of `exc`, the `request_id`, its `traceback` (frames outermost
        first, each with `file`, `line`, `function` and the failing source line as `code`,
        None when unavailable), the `chain` of exceptions it was raised from or while
        handling (oldest first, each with `relation` "cause" or "context" to the next),
        `exceptions` for an exception group, and Python's own `traceback_text`.
    """
    entry = _json_with_chain(exc, set(), depth=0)
    return {
        "type": entry.pop("type"),
        "message": entry.pop("message"),
        "request_id": request_id,
        **entry,
        "traceback_text": _printable("".join(traceback.format_exception(exc))),
    }


def _quality(parameters: str) -> float | None:
    """Return the q-value among a media range's parameters: 1 if absent, None if invalid."""
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return None
            return quality if math.isfinite(quality) and 0 <= quality <= 1 else None
    return 1.0


def _preference(ranges: list[tuple[str, str, float]], kind: str, subtype: str) -> tuple[float, int]:
    """Return (q, specificity) of the most specific range matching `kind/subtype`."""
    best_rank, best_quality = -1, 0.0
    for range_kind, range_subtype, quality in ranges:
        if range_kind == kind and range_subtype == subtype:
            rank = 2
        elif range_kind == kind and range_subtype == "*":
            rank = 1
        elif range_kind == "*" and range_subtype == "*":
            rank = 0
        else:
            continue
        if rank > best_rank:
            best_rank, best_quality = rank, quality
        elif rank == best_rank:
            best_quality = max(best_quality, quality)
    return best_quality, best_rank


def wants_html(accept_header: str | None) -> bool:
    """Tell whether an Accept header prefers text/html to application/json.

    Browsers name text/html explicitly and rank everything else lower; `*/*` (curl), a
    missing header, or equal preference for both means JSON. At equal q-values, the type
    named more specifically wins (RFC 9110, 12.5.1).
    """
    if not accept_header:
        return False
    ranges: list[tuple[str, str, float]] = []
    for item in accept_header.split(","):
        media, _, parameters = item.partition(";")
        kind, slash, subtype = media.strip().lower().partition("/")
        quality = _quality(parameters)
        if slash and kind and subtype and quality is not None:
            ranges.append((kind, subtype, quality))
    html_preference = _preference(ranges, "text", "html")
    json_preference = _preference(ranges, "application", "json")
    return html_preference[0] > 0 and html_preference > json_preference
