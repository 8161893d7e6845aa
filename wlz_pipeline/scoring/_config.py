"""Validated, cached access to the scoring configuration files.

Each scoring module describes the YAML it reads with a pydantic model. The parsed model
is cached against the object ``load_yaml`` returned, so an edited file (or a different
``WLZ_CONFIG_DIR``) is re-validated, and an unchanged one is parsed once.
"""

from __future__ import annotations

from threading import Lock
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from wlz_pipeline.config import ConfigError, load_yaml

M = TypeVar("M", bound=BaseModel)

_cache: dict[tuple[str, type[BaseModel]], tuple[Any, BaseModel]] = {}
_lock = Lock()


class StrictModel(BaseModel):
    """Base for config models: unknown keys are errors (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def load_settings(filename: str, model: type[M]) -> M:
    """Load ``config/<filename>`` and validate it with ``model``.

    Raises ``ConfigError`` naming the file and the offending field when it is invalid.
    """
    raw = load_yaml(filename)
    key = (filename, model)
    with _lock:
        hit = _cache.get(key)
        # ``load_yaml`` returns the same object until the file changes, and the cache
        # holds a reference to it, so identity is a safe freshness test.
        if hit is not None and hit[0] is raw:
            return hit[1]  # type: ignore[return-value]
    if raw is None:
        raise ConfigError(f"config/{filename}: the file is empty")
    try:
        parsed = model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"config/{filename}: invalid configuration:\n{exc}") from exc
    with _lock:
        _cache[key] = (raw, parsed)
    return parsed
