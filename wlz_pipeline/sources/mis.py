"""School MIS CSV extracts, read through a profile (a mapping file in
``config/mis_profiles/``).

A profile maps each canonical field of each extract kind (``wlz_pipeline.canonical``)
to the vendor's header spellings, and vendor value spellings to canonical values.
Which kind a file is comes from its headers: the kind all of whose required columns
are present. Adding a school with a new layout is adding a profile file, never code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from wlz_pipeline.canonical import MIS_KINDS
from wlz_pipeline.config import ConfigError, config_dir, load_yaml
from wlz_pipeline.sources.text import (
    HeaderAt,
    UnreadableFile,
    canonical_rows,
    decode,
    locate_header,
    normalise_header,
)


class ExtractMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    columns: dict[str, list[str]]
    optional: list[str] = []
    values: dict[str, dict[str, str]] = {}

    @field_validator("columns", mode="before")
    @classmethod
    def _aliases_as_lists(cls, v: dict) -> dict:
        return {k: [a] if isinstance(a, str) else list(a) for k, a in v.items()}


class MisProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    encodings: list[str] = ["utf-8-sig", "cp1252"]
    date_formats: list[str] = ["%d/%m/%Y"]
    extracts: dict[str, ExtractMapping] = {}
    # CTF profiles carry their own XML settings instead of CSV extracts.
    ctf: dict | None = None

    @model_validator(mode="after")
    def _known_fields(self) -> MisProfile:
        for kind, mapping in self.extracts.items():
            if kind not in MIS_KINDS:
                raise ValueError(f"unknown extract kind {kind!r} (known: {sorted(MIS_KINDS)})")
            fields = set(MIS_KINDS[kind])
            unknown = (set(mapping.columns) | set(mapping.optional) | set(mapping.values)) - fields
            if unknown:
                raise ValueError(f"{kind}: unknown canonical fields {sorted(unknown)}")
        return self

    def required_columns(self, kind: str) -> dict[str, list[str]]:
        m = self.extracts[kind]
        return {f: a for f, a in m.columns.items() if f not in m.optional}


def profiles_dir() -> Path:
    return config_dir() / "mis_profiles"


def load_profiles() -> dict[str, MisProfile]:
    """Every profile in ``config/mis_profiles/``, validated; keyed by name."""
    out: dict[str, MisProfile] = {}
    for path in sorted(profiles_dir().glob("*.yaml")):
        try:
            profile = MisProfile.model_validate(load_yaml(path.name, base=profiles_dir()))
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        if profile.name != path.stem:
            raise ConfigError(f"{path}: name {profile.name!r} must match the file name")
        out[profile.name] = profile
    return out


@dataclass(frozen=True)
class MisLayout:
    """What a MIS CSV is, found from its header alone: the extract kind, the encoding,
    the decoded text and where the header is, canonical field -> column index."""

    kind: str
    encoding: str
    text: str
    at: HeaderAt
    index: dict[str, int]

    @property
    def fields(self) -> tuple[str, ...]:
        return MIS_KINDS[self.kind]

    @property
    def columns(self) -> dict[str, str]:
        """Canonical field -> header as written in the file."""
        return {f: self.at.header[i] for f, i in self.index.items()}

    @property
    def ignored_columns(self) -> list[str]:
        used = set(self.index.values())
        return [h for i, h in enumerate(self.at.header) if i not in used and h.strip()]


@dataclass(frozen=True)
class MisExtract:
    kind: str
    encoding: str
    header_line: int
    columns: dict[str, str]  # canonical field -> header as written in the file
    ignored_columns: list[str]
    rows: list[tuple[int, dict[str, str | None]]]  # (line, canonical field -> text)


def _match(header: list[str], profile: MisProfile) -> tuple[str, dict[str, int]] | None:
    """The extract kind whose required columns all appear in ``header`` (most columns
    matched wins), with canonical field -> column index."""
    norm = [normalise_header(h) for h in header]
    best: tuple[int, str, dict[str, int]] | None = None
    for kind, mapping in profile.extracts.items():
        index: dict[str, int] = {}
        for field, aliases in mapping.columns.items():
            for alias in aliases:
                a = normalise_header(alias)
                if a in norm:
                    index[field] = norm.index(a)
                    break
        complete = all(f in index for f in profile.required_columns(kind))
        if complete and (best is None or len(index) > best[0]):
            best = (len(index), kind, index)
    return None if best is None else (best[1], best[2])


def mis_layout(data: bytes, profile: MisProfile) -> MisLayout:
    """Decode one MIS CSV and match its header to ``profile``; raise ``UnreadableFile``
    with an actionable reason when it is not text or matches none of the profile's
    extract kinds."""
    text, encoding = decode(data, profile.encodings)
    try:
        at = locate_header(text, lambda rec: _match(rec, profile) is not None)
    except UnreadableFile as exc:
        kinds = ", ".join(profile.extracts)
        raise UnreadableFile(
            f"unknown MIS layout: the columns match none of the {profile.name!r} profile's "
            f"extracts ({kinds}); fix the export or the mapping file "
            f"config/mis_profiles/{profile.name}.yaml"
        ) from exc
    matched = _match(at.header, profile)
    assert matched is not None
    kind, index = matched
    return MisLayout(kind=kind, encoding=encoding, text=text, at=at, index=index)


def read_mis_csv(data: bytes, profile: MisProfile) -> MisExtract:
    """Read one MIS CSV through ``profile`` in Python (``mis_layout``, then every row)."""
    layout = mis_layout(data, profile)
    return MisExtract(
        kind=layout.kind,
        encoding=layout.encoding,
        header_line=layout.at.header_line,
        columns=layout.columns,
        ignored_columns=layout.ignored_columns,
        rows=canonical_rows(layout.text, layout.at, layout.index, layout.fields),
    )
