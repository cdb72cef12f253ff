"""The one place where the steps' records become XCom JSON, and XCom JSON records again.

`to_xcom(record)` turns a frozen dataclass (nested records, tuples, mappings) into plain JSON
data; `from_xcom(cls, data)` rebuilds the record from the field types, ignoring keys it does
not know (an XCom written by an older version of the task still loads). A `BatchRef` travels
as its own `to_dict()`, which escapes the names a metadata database cannot keep in JSON
(`mlops_lib.landing.batches.portable`).

The JSON is what the report links, the approval task and the asset events read, so a field
renamed here is a key renamed there.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any, TypeVar, cast

from mlops_lib.landing.batches import BatchRef

T = TypeVar("T")

_CODECS: dict[type, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    BatchRef: (BatchRef.to_dict, BatchRef.from_dict),
}
"""Records with a JSON form of their own: (encode, decode)."""


def to_xcom(value: Any) -> Any:
    """`value` as JSON data: records as objects, tuples as lists, enums as their values."""
    codec = _CODECS.get(type(value))
    if codec is not None:
        return codec[0](value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_xcom(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_xcom(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_xcom(v) for v in value]
    return value


def from_xcom(cls: type[T], data: Any) -> T:
    """The record of type `cls` that `to_xcom` wrote as `data`."""
    return cast(T, _decode(cls, data))


def _decode(hint: Any, data: Any) -> Any:
    if data is None:
        return None
    if isinstance(hint, type):
        return _decode_class(hint, data)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        options = [a for a in args if a is not type(None)]
        return _decode(options[0], data) if len(options) == 1 else data
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in data)
        return tuple(_decode(a, v) for a, v in zip(args, data, strict=True))
    if origin in (list, Sequence):
        return [_decode(args[0], v) for v in data] if args else list(data)
    if origin in (dict, Mapping):
        return {k: _decode(args[1], v) for k, v in data.items()} if args else dict(data)
    return data


def _decode_class(cls: type, data: Any) -> Any:
    codec = _CODECS.get(cls)
    if codec is not None:
        return codec[1](data)
    if dataclasses.is_dataclass(cls):
        return _decode_record(cls, data)
    if cls is float and isinstance(data, int) and not isinstance(data, bool):
        return float(data)  # JSON has one number type: 1.0 comes back as 1
    return data


def _decode_record(cls: type, data: Mapping[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _decode(hints[f.name], data[f.name])
                  for f in dataclasses.fields(cls) if f.init and f.name in data})
