"""A cache of rendered page bodies (``FragmentCache``), so that a nightly render re-renders
only the pages whose data changed.

Most of a child profile or claim pack (its tables and charts) depends only on that
child's or pack's data, yet rendering it is most of the nightly render; the page around
it (generated at, publication run) changes every night. So the body is rendered once and
kept under a key: a digest of everything it is rendered from (its data, the settings it
reads, the reports code and templates, the libraries and locale that format it). The key
changes whenever any of those changes, so a cached body is exactly what rendering it again
would give: a page is never stale, only rendered again.

The entries hold what restricted pages hold (names, WLZ IDs), so the cache lives under
``restricted/`` (owner-only, 0700; entries 0600) and nowhere else. An entry carries the
SHA-256 of its key and body: a truncated, corrupt or unreadable entry (or one under another
key's name) is a miss (rendered again and rewritten), never a page. ``prune`` removes the
entries a render did not use (a child who left, data that changed), so the cache holds one
body per page.
"""

from __future__ import annotations

import hashlib
import locale
import os
import pickle
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

#: Written first in every entry (the format's version: bump it to drop every entry).
MAGIC = b"WLZFRAG1"
_BODY = len(MAGIC) + 32  # where the body starts: after the magic and a SHA-256
_SUFFIX = ".frag"


def code_digest(files: Mapping[str, Path]) -> bytes:
    """A digest of what turns data into HTML besides the data: the given source files
    (by name and content; the names, not the paths, so a checkout elsewhere keeps the
    cache) and the versions of what formats text (Python, Jinja, MarkupSafe, the time
    locale of ``strftime``'s month names). Editing any of them, or upgrading a library,
    invalidates every entry."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].read_bytes() + b"\0")
    versions = [sys.version, locale.setlocale(locale.LC_TIME)]
    versions += [f"{dist}={metadata.version(dist)}" for dist in ("jinja2", "markupsafe")]
    h.update("\0".join(versions).encode())
    return h.digest()


def source_files(*folders: Path, extra: Iterable[Path] = ()) -> dict[str, Path]:
    """Every file under ``folders`` (but compiled Python and hidden files) by its name
    under the folder's, and each of ``extra`` by its own name: what ``code_digest``
    hashes."""
    out = {f"extra/{p.name}": Path(p) for p in extra}
    for folder in folders:
        for path in folder.rglob("*"):
            rel = path.relative_to(folder).parts
            if (
                path.is_file()
                and "__pycache__" not in rel
                and not any(p.startswith(".") for p in rel)
                and path.suffix != ".pyc"
            ):
                out["/".join((folder.name, *rel))] = path
    return out


def _checksum(key: str, body: bytes) -> bytes:
    return hashlib.sha256(key.encode() + b"\0" + body).digest()


class FragmentCache:
    """Rendered fragments in ``folder``, one file per key (``None``: cache nothing).

    ``key`` digests what a fragment is rendered from (``None`` when the cache is off: the
    digest is not free); ``get`` returns the fragment of a key or ``None``; ``put`` stores
    one; ``prune`` removes the entries neither got nor put since the cache was opened.
    ``hits`` and ``misses`` count ``get`` by kind."""

    def __init__(self, folder: Path | None, salt: bytes) -> None:
        self.folder = folder
        self.salt = salt
        self.used: set[str] = set()
        self.hits: Counter[str] = Counter()
        self.misses: Counter[str] = Counter()
        if folder is not None:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)

    def key(self, kind: str, inputs: object) -> str | None:
        """The key of a fragment of ``kind`` rendered from ``inputs``.

        ``inputs`` is pickled: equal bytes mean equal values (floats bit for bit, dates,
        decimals, strings; dataclasses by class and every field), so equal keys mean the
        same fragment. Objects shared within ``inputs`` (the same dict twice) pickle
        differently from equal copies: that can only cause a miss, never a wrong hit.
        (A set pickles in the order of its strings' hashes, which differ between
        processes: inputs holding sets would miss every night.)"""
        if self.folder is None:
            return None
        h = hashlib.sha256(self.salt)
        h.update(kind.encode() + b"\0")
        h.update(pickle.dumps(inputs, protocol=5))
        return h.hexdigest()

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{key}{_SUFFIX}"

    def get(self, kind: str, key: str | None) -> str | None:
        html = None if self.folder is None or key is None else self._read(key)
        (self.misses if html is None else self.hits)[kind] += 1
        return html

    def _read(self, key: str) -> str | None:
        """The body stored under ``key`` if the entry is whole (``None`` if missing,
        unreadable, truncated or altered: the caller renders it again)."""
        self.used.add(key)
        try:
            data = self._path(key).read_bytes()
        except OSError:
            return None
        head, check, body = data[: len(MAGIC)], data[len(MAGIC) : _BODY], data[_BODY:]
        if head != MAGIC or check != _checksum(key, body):
            return None
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def put(self, key: str | None, html: str) -> None:
        """Store ``html`` under ``key`` (0600, written whole then renamed). A failure to
        write loses the entry, not the render: the cache only saves time."""
        if self.folder is None or key is None:
            return
        self.used.add(key)
        body = html.encode("utf-8")
        try:
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(MAGIC + _checksum(key, body) + body)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self._path(key))
        except OSError:
            Path(tmp).unlink(missing_ok=True)

    def prune(self) -> int:
        """Remove every entry (and left-over temporary file) not used since the cache was
        opened; the number removed."""
        if self.folder is None:
            return 0
        n = 0
        for path in self.folder.iterdir():
            if path.is_file() and path.name.removesuffix(_SUFFIX) not in self.used:
                path.unlink(missing_ok=True)
                n += 1
        return n
