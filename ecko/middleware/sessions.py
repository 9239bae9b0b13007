"""Sessions: `context.session`, a dict kept in an HMAC-SHA256 signed cookie or a server store."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar, final

from ecko.context import context
from ecko.datastructures import Headers
from ecko.middleware._session_dict import Session, check_json
from ecko.middleware._session_store import MemoryStore, SessionStore
from ecko.middleware.cors import add_vary
from ecko.requests import Request, parse_cookies
from ecko.responses import Response
from ecko.serialization import decode_json, encode_json
from ecko.types import Scope

__all__ = [
    "DEFAULT_MAX_AGE",
    "MAX_COOKIE_SIZE",
    "MIN_SECRET_LENGTH",
    "MemoryStore",
    "Session",
    "SessionMiddleware",
    "SessionStore",
    "SessionTooLargeError",
    "derive_key",
    "sessions",
    "sign",
    "unsign",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_MAX_AGE = 14 * 24 * 60 * 60
"""Sessions last 14 days from their last write unless told otherwise."""

MIN_SECRET_LENGTH = 32
"""Shorter secrets are refused: 32 random characters carry enough entropy for HMAC-SHA256."""

MAX_COOKIE_SIZE = 4096
"""Largest `name=value` the session cookie may take: Chrome and Firefox drop longer ones."""

# Domain separation: the same secret used elsewhere in the app yields an unrelated key.
_KEY_LABEL = b"ecko.middleware.sessions signing key v1"
_SAME_SITE = ("lax", "strict", "none")

CallNext = Callable[..., Awaitable[Response]]


class SessionTooLargeError(ValueError):
    """The session does not fit in a cookie; the app stored too much in it."""


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
        data: the serialized session (or a session id).
        key: a key from `derive_key()`.
        timestamp: when it was signed, in POSIX seconds (default: now).
    """
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    message = f"{_b64encode(data)}.{stamp}"
    return f"{message}.{_signature(key, message.encode('ascii')).decode('ascii')}"


def _verify(
    value: str, keys: Sequence[bytes], max_age: int | None, now: float
) -> tuple[bytes, int] | str:
    """Return `(data, timestamp)` from a signed value, or why it was refused."""
    payload, _, rest = value.partition(".")
    stamp, _, signature = rest.partition(".")
    if not payload or not signature or not (stamp.isascii() and stamp.isdigit()):
        return "malformed"
    # Headers are decoded as Latin-1, so this only "replaces" in values built by hand.
    message = f"{payload}.{stamp}".encode("latin-1", "replace")
    provided = signature.encode("latin-1", "replace")
    # Every key is tried, in constant time each: which one matched must not leak.
    if not any(hmac.compare_digest(_signature(key, message), provided) for key in keys):
        return "bad signature"
    signed_at = int(stamp)
    if max_age is not None and now - signed_at > max_age:
        return "expired"
    try:
        return _b64decode(payload), signed_at
    except (binascii.Error, ValueError):
        return "malformed payload"


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
    verified = _verify(value, keys, max_age, time.time() if now is None else now)
    return None if isinstance(verified, str) else verified[0]


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
                "random ones. Generate one with "
                '`python -c "import secrets; print(secrets.token_urlsafe(32))"` '
                "and load it from an environment variable"
            )
    return tuple(derive_key(item) for item in secrets_list)


def _check_options(
    max_age: int | None, same_site: str | None, https_only: bool | None, store: object
) -> None:
    if max_age is not None and (
        isinstance(max_age, bool) or not isinstance(max_age, int) or max_age <= 0
    ):
        raise ValueError(
            f"sessions(max_age=...) must be whole seconds > 0, or None for a browser "
            f"session, got {max_age!r}"
        )
    if same_site is not None and (
        not isinstance(same_site, str) or same_site.lower() not in _SAME_SITE
    ):
        raise ValueError(
            f"sessions(same_site=...) must be 'lax', 'strict', 'none' or None, not {same_site!r}"
        )
    if https_only not in (None, True, False):
        raise TypeError(f"sessions(https_only=...) must be None, True or False, not {https_only!r}")
    if same_site is not None and same_site.lower() == "none" and https_only is False:
        raise ValueError(
            "sessions(same_site='none') needs the Secure attribute, which https_only=False "
            "forbids; browsers drop such cookies. Use https_only=None or True"
        )
    if store is not None and not all(
        callable(getattr(store, name, None)) for name in ("get", "set", "delete")
    ):
        raise TypeError(
            f"sessions(store=...) takes a SessionStore (async get, set, delete), such as "
            f"MemoryStore(), not {type(store).__name__}"
        )


@final
class SessionMiddleware:
    """The middleware `sessions()` builds; see there for the options."""

    def __init__(
        self,
        secret: str | bytes | Sequence[str | bytes],
        *,
        max_age: int | None,
        cookie_name: str,
        same_site: str | None,
        https_only: bool | None,
        domain: str | None,
        path: str,
        store: SessionStore | None,
    ) -> None:
        self._keys = _secret_keys(secret)
        _check_options(max_age, same_site, https_only, store)
        self.cookie_name = cookie_name
        self.max_age = max_age
        self.path = path
        self.domain = domain
        self.same_site = same_site
        # Browsers drop SameSite=None cookies without Secure, so "none" implies it.
        none_site = same_site is not None and same_site.lower() == "none"
        self.https_only = True if https_only is None and none_site else https_only
        self.store = store
        # Set one throwaway cookie now so a bad name, path, domain or combination fails
        # here, at start-up, rather than on the first login.
        self._set_cookie(Response(), "probe", secure=bool(self.https_only))

    # -- the cookie ----------------------------------------------------------------------

    def _set_cookie(self, response: Response, value: str, *, secure: bool) -> None:
        response.set_cookie(
            self.cookie_name,
            value,
            max_age=self.max_age,
            path=self.path,
            domain=self.domain,
            secure=secure,
            httponly=True,
            samesite=self.same_site,
        )

    def _delete_cookie(self, response: Response, *, secure: bool) -> None:
        response.delete_cookie(
            self.cookie_name,
            path=self.path,
            domain=self.domain,
            secure=secure,
            httponly=True,
            samesite=self.same_site,
        )

    def _secure(self, scope: Scope) -> bool:
        if self.https_only is not None:
            return self.https_only
        # proxy_headers() rewrites the scheme for trusted proxies; a client's header alone
        # never reaches here.
        return scope.get("scheme") in ("https", "wss")

    @staticmethod
    def _encode(data: Mapping[str, Any]) -> bytes:
        # dict.items() reads a Session without marking it accessed.
        plain = dict(dict.items(data) if isinstance(data, dict) else data.items())
        for key, value in plain.items():
            if not isinstance(key, str):
                raise TypeError(f"Session keys must be strings, got {key!r}")
            # Checked again here: a value changed in place was never checked on assignment.
            check_json(value, f"session[{key!r}]")
        return encode_json(plain)

    def encode_cookie(self, data: Mapping[str, Any], *, timestamp: int | None = None) -> str:
        """Serialize and sign `data` into a cookie value (the cookie mode's format).

        Args:
            data: the session contents.
            timestamp: the signing time in POSIX seconds (default: now); expiry counts from it.

        Raises:
            TypeError: a key is not a string or a value is not JSON data.
            SessionTooLargeError: the cookie would exceed `MAX_COOKIE_SIZE` bytes.
        """
        value = sign(self._encode(data), self._keys[0], timestamp)
        size = len(self.cookie_name) + 1 + len(value)
        if size > MAX_COOKIE_SIZE:
            plain = dict(dict.items(data) if isinstance(data, dict) else data.items())
            sizes = {key: len(encode_json(item)) for key, item in plain.items()}
            largest = sorted(sizes, key=sizes.__getitem__)[-3:]
            raise SessionTooLargeError(
                f"The session cookie would be {size} bytes, over the {MAX_COOKIE_SIZE}-byte "
                f"limit browsers keep (largest keys: {', '.join(reversed(largest))}); store "
                "less in it, or keep the data on the server with "
                "sessions(secret=..., store=MemoryStore()) or another SessionStore"
            )
        return value

    def _decode(self, payload: bytes) -> dict[str, Any] | None:
        try:
            data = decode_json(payload)
        except Exception:  # noqa: BLE001 - unreadable data means a fresh session
            logger.debug("Session data is not JSON; starting an empty session")
            return None
        if not isinstance(data, dict):
            logger.debug("Session data is not a JSON object; starting an empty session")
            return None
        return data

    def decode_cookie(self, value: str) -> dict[str, Any] | None:
        """Return the session in a cookie value, or None if tampered, expired or unreadable."""
        verified = self._read_cookie(value, time.time())
        return None if verified is None else self._decode(verified[0])

    def _read_cookie(self, value: str | None, now: float) -> tuple[bytes, int] | None:
        """Verify the cookie: `(payload, signed_at)`, or None (logged at debug level)."""
        if not value:
            return None
        verified = _verify(value, self._keys, self.max_age, now)
        if isinstance(verified, str):
            logger.debug("Ignoring the %r cookie (%s)", self.cookie_name, verified)
            return None
        return verified

    # -- loading and saving --------------------------------------------------------------

    async def _load(
        self, value: str | None, now: float
    ) -> tuple[dict[str, Any] | None, str | None, int | None]:
        """Return `(data, session id, signed_at)` for the request's cookie value."""
        verified = self._read_cookie(value, now)
        if verified is None:
            return None, None, None
        payload, signed_at = verified
        if self.store is None:
            data = self._decode(payload)
            return data, None, signed_at if data is not None else None
        session_id = payload.decode("latin-1")
        stored = await self.store.get(session_id)
        if stored is None:
            logger.debug("Session id from the %r cookie is not in the store", self.cookie_name)
            return None, None, None
        return self._decode(stored), session_id, signed_at

    async def open_session(self, scope: Scope) -> Session:
        """Read the session from the `Cookie` header of an HTTP or WebSocket `scope`.

        The session is also stored in `scope["session"]`. Changes made to it are not saved
        (there is no response to carry a cookie).
        """
        cookies = parse_cookies(Headers(scope.get("headers", ())).get("cookie"))
        data, _, _ = await self._load(cookies.get(self.cookie_name), time.time())
        session = Session(data)
        scope["session"] = session
        return session

    async def _save(
        self,
        scope: Scope,
        response: Response,
        session: Session,
        loaded: tuple[bool, str | None, int | None],
        now: float,
    ) -> None:
        """Write the session back: cookie, store record, or their deletion, as needed."""
        had_cookie, session_id, signed_at = loaded
        accessed, modified = session.accessed, session.modified
        if accessed or modified:
            # The answer depends on who asked: a shared cache must not hand it to others.
            add_vary(response, "Cookie")
        if not dict.__len__(session):
            if modified:
                if session_id is not None and self.store is not None:
                    await self.store.delete(session_id)
                if had_cookie:
                    self._delete_cookie(response, secure=self._secure(scope))
            return
        # Sliding expiry: a session in use is signed again once past half its lifetime.
        stale = (
            accessed
            and signed_at is not None
            and self.max_age is not None
            and now - signed_at > self.max_age / 2
        )
        if not (modified or stale):
            return
        if self.store is None:
            self._set_cookie(response, self.encode_cookie(session), secure=self._secure(scope))
            return
        payload = self._encode(session)
        new_id = session_id is None or session.regenerated
        if new_id:
            if session_id is not None:
                await self.store.delete(session_id)
            session_id = secrets.token_urlsafe(32)
        assert session_id is not None  # for type checkers: set just above when missing
        await self.store.set(session_id, payload, self.max_age)
        if new_id or stale:
            value = sign(session_id.encode("ascii"), self._keys[0])
            self._set_cookie(response, value, secure=self._secure(scope))

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        """Load `context.session`; send the cookie back if it changed or is getting old."""
        value = request.cookies.get(self.cookie_name)
        now = time.time()
        data, session_id, signed_at = await self._load(value, now)
        session = Session(data)
        request.scope["session"] = session
        context.session = session
        response = await call_next()
        await self._save(
            request.scope, response, session, (value is not None, session_id, signed_at), now
        )
        return response


def sessions(
    secret: str | bytes | Sequence[str | bytes],
    max_age: int | None = DEFAULT_MAX_AGE,
    cookie_name: str = "session",
    same_site: str | None = "lax",
    https_only: bool | None = None,
    domain: str | None = None,
    path: str = "/",
    store: SessionStore | None = None,
) -> SessionMiddleware:
    """Build a middleware giving each visitor a session as `context.session`.

    Without a store the session is JSON in the cookie, time-stamped and signed with
    HMAC-SHA256 (readable by the user, not changeable). With a store the cookie holds only
    a signed random id. A tampered, expired or unreadable cookie gives a fresh, empty
    session, never an error. The cookie is sent when the session changed, or when it was
    read and signed more than `max_age / 2` ago (sliding expiry); it is deleted when the
    session is cleared. It is always HttpOnly.

    Args:
        secret: the signing secret (at least `MIN_SECRET_LENGTH` characters), or a list to
            rotate secrets: the first signs, any of them verifies.
        max_age: seconds a session lasts after it was last written; None for a browser
            session (no expiry, the cookie goes when the browser closes).
        cookie_name: the cookie's name.
        same_site: "lax", "strict", "none" (implies Secure) or None to omit the attribute.
        https_only: the Secure attribute: None sets it when the request came over HTTPS
            (as seen by the server, or by `proxy_headers()` behind a trusted proxy), True
            always, False never.
        domain: the cookie's domain; None for this host only.
        path: the cookie's path.
        store: keep session data on the server (`MemoryStore()`, or any `SessionStore`).

    Raises:
        ValueError: a secret is too short, or a cookie option is invalid.
        TypeError: a secret is neither str nor bytes, or `store` is not a store.
    """
    return SessionMiddleware(
        secret,
        max_age=max_age,
        cookie_name=cookie_name,
        same_site=same_site,
        https_only=https_only,
        domain=domain,
        path=path,
        store=store,
    )
