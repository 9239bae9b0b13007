"""Signed-cookie sessions: `context.session`, a dict kept in an HMAC-SHA256 signed cookie."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, Self, final

from ecko.context import context
from ecko.datastructures import Headers
from ecko.requests import Request, parse_cookies
from ecko.responses import Response
from ecko.serialization import decode_json, encode_json
from ecko.types import Scope

__all__ = [
    "DEFAULT_MAX_AGE",
    "MAX_COOKIE_SIZE",
    "MIN_SECRET_LENGTH",
    "Session",
    "SessionMiddleware",
    "SessionSerializer",
    "SessionTooLargeError",
    "derive_key",
    "sessions",
    "sign",
    "unsign",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 14 * 24 * 60 * 60
"""Sessions last 14 days from their last change unless told otherwise."""

MIN_SECRET_LENGTH = 30
"""Shorter secrets are refused. 32+ random characters are recommended; the floor is 30 so
that the specification's own example, `sessions(secret="your-secret-key-min-32-chars!!")`
(30 characters), runs as written."""

MAX_COOKIE_SIZE = 4093
"""Largest `name=value` the session cookie may take: browsers drop cookies past ~4096 bytes."""

# Domain separation: the same secret used elsewhere in the app yields an unrelated key.
_KEY_LABEL = b"ecko.middleware.sessions signing key v1"

CallNext = Callable[..., Awaitable[Response]]


class SessionTooLargeError(ValueError):
    """The session does not fit in a cookie; the app stored too much in it."""


class SessionSerializer(Protocol):
    """Turns the session dict into bytes and back (`msgspec.json` and `msgspec.msgpack` fit)."""

    def encode(self, obj: Any, /) -> bytes:
        """Encode the session dict."""
        ...

    def decode(self, data: bytes, /) -> Any:
        """Decode what `encode` produced."""
        ...


@final
class _JSONSerializer:
    """The default serializer: Ecko's msgspec JSON."""

    def encode(self, obj: Any, /) -> bytes:
        return encode_json(obj)

    def decode(self, data: bytes, /) -> Any:
        return decode_json(data)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def derive_key(secret: str | bytes) -> bytes:
    """Derive the HMAC-SHA256 signing key for sessions from `secret`."""
    material = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(material, _KEY_LABEL, hashlib.sha256).digest()


def _signature(key: bytes, message: bytes) -> bytes:
    return _b64encode(hmac.new(key, message, hashlib.sha256).digest()).encode("ascii")


def sign(data: bytes, key: bytes, timestamp: int | None = None) -> str:
    """Return the cookie value `base64url(data).timestamp.signature`, signed with `key`.

    Args:
        data: the serialized session.
        key: a key from `derive_key()`.
        timestamp: when it was signed, in POSIX seconds (default: now).
    """
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    message = f"{_b64encode(data)}.{stamp}"
    return f"{message}.{_signature(key, message.encode('ascii')).decode('ascii')}"


def unsign(
    value: str, keys: Sequence[bytes], max_age: int | None, now: float | None = None
) -> bytes | None:
    """Return the data `sign()` put in `value`, or None if tampered, malformed or expired.

    Args:
        value: the cookie value.
        keys: accepted keys (any of them may have signed it).
        max_age: seconds a signature stays valid; None for no limit.
        now: the current POSIX time (default: now).
    """
    payload, _, rest = value.partition(".")
    stamp, _, signature = rest.partition(".")
    if not payload or not signature or not (stamp.isascii() and stamp.isdigit()):
        return None
    # Headers are decoded as Latin-1, so this only "replaces" in values built by hand.
    message = f"{payload}.{stamp}".encode("latin-1", "replace")
    provided = signature.encode("latin-1", "replace")
    if not any(hmac.compare_digest(_signature(key, message), provided) for key in keys):
        return None
    if max_age is not None and (time.time() if now is None else now) - int(stamp) > max_age:
        return None
    try:
        return _b64decode(payload)
    except (binascii.Error, ValueError):
        return None


class Session(dict[str, Any]):
    """The session of one request: a dict that notes when it is changed.

    The cookie is sent again only when `modified` is true. Changing a nested value
    (`session["cart"].append(...)`) is not seen: assign the key again, or set
    `session.modified = True`.
    """

    __slots__ = ("modified",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(data or {})
        self.modified = False

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.modified = True

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.modified = True

    # typeshed overloads dict.__ior__ and __or__ pairwise; one signature cannot match both.
    def __ior__(self, other: Mapping[str, Any]) -> Self:  # type: ignore[override,misc]
        self.update(other)
        return self

    def clear(self) -> None:
        """Remove everything; the response then deletes the cookie."""
        super().clear()
        self.modified = True

    def pop(self, key: str, /, *default: Any) -> Any:
        """Remove `key` and return its value (or `default`)."""
        if key in self:
            self.modified = True
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last `(key, value)` pair."""
        item = super().popitem()
        self.modified = True
        return item

    def setdefault(self, key: str, default: Any = None, /) -> Any:
        """Return `session[key]`, storing `default` there first if it is missing."""
        if key not in self:
            self.modified = True
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Set every key of the given mapping (or pairs) and keywords."""
        super().update(*args, **kwargs)
        self.modified = True

    def __repr__(self) -> str:
        return f"Session({dict.__repr__(self)}, modified={self.modified})"


def _secret_keys(secret: str | bytes | Sequence[str | bytes]) -> tuple[bytes, ...]:
    """Check each secret is long enough; return their keys, the signing one first."""
    secrets_list = [secret] if isinstance(secret, (str, bytes)) else list(secret)
    if not secrets_list:
        raise ValueError("sessions(secret=[...]) needs at least one secret")
    for position, item in enumerate(secrets_list, 1):
        if not isinstance(item, (str, bytes)):
            raise TypeError(f"Session secrets must be str or bytes, got {type(item).__name__}")
        if len(item) < MIN_SECRET_LENGTH:
            which = (
                "The session secret" if len(secrets_list) == 1 else f"Session secret #{position}"
            )
            raise ValueError(
                f"{which} is {len(item)} characters; it must be at least {MIN_SECRET_LENGTH} "
                "(32 or more random ones are recommended). Generate one with "
                '`python -c "import secrets; print(secrets.token_urlsafe(32))"` '
                "and load it from an environment variable"
            )
    return tuple(derive_key(item) for item in secrets_list)


def _check_options(max_age: int | None, samesite: str | None) -> None:
    if max_age is not None and (
        isinstance(max_age, bool) or not isinstance(max_age, int) or max_age <= 0
    ):
        raise ValueError(
            f"sessions(max_age=...) must be whole seconds > 0, or None for a browser "
            f"session, got {max_age!r}"
        )
    if samesite is not None and samesite.lower() not in ("lax", "strict", "none"):
        raise ValueError(f"samesite must be 'lax', 'strict', 'none' or None, not {samesite!r}")


@final
class SessionMiddleware:
    """The middleware `sessions()` builds; see there for the options."""

    def __init__(
        self,
        secret: str | bytes | Sequence[str | bytes],
        *,
        cookie_name: str,
        max_age: int | None,
        path: str,
        domain: str | None,
        secure: bool | None,
        httponly: bool,
        samesite: str | None,
        serializer: SessionSerializer | None,
    ) -> None:
        self._keys = _secret_keys(secret)
        _check_options(max_age, samesite)
        self.cookie_name = cookie_name
        self.max_age = max_age
        self.path = path
        self.domain = domain
        # Browsers drop SameSite=None cookies without Secure, so "none" implies it.
        none_site = samesite is not None and samesite.lower() == "none"
        self.secure = True if secure is None and none_site else secure
        self.httponly = httponly
        self.samesite = samesite
        self.serializer: SessionSerializer = serializer or _JSONSerializer()
        # Set one throwaway cookie now so a bad name, path, domain or combination fails
        # here, at start-up, rather than on the first login.
        self._set_cookie(Response(), "probe", secure=bool(self.secure))

    def _set_cookie(self, response: Response, value: str, *, secure: bool) -> None:
        response.set_cookie(
            self.cookie_name,
            value,
            max_age=self.max_age,
            path=self.path,
            domain=self.domain,
            secure=secure,
            httponly=self.httponly,
            samesite=self.samesite,
        )

    def _encoding_error(self, data: Mapping[str, Any], error: Exception) -> TypeError:
        for key, value in data.items():
            try:
                self.serializer.encode({key: value})
            except Exception:  # noqa: BLE001 - any failure names the key that caused it
                return TypeError(
                    f"Session value {key!r} ({type(value).__name__}) cannot be stored in the "
                    f"session cookie: {error}. Store plain data (str, int, float, bool, None, "
                    "and lists and dicts of them), such as an id rather than an object"
                )
        return TypeError(f"The session cannot be serialized: {error}")

    def encode_cookie(self, data: Mapping[str, Any], *, timestamp: int | None = None) -> str:
        """Serialize and sign `data` into a cookie value.

        Args:
            data: the session contents.
            timestamp: the signing time in POSIX seconds (default: now); expiry counts from it.

        Raises:
            TypeError: a key is not a string or a value cannot be serialized.
            SessionTooLargeError: the cookie would exceed `MAX_COOKIE_SIZE` bytes.
        """
        for key in data:
            if not isinstance(key, str):
                raise TypeError(f"Session keys must be strings, got {key!r}")
        try:
            payload = self.serializer.encode(dict(data))
        except Exception as error:  # a serializer may raise anything; re-raised naming the key
            raise self._encoding_error(data, error) from error
        value = sign(payload, self._keys[0], timestamp)
        size = len(self.cookie_name) + 1 + len(value)
        if size > MAX_COOKIE_SIZE:
            largest = sorted(data, key=lambda key: len(self.serializer.encode(data[key])))[-3:]
            logger.warning(
                "Session cookie %r would be %d bytes (limit %d); largest keys: %s",
                self.cookie_name,
                size,
                MAX_COOKIE_SIZE,
                ", ".join(reversed(largest)),
            )
            raise SessionTooLargeError(
                f"The session cookie would be {size} bytes, over the {MAX_COOKIE_SIZE}-byte "
                "limit browsers keep; store less in the session (an id, with the data in a "
                "database or cache)"
            )
        return value

    def decode_cookie(self, value: str) -> dict[str, Any] | None:
        """Return the session in a cookie value, or None if tampered, expired or unreadable."""
        payload = unsign(value, self._keys, self.max_age)
        if payload is None:
            return None
        try:
            data = self.serializer.decode(payload)
        except Exception:  # noqa: BLE001 - an unreadable cookie means a fresh session
            return None
        return data if isinstance(data, dict) else None

    def open_session(self, scope: Scope) -> Session:
        """Read the session from the `Cookie` header of an HTTP or WebSocket `scope`.

        The session is also stored in `scope["session"]`.
        """
        cookies = parse_cookies(Headers(scope.get("headers", ())).get("cookie"))
        return self._open(scope, cookies.get(self.cookie_name))

    def _open(self, scope: Scope, value: str | None) -> Session:
        data = self.decode_cookie(value) if value else None
        session = Session(data)
        scope["session"] = session
        return session

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        """Load `context.session` from the cookie; send the cookie back if it changed."""
        value = request.cookies.get(self.cookie_name)
        session = self._open(request.scope, value)
        context.session = session
        response = await call_next()
        if session.modified:
            secure = self.secure
            if secure is None:
                secure = request.scope.get("scheme") in ("https", "wss")
            if session:
                self._set_cookie(response, self.encode_cookie(session), secure=secure)
            elif value is not None:
                response.delete_cookie(
                    self.cookie_name,
                    path=self.path,
                    domain=self.domain,
                    secure=secure,
                    httponly=self.httponly,
                    samesite=self.samesite,
                )
        return response


def sessions(
    secret: str | bytes | Sequence[str | bytes],
    *,
    cookie_name: str = "session",
    max_age: int | None = DEFAULT_MAX_AGE,
    path: str = "/",
    domain: str | None = None,
    secure: bool | None = None,
    httponly: bool = True,
    samesite: str | None = "lax",
    serializer: SessionSerializer | None = None,
) -> SessionMiddleware:
    """Build a middleware keeping `context.session` in a signed cookie.

    The session is a dict serialized to JSON, base64url-encoded, time-stamped and signed
    with HMAC-SHA256. A tampered, expired or unreadable cookie gives a fresh, empty session,
    never an error. The cookie is sent only when the session changed, and deleted when it
    was emptied. The contents are signed, not encrypted: users can read them.

    Args:
        secret: the signing secret (at least `MIN_SECRET_LENGTH` characters), or a list to
            rotate secrets: the first signs, any of them verifies.
        cookie_name: the cookie's name.
        max_age: seconds a session lasts after its last change; None for a browser
            session (no expiry, the cookie goes when the browser closes).
        path: the cookie's path.
        domain: the cookie's domain; None for this host only.
        secure: send the cookie over HTTPS only; None (the default) sets it when the
            request came over HTTPS (always with `samesite="none"`).
        httponly: hide the cookie from JavaScript.
        samesite: "lax", "strict", "none" or None.
        serializer: turns the session dict into bytes and back (default: msgspec JSON).

    Raises:
        ValueError: a secret is too short, or a cookie option is invalid.
        TypeError: a secret is neither str nor bytes.
    """
    return SessionMiddleware(
        secret,
        cookie_name=cookie_name,
        max_age=max_age,
        path=path,
        domain=domain,
        secure=secure,
        httponly=httponly,
        samesite=samesite,
        serializer=serializer,
    )
