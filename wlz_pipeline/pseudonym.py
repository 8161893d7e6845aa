"""Pseudonymous child keys for the BI publication (contract.md, privacy rules).

``child_key`` is HMAC-SHA256 of the child's WLZ ID under a secret key from the
environment (``WLZ_PSEUDONYM_KEY``), as hex, truncated to ``hex_chars`` (32 = 128 bits).
A child who was screened but never enrolled has no WLZ ID: their key is ``"s"`` followed
by HMAC-SHA256 of ``"upn:<anchor URN>:<UPN>"`` (one digit shorter, so every key has the
same width and the two kinds never collide). The same child gets the same key in every
table and every run for as long as the secret stays the same; rotating the secret
changes every key (BI history then no longer joins across the change).

The demo key in ``config/publication.yaml`` is not a secret: it is used only when the
landing folder is the repository's synthetic ``data/sample`` or when a caller asks for it
explicitly (``--demo-key``, tests). Any other run without a key refuses to publish.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from wlz_pipeline.settings import DEFAULT_DATA_DIR


class PseudonymKeyMissing(RuntimeError):
    """No key for a run that is not the synthetic sample: nothing is published."""


@dataclass(frozen=True)
class PseudonymKey:
    secret: bytes
    source: str  # "environment" | "demo"
    hex_chars: int = 32

    @property
    def key_id(self) -> str:
        """A short fingerprint: tells two publications' keys apart, reveals nothing."""
        return hmac.new(self.secret, b"key-id", hashlib.sha256).hexdigest()[:8]

    def _hex(self, message: str) -> str:
        return hmac.new(self.secret, message.encode("utf-8"), hashlib.sha256).hexdigest()

    def enrolled(self, wlz_id: str) -> str:
        return self._hex(normalise_wlz_id(wlz_id))[: self.hex_chars]

    def screened(self, anchor_urn: str | None, upn: str) -> str:
        message = f"upn:{(anchor_urn or '').strip()}:{normalise_upn(upn)}"
        return "s" + self._hex(message)[: self.hex_chars - 1]

    def child_key(
        self, wlz_id: str | None, upn: str | None = None, anchor_urn: str | None = None
    ) -> str | None:
        """The key of a child: from the WLZ ID when known, else anchor and UPN."""
        if wlz_id and wlz_id.strip():
            return self.enrolled(wlz_id)
        if upn and upn.strip():
            return self.screened(anchor_urn, upn)
        return None


def normalise_wlz_id(value: str) -> str:
    return value.strip().upper()


def normalise_upn(value: str) -> str:
    return value.replace(" ", "").strip().upper()


def is_sample(data_dir: str | Path | None) -> bool:
    """True when ``data_dir`` is the repository's synthetic sample."""
    if data_dir is None:
        return False
    try:
        return Path(data_dir).resolve() == DEFAULT_DATA_DIR.resolve()
    except OSError:
        return False


def resolve_key(data_dir: str | Path | None, demo: bool = False) -> PseudonymKey:
    """The key for this publication.

    Order: an explicit ``demo`` request; else the environment variable; else the demo key
    when the data dir is the repository's sample; else ``PseudonymKeyMissing``."""
    from wlz_pipeline.config import load_yaml

    cfg = load_yaml("publication.yaml")["pseudonym"]
    hex_chars = int(cfg.get("hex_chars", 32))
    if not 16 <= hex_chars <= 64:
        raise ValueError("publication.yaml pseudonym.hex_chars must be between 16 and 64")
    if demo:
        return PseudonymKey(str(cfg["demo_key"]).encode(), "demo", hex_chars)
    env_name = str(cfg.get("env", "WLZ_PSEUDONYM_KEY"))
    value = os.environ.get(env_name, "")
    if value:
        if len(value) < int(cfg.get("min_key_length", 16)):
            raise PseudonymKeyMissing(
                f"{env_name} is too short ({len(value)} characters; at least "
                f"{cfg.get('min_key_length', 16)} needed). Use a random secret, e.g. "
                "python -c 'import secrets; print(secrets.token_hex(32))'."
            )
        return PseudonymKey(value.encode("utf-8"), "environment", hex_chars)
    if is_sample(data_dir):
        return PseudonymKey(str(cfg["demo_key"]).encode(), "demo", hex_chars)
    raise PseudonymKeyMissing(
        f"{env_name} is not set, so the publication cannot be pseudonymised and nothing was "
        f"published (the previous publication is unchanged). Set {env_name} to the "
        "programme's secret pseudonym key (keep it in the secret store, the same key every "
        "run: changing it changes every child_key). The documented demo key is used only "
        f"for the synthetic sample ({DEFAULT_DATA_DIR}) or with --demo-key."
    )
