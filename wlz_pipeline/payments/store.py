"""The frozen-claims store: what was submitted to the commissioners, kept OUTSIDE the
warehouse so that neither a correction of source data nor a rebuild of the warehouse
from the landing files can change it (rules.md §15, quality.md "Payment claims once
submitted never change").

Where: ``WLZ_CLAIMS_DIR`` (or ``--claims-dir``), else ``claims/`` beside the warehouse
folder (``<warehouse dir>/../claims``; with the defaults ``.wlz/claims``). It is a
record of business, like the landing files, not derived data: back it up with them.

Layout::

    claims/
      README.txt                              what this folder is (written once)
      submissions/2017-18-spring.json         one file per submitted claim period

A submission file holds every ledger line of the period as it was submitted, who
submitted it and when, and the SHA-256 of its lines; it is created atomically and only
once (a second submission of the same period is refused), then made read-only. Every
read checks the file: a changed or damaged file stops the ledger build with an error
(a submitted claim is never silently reinterpreted).

The files hold WLZ IDs (the commissioners' verifiers need them): restricted data, to be
stored and backed up like the warehouse.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wlz_pipeline.payments.ledger import FROZEN_COLUMNS, Submission, to_json
from wlz_pipeline.payments.periods import Period, period_key

FORMAT = "wlz-claim-submission/1"
ENV = "WLZ_CLAIMS_DIR"

README = """\
WLZ frozen claims store - DO NOT EDIT, DO NOT DELETE, BACK UP WITH THE LANDING FILES.

Each file in submissions/ is one claim period as submitted to the commissioners
(`wlz claims submit --period 2017/18-spring`). The pipeline re-emits these lines
unchanged in marts.payment_ledger on every run, and posts any later difference as an
adjustment in the next open period. Rebuilding the warehouse does not touch this folder.

The files contain WLZ IDs: keep them with the same protection as the warehouse.
Each file carries the SHA-256 of its lines; a changed file stops the pipeline.
"""


class StoreError(RuntimeError):
    """The store is unreadable, damaged, or a submission is not allowed."""


def claims_dir(explicit: str | Path | None = None, warehouse: str | Path | None = None) -> Path:
    """The store's folder: ``explicit``, else ``WLZ_CLAIMS_DIR``, else ``claims/`` beside
    the warehouse's folder."""
    value = explicit or os.environ.get(ENV)
    if value:
        return Path(value).resolve()
    from wlz_pipeline import settings

    wh = settings.warehouse_path(warehouse)
    return (wh.parent.parent / "claims").resolve()


def file_name(period: str) -> str:
    return str(Period.parse(period)).replace("/", "-") + ".json"


def lines_digest(lines: Sequence[Mapping[str, Any]]) -> str:
    return hashlib.sha256(to_json(list(lines)).encode("utf-8")).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class ClaimsStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def submissions_dir(self) -> Path:
        return self.root / "submissions"

    # -- reading --------------------------------------------------------------------

    def _files(self) -> list[Path]:
        if not self.submissions_dir.is_dir():
            return []
        return sorted(p for p in self.submissions_dir.glob("*.json") if not p.name.startswith("."))

    def _read(self, path: Path) -> dict[str, Any]:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"{path}: not a readable submission file: {exc}") from exc
        if doc.get("format") != FORMAT:
            raise StoreError(f"{path}: unknown format {doc.get('format')!r} (expected {FORMAT})")
        period = doc.get("claim_period")
        try:
            expected = file_name(period)
        except ValueError as exc:
            raise StoreError(f"{path}: {exc}") from exc
        if path.name != expected:
            raise StoreError(f"{path}: holds period {period}, but is named {path.name}")
        lines = doc.get("lines")
        if not isinstance(lines, list):
            raise StoreError(f"{path}: no lines")
        if lines_digest(lines) != doc.get("lines_sha256"):
            raise StoreError(
                f"{path}: its lines do not match their recorded SHA-256: the file was "
                "changed after submission. Restore it from the backup."
            )
        for line in lines:
            if line.get("claim_period") != period:
                raise StoreError(f"{path}: a line of period {line.get('claim_period')} in {period}")
        return doc

    def documents(self) -> list[dict[str, Any]]:
        docs = [self._read(p) for p in self._files()]
        return sorted(docs, key=lambda d: period_key(d["claim_period"]))

    def submissions(self) -> dict[str, Submission]:
        return {
            d["claim_period"]: Submission(
                d["claim_period"], d["submission_id"], datetime.fromisoformat(d["submitted_at"])
            )
            for d in self.documents()
        }

    def frozen_lines(self) -> list[dict[str, Any]]:
        out = []
        for d in self.documents():
            for line in d["lines"]:
                row = {c: line.get(c) for c in FROZEN_COLUMNS}
                row["submission_id"] = d["submission_id"]
                row["submitted_at"] = datetime.fromisoformat(d["submitted_at"])
                out.append(row)
        return out

    def fingerprint(self) -> str:
        """Changes whenever a period is submitted (the ledger records the one it saw)."""
        parts = [(d["claim_period"], d["lines_sha256"]) for d in self.documents()]
        return hashlib.sha256(to_json(parts).encode("utf-8")).hexdigest()[:16]

    # -- writing --------------------------------------------------------------------

    def submit(
        self,
        period: str,
        lines: Sequence[Mapping[str, Any]],
        submitted_by: str | None = None,
        now: datetime | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> Submission:
        """Freeze ``lines`` (the ledger lines of ``period``) as the period's submission.
        Refused when the period was already submitted or a line is of another period."""
        period = str(Period.parse(period))
        for line in lines:
            if line.get("claim_period") != period:
                raise StoreError(
                    f"a line of period {line.get('claim_period')} cannot go into {period}"
                )
            if line.get("submitted"):
                raise StoreError(f"line {line.get('line_id')} is already submitted")
        frozen = [
            {
                **{c: _jsonable(line.get(c)) for c in FROZEN_COLUMNS},
                "status_at_submission": line.get("status"),
            }
            for line in lines
        ]
        digest = lines_digest(frozen)
        when = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        doc = {
            "format": FORMAT,
            "claim_period": period,
            "submission_id": f"S{period.replace('/', '').replace('-', '')}-{digest[:12]}",
            "submitted_at": when.isoformat(timespec="seconds"),
            "submitted_by": submitted_by or _user(),
            "context": dict(context or {}),
            "totals": _totals(frozen),
            "lines_sha256": digest,
            "lines": frozen,
        }
        self.submissions_dir.mkdir(parents=True, exist_ok=True)
        readme = self.root / "README.txt"
        if not readme.exists():
            readme.write_text(README, encoding="utf-8")
        final = self.submissions_dir / file_name(period)
        if final.exists():
            raise StoreError(
                f"{period} was already submitted ({final}); a submission never changes"
            )
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=self.submissions_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False))
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, final)  # atomic, and fails if the period appeared meanwhile
            except FileExistsError as exc:
                raise StoreError(f"{period} was already submitted ({final})") from exc
        finally:
            Path(tmp).unlink(missing_ok=True)
        os.chmod(final, 0o444)
        _fsync_dir(self.submissions_dir)
        return Submission(period, doc["submission_id"], datetime.fromisoformat(doc["submitted_at"]))


def _totals(lines: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    by: dict[str, int] = {}
    for line in lines:
        by[line["commissioner"]] = by.get(line["commissioner"], 0) + int(line["amount_pence"])
    return {
        "lines": len(lines),
        "amount_pence": sum(by.values()),
        "by_commissioner_pence": dict(sorted(by.items())),
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "unknown"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
