"""Shared msgspec JSON encoder and decoders; all JSON in Ecko goes through here."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


def _encode_extra(value: Any) -> Any:
    """Encode types msgspec does not know natively."""
    # pathlib is not imported for this check (~1 ms of `import ecko`, benchmarks/): no value
    # can be a PurePath unless something has imported pathlib.
    pathlib = sys.modules.get("pathlib")
    if pathlib is not None and isinstance(value, pathlib.PurePath):
        return str(value)
    if isinstance(value, (frozenset, set)):
        return list(value)
    raise TypeError(f"Objects of type {type(value).__name__} are not JSON serializable")


_encoder = msgspec.json.Encoder(enc_hook=_encode_extra)
_any_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}

encode_json: Callable[[Any], bytes] = _encoder.encode
"""Encode `value` as compact UTF-8 JSON bytes."""


def decode_json(data: bytes | str, type: Any = Any) -> Any:  # noqa: A002 - msgspec's own name
    """Decode JSON `data`, validating it against `type` when one is given.

    Raises:
        msgspec.ValidationError: the JSON does not match `type`.
        msgspec.DecodeError: `data` is not valid JSON.
    """
    if type is Any:
        return _any_decoder.decode(data)
    decoder = _decoders.get(type)
    if decoder is None:
        decoder = _decoders[type] = msgspec.json.Decoder(type)
    return decoder.decode(data)


def to_builtins(value: Any) -> Any:
    """Convert Structs, dataclasses and friends into plain JSON-ready Python objects."""
    return msgspec.to_builtins(value, enc_hook=_encode_extra)
