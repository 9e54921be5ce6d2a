"""Strict structuring of TOML data into attrs classes, every problem collected."""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping, MutableSequence, Sequence
from typing import Any, Literal, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ForbiddenExtraKeysError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from .env import _Expanded
from .paths import _join, _key, _label
from .settings import ConfigError

T = TypeVar("T")


# -- strict structuring ---------------------------------------------------------------------------


class _Invalid(ValueError):
    """A leaf problem; its message is what the operator sees after the path."""


class _Problems(ExceptionGroup[Exception]):
    """Several problems inside one array or table (each carries a :class:`_PathNote`)."""


class _PathNote(str):
    """An exception note: the path suffix (``.key`` or ``[i]``) where the exception happened."""

    __slots__ = ()


def _show(value: Any) -> str:
    """A value as the operator wrote it in TOML (for "got ..." in messages)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    if value is None:
        return "nothing"
    return f"a {type(value).__name__}"


def _type_name(tp: Any) -> str:
    """A schema type as messages spell it."""
    if tp is type(None):
        return "nothing"
    if attrs.has(tp):
        return "a table"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return "one of " + ", ".join(_show(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin in (list, tuple, Sequence, MutableSequence):
        return "an array"
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return "a table"
    return getattr(tp, "__name__", str(tp))


def _located(exc: Exception, suffix: str) -> Exception:
    exc.add_note(_PathNote(suffix))
    return exc


def _raise_collected(errors: list[Exception], what: str) -> None:
    if errors:
        raise _Problems(f"problems in {what}", errors)


def _scalar_hook(kind: type) -> Callable[[Any, Any], Any]:
    """Strict structuring for int, float, str and bool (see the module docstring)."""

    def structure_scalar(value: Any, _tp: Any) -> Any:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, _Expanded) and value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true"
        elif kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, _Expanded) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
                return int(value)
        elif kind is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            if isinstance(value, _Expanded):
                try:
                    return float(value)
                except ValueError:
                    pass
        elif isinstance(value, str):
            return str(value)
        raise _Invalid(f"expected {kind.__name__}, got {_show(value)}")

    return structure_scalar


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _is_literal(tp: Any) -> bool:
    return typing.get_origin(tp) is Literal


def _is_sequence(tp: Any) -> bool:
    return typing.get_origin(tp) in (list, tuple, Sequence, MutableSequence) or tp in (list, tuple)


def _is_mapping(tp: Any) -> bool:
    return typing.get_origin(tp) in (dict, Mapping) or tp in (dict, Mapping)


class _Structurer:
    """The cattrs converter configured for config files, plus the dotted-path error mapping."""

    def __init__(self) -> None:
        conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
        for kind in (int, float, str, bool):
            conv.register_structure_hook(kind, _scalar_hook(kind))
        conv.register_structure_hook_factory(_is_literal, lambda _tp: self._literal)
        conv.register_structure_hook_factory(_is_union, lambda _tp: self._union)
        conv.register_structure_hook_factory(_is_sequence, lambda _tp: self._sequence)
        conv.register_structure_hook_factory(_is_mapping, lambda _tp: self._mapping)
        conv.register_structure_hook_factory(attrs.has, self._attrs_factory)
        self.converter = conv

    # hooks --------------------------------------------------------------------------------------

    def _literal(self, value: Any, tp: Any) -> Any:
        for allowed in typing.get_args(tp):
            if value == allowed and type(value) is type(allowed):
                return allowed
            if isinstance(value, str) and isinstance(allowed, str) and value == allowed:
                return allowed
        raise _Invalid(f"expected {_type_name(tp)}, got {_show(value)}")

    def _union(self, value: Any, tp: Any) -> Any:
        members = typing.get_args(tp)
        if value is None and type(None) in members:
            return None
        options = [m for m in members if m is not type(None)]
        if len(options) == 1:
            return self.converter.structure(value, options[0])
        for option in options:
            try:
                return self.converter.structure(value, option)
            except Exception:
                continue
        raise _Invalid(f"expected {_type_name(tp)}, got {_show(value)}")

    def _sequence(self, value: Any, tp: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise _Invalid(f"expected an array, got {_show(value)}")
        origin = typing.get_origin(tp) or tp
        args = typing.get_args(tp)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise _Invalid(f"expected an array of {len(args)} items, got {len(value)}")
            item_types: list[Any] = list(args)
        else:
            item_types = [args[0] if args else Any] * len(value)
        items: list[Any] = []
        errors: list[Exception] = []
        for index, (item, item_tp) in enumerate(zip(value, item_types, strict=True)):
            try:
                items.append(self.converter.structure(item, item_tp))
            except Exception as exc:
                errors.append(_located(exc, f"[{index}]"))
        _raise_collected(errors, "array")
        return tuple(items) if origin is tuple else items

    def _mapping(self, value: Any, tp: Any) -> Any:
        if not isinstance(value, Mapping):
            raise _Invalid(f"expected a table, got {_show(value)}")
        args = typing.get_args(tp)
        key_tp, value_tp = args if len(args) == 2 else (Any, Any)
        result: dict[Any, Any] = {}
        errors: list[Exception] = []
        for raw_key, item in value.items():
            suffix = "." + _key(str(raw_key))
            try:
                key = self._dict_key(raw_key, key_tp)
            except _Invalid as exc:
                errors.append(_located(exc, suffix))
                continue
            try:
                result[key] = self.converter.structure(item, value_tp)
            except Exception as exc:
                errors.append(_located(exc, suffix))
        _raise_collected(errors, "table")
        return result

    def _dict_key(self, raw: Any, key_tp: Any) -> Any:
        """TOML keys are strings: int-keyed tables accept ``"12"`` as 12."""
        if key_tp is int:
            if isinstance(raw, int) and not isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and re.fullmatch(r"[+-]?\d+", raw):
                return int(raw)
            raise _Invalid(f"expected an integer key, got {_show(raw)}")
        if key_tp is str:
            if isinstance(raw, str):
                return str(raw)
            raise _Invalid(f"expected a text key, got {_show(raw)}")
        return self.converter.structure(raw, key_tp)

    def _attrs_factory(self, cls: type) -> Callable[[Any, Any], Any]:
        generated: Callable[[Any, Any], Any] = make_dict_structure_fn(
            cls, self.converter, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True)
        fields = [f for f in attrs.fields(cls) if f.init]
        names = {f.name for f in fields}

        def structure_attrs(value: Any, tp: Any) -> Any:
            if not isinstance(value, Mapping):
                raise _Invalid(f"expected a table, got {_show(value)}")
            errors: list[Exception] = []
            extra = set(value) - names
            if extra:  # reported together with the known keys' problems
                errors.append(ForbiddenExtraKeysError("", cls, {str(k) for k in extra}))
                value = {k: v for k, v in value.items() if k in names}
            # Validators are run one by one below so that each error gets its field's path.
            was_disabled = attrs.validators.get_disabled()
            attrs.validators.set_disabled(True)
            try:
                instance = generated(value, tp)
            except Exception as exc:
                if not errors:
                    raise
                errors.append(exc)
                raise _Problems(f"problems in {cls.__name__}", errors) from None
            finally:
                attrs.validators.set_disabled(was_disabled)
            for field in fields:
                if field.validator is None:
                    continue
                try:
                    field.validator(instance, field, getattr(instance, field.name))
                except Exception as exc:
                    errors.append(_located(exc, "." + _key(field.name)))
            _raise_collected(errors, cls.__name__)
            return instance

        return structure_attrs

    # errors ---------------------------------------------------------------------------------------

    def problems(self, exc: BaseException, path: str) -> Iterator[str]:
        """Every problem inside a structuring exception, as ``<dotted.path>: <message>``."""
        for note in getattr(exc, "__notes__", ()):
            if isinstance(note, AttributeValidationNote):
                path = _join(path, note.name)
            elif isinstance(note, IterableValidationNote):
                path = f"{path}[{note.index}]"
            elif isinstance(note, _PathNote):
                path = f"{path}{note}" if path or not note.startswith(".") else note[1:]
        if isinstance(exc, ForbiddenExtraKeysError):
            expected = ", ".join(f.name for f in attrs.fields(exc.cl) if f.init)
            for extra in sorted(exc.extra_fields):
                yield f"{_join(path, extra)}: unknown key (expected one of: {expected})"
        elif isinstance(exc, BaseExceptionGroup):
            for sub in exc.exceptions:
                yield from self.problems(sub, path)
        elif isinstance(exc, KeyError):
            yield f"{_label(path)}: required key is missing"
        elif isinstance(exc, cattrs.StructureHandlerNotFoundError):
            yield f"{_label(path)}: the schema uses a type config files cannot hold ({exc})"
        else:
            yield f"{_label(path)}: {exc}"

    def structure(self, cls: type[T], data: Any, path: str) -> T:
        try:
            return self.converter.structure(data, cls)
        except Exception as exc:
            raise ConfigError(list(self.problems(exc, path))) from None


_STRUCTURER = _Structurer()


def structure(cls: type[T], data: Any, path: str) -> T:
    """Structure ``data`` (plain TOML values) into ``cls`` strictly, or raise :class:`ConfigError`.

    ``path`` is the dotted location of ``data`` in the file ("" for the top level); every
    problem is reported under it, e.g. ``plugins.x.flip.min_wager: expected int, got "ten"``,
    ``metrics.prot: unknown key (expected one of: host, port)``, ``channels[0].channel: expected
    str, got 5``. Supports attrs classes, list/tuple/Sequence, dict/Mapping (int keys from
    ``"12"``), ``X | None``, unions, ``Literal`` and Any.
    """
    return _STRUCTURER.structure(cls, data, path)


def unstructure(obj: Any) -> Any:
    """``obj`` as TOML-ready values: tables with str keys, arrays as lists, ``None`` left out."""
    return _toml_ready(_STRUCTURER.converter.unstructure(obj))


def _toml_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _toml_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return [_toml_ready(v) for v in items]
    return value
