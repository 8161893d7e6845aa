"""``python -m wlz_pipeline.generator --scale sample --seed 20170901 --out DIR``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import SCALES, generate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m wlz_pipeline.generator",
        description="Write a deterministic synthetic WLZ landing folder.",
    )
    ap.add_argument("--scale", default="sample", choices=sorted(SCALES))
    ap.add_argument("--seed", type=int, default=20170901)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--overwrite", action="store_true", help="replace files a previous run generated in --out"
    )
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        manifest = generate(args.out, args.scale, args.seed, overwrite=args.overwrite)
    except (FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    totals = manifest["totals"]
    print(
        f"wrote {len(manifest['files'])} files to {args.out} in {time.perf_counter() - t0:.1f}s"
        f" (scale {args.scale}, seed {args.seed})"
    )
    print(f"  pupils by year: {totals['pupils_by_year']}")
    print(f"  enrolled by cohort: {totals['enrolled']}")
    print(
        f"  survey responses: {totals['survey_responses_unique']}, "
        f"interactions: {totals['interactions_unique']}"
    )
    print(
        f"  planted bad rows: {len(manifest['planted_rows'])}, "
        f"bad files: {len(manifest['planted_files'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
