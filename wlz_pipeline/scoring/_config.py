"""Validated, cached access to the scoring configuration files.

Each scoring module describes the YAML it reads with a pydantic model. The parsed model
is cached against the object ``load_yaml`` returned, so an edited file (or a different
``WLZ_CONFIG_DIR``) is re-validated, and an unchanged one is parsed once.

Checking that a file is unchanged still costs a path lookup and a ``stat`` per call;
a build that scores every survey response calls the scoring functions hundreds of
thousands of times, so it runs inside ``pinned()``: there each file is checked once and
the whole build sees one configuration.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from threading import Lock
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from wlz_pipeline.config import ConfigError, load_yaml

M = TypeVar("M", bound=BaseModel)

_cache: dict[tuple[str, type[BaseModel]], tuple[Any, BaseModel]] = {}
_lock = Lock()
#: Inside ``pinned()``: the settings already loaded in the block.
_pinned: ContextVar[dict[tuple[str, type[BaseModel]], BaseModel] | None] = ContextVar(
    "wlz_pinned_settings", default=None
)


@contextmanager
def pinned() -> Iterator[None]:
    """Within the block, ``load_settings`` checks, reads and validates each file once and
    then returns the same settings (a file edited during the block takes effect after
    it). Nested blocks share the outermost block's settings."""
    if _pinned.get() is not None:
        yield
        return
    token = _pinned.set({})
    try:
        yield
    finally:
        _pinned.reset(token)


class StrictModel(BaseModel):
    """Base for config models: unknown keys are errors (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def load_settings(filename: str, model: type[M]) -> M:
    """Load ``config/<filename>`` and validate it with ``model``.

    Raises ``ConfigError`` naming the file and the offending field when it is invalid.
    """
    key = (filename, model)
    pinned_settings = _pinned.get()
    if pinned_settings is not None and key in pinned_settings:
        return pinned_settings[key]  # type: ignore[return-value]
    raw = load_yaml(filename)
    with _lock:
        hit = _cache.get(key)
        # ``load_yaml`` returns the same object until the file changes, and the cache
        # holds a reference to it, so identity is a safe freshness test.
        if hit is not None and hit[0] is raw:
            if pinned_settings is not None:
                pinned_settings[key] = hit[1]
            return hit[1]  # type: ignore[return-value]
    if raw is None:
        raise ConfigError(f"config/{filename}: the file is empty")
    try:
        parsed = model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"config/{filename}: invalid configuration:\n{exc}") from exc
    with _lock:
        _cache[key] = (raw, parsed)
    if pinned_settings is not None:
        pinned_settings[key] = parsed
    return parsed
