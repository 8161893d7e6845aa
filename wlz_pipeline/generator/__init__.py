"""The deterministic synthetic-Zone generator.

``generate(out, scale, seed)`` writes the full landing layout of spec/sources.md
(reference files, MIS extracts in three vendor layouts and a CTF, survey returns,
link-worker interaction logs, and a handful of deliberately bad rows and files) plus
``MANIFEST.json``, and returns the manifest. The same seed and scale always give
byte-identical files. ``python -m wlz_pipeline.generator --help`` is the command line.

Returned partner templates (``partners/``) are made by :mod:`.partner_files` from the
truth in :mod:`.partners` (:func:`.partners.partner_attendance_plan`); at zone scale ten
of them wait under ``incremental/partners/`` for the benchmark's incremental night.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .scales import SCALES, get_scale
from .world import World, build_world

__all__ = ["SCALES", "World", "build_world", "generate"]

MANIFEST_VERSION = 1
#: what the generator writes (and may replace with ``overwrite=True``)
GENERATED = (
    "reference",
    "mis",
    "surveys",
    "interactions",
    "partners",
    "incremental",
    "MANIFEST.json",
)
REPO_ROOT = Path(__file__).resolve().parents[2]


def generate(
    out: Path | str, scale: str = "sample", seed: int = 20170901, *, overwrite: bool = False
) -> dict[str, Any]:
    """Write the synthetic Zone to ``out`` and return its manifest."""
    from .manifest import build_manifest
    from .output import Output
    from .writers import (
        write_bad_files,
        write_interactions,
        write_mis,
        write_reference,
        write_surveys,
    )

    get_scale(scale)
    out = Path(out)
    if scale == "zone" and out.resolve().is_relative_to(REPO_ROOT):
        raise ValueError(f"zone output must go outside the repository, not {out}")
    existing = [out / g for g in GENERATED if (out / g).exists()]
    if existing:
        if not overwrite:
            raise FileExistsError(f"{out} already holds generated files; pass overwrite=True")
        for p in existing:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    world = build_world(scale, seed)
    o = Output(out)
    write_reference(world, o)
    write_mis(world, o)
    surveys = write_surveys(world, o)
    interactions = write_interactions(world, o)
    write_bad_files(world, o)
    from .partner_files import write_partner_templates

    write_partner_templates(
        world,
        o,
        fast=world.scale.fast_partner_templates,
        held_back=world.scale.held_back_templates,
    )
    manifest = build_manifest(world, o, surveys, interactions, MANIFEST_VERSION)
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    (out / "MANIFEST.json").write_text(text, encoding="utf-8", newline="\n")
    return manifest
