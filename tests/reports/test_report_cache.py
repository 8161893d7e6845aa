"""The body cache of the restricted pages (``reports/cache.py``): a render that reuses
cached bodies writes the same bytes as one that renders every body afresh; a change to a
child's data re-renders that child alone; a change to a template, the code or a setting
re-renders everything; a damaged entry is rendered again; the cache is as private as the
restricted pages.

The first tests need no pipeline run; the rest render private copies of the session's
sample (``rendered_copy``)."""

from __future__ import annotations

import copy
import re
import shutil
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from wlz_pipeline.reports import render, svg
from wlz_pipeline.reports.cache import FragmentCache, code_digest, source_files
from wlz_pipeline.reports.restricted import ChildProfile, Programme

NOW = datetime(2026, 1, 2, 3, 4, 5)
LATER = datetime(2026, 1, 3, 3, 4, 5)


# -- the cache on its own ---------------------------------------------------------------------
def _child(minutes: float = 30.0) -> ChildProfile:
    return ChildProfile(
        "WLZ000000001",
        {"name": "Ada Example", "age": 11},
        weeks=[{"week_start": date(2017, 9, 4), "lw_minutes": minutes, "school_week": True}],
        programmes=[
            Programme("P1", "Partner", "P1-club", [], [(date(2017, 9, 5), "missed", None)])
        ],
    )


def test_equal_inputs_share_a_key_and_any_difference_changes_it(tmp_path):
    cache = FragmentCache(tmp_path / "c", b"salt")
    key = cache.key("child_main.html", (5, {"child": _child()}))
    assert cache.key("child_main.html", (5, {"child": copy.deepcopy(_child())})) == key
    for other in (
        cache.key("child_main.html", (5, {"child": _child(30.000000001)})),  # a float, bit by bit
        cache.key("child_main.html", (6, {"child": _child()})),  # the threshold
        cache.key("claim_main.html", (5, {"child": _child()})),  # the template
        FragmentCache(tmp_path / "c", b"other code").key(
            "child_main.html", (5, {"child": _child()})
        ),
    ):
        assert other != key
    assert FragmentCache(None, b"salt").key("child_main.html", (5, {})) is None


def test_an_entry_reads_back_and_a_damaged_one_is_a_miss(tmp_path):
    folder = tmp_path / "c"
    cache = FragmentCache(folder, b"salt")
    keys = [cache.key("t", i) for i in range(4)]
    for i, key in enumerate(keys):
        cache.put(key, f"<p>body {i} – ‹5</p>")
    assert cache.get("child", keys[0]) == "<p>body 0 – ‹5</p>"
    files = {k: folder / f"{k}.frag" for k in keys}
    files[keys[1]].write_bytes(files[keys[1]].read_bytes()[:-3])  # truncated
    data = bytearray(files[keys[2]].read_bytes())
    data[-1] ^= 1  # one bit of the body
    files[keys[2]].write_bytes(bytes(data))
    shutil.copy(files[keys[0]], files[keys[3]])  # an entry under another key's name
    assert [cache.get("child", k) for k in keys[1:]] == [None, None, None]
    assert cache.get("child", cache.key("t", "never stored")) is None
    assert (cache.hits, cache.misses) == ({"child": 1}, {"child": 4})


def test_prune_keeps_only_the_entries_used_since_the_cache_was_opened(tmp_path):
    folder = tmp_path / "c"
    old = FragmentCache(folder, b"salt")
    for i in range(3):
        old.put(old.key("t", i), f"body {i}")
    (folder / ".left-over.tmp").write_text("a write that never finished")
    new = FragmentCache(folder, b"salt")
    assert new.get("child", new.key("t", 0)) == "body 0"
    new.put(new.key("t", 9), "body 9")
    assert new.prune() == 3
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{new.key('t', i)}.frag" for i in (0, 9)
    )


def test_a_failed_write_loses_the_entry_not_the_render(tmp_path):
    cache = FragmentCache(tmp_path / "c", b"salt")
    shutil.rmtree(tmp_path / "c")
    cache.put(cache.key("t", 1), "body")  # no folder any more: no error
    assert cache.get("child", cache.key("t", 1)) is None


def test_the_code_digest_follows_every_file_and_not_where_it_is(tmp_path):
    a = tmp_path / "a" / "reports"
    (a / "templates").mkdir(parents=True)
    (a / "render.py").write_text("x = 1\n")
    (a / "templates" / "child_main.html").write_text("<p>{{ child }}</p>\n")
    (a / "__pycache__").mkdir()
    (a / "__pycache__" / "render.cpython-311.pyc").write_bytes(b"compiled")
    digest = code_digest(source_files(a))
    b = tmp_path / "b" / "reports"
    shutil.copytree(a, b)
    (b / "__pycache__" / "render.cpython-311.pyc").write_bytes(b"recompiled")
    assert code_digest(source_files(b)) == digest  # same code elsewhere; bytecode ignored
    (b / "templates" / "child_main.html").write_text("<p>{{ child }}!</p>\n")
    assert code_digest(source_files(b)) != digest
    shutil.copytree(a, b, dirs_exist_ok=True)
    (b / "templates" / "new.html").write_text("")
    assert code_digest(source_files(b)) != digest


def test_chart_ids_are_numbered_per_page():
    def chart() -> str:
        return svg.weekly_columns([(date(2017, 9, 4), 30.0, True)], title="t", desc="d")

    with svg.page_ids():
        first = chart()
    chart()  # a chart drawn elsewhere in between
    with svg.page_ids():
        again, second = chart(), chart()
    assert first == again
    assert 'aria-labelledby="weeks-t1 weeks-d2"' in first
    assert 'aria-labelledby="weeks-t3 weeks-d4"' in second


# -- whole renders of the sample ----------------------------------------------------------------
def _render(warehouse: Path, out: Path, now: datetime = NOW, **kw) -> render.ReportResult:
    return render.render_reports(warehouse, out, now=now, **kw)


def _pages(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in out.rglob("*.html")
        if ".cache" not in p.relative_to(out).parts
    }


def _differing(a: dict[str, bytes], b: dict[str, bytes]) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def _assert_same_as_uncached(warehouse: Path, out: Path, fresh: Path, now: datetime = NOW):
    """The pages in ``out`` are byte for byte those of a render without the cache."""
    _render(warehouse, fresh, now, cache=False)
    assert _differing(_pages(out), _pages(fresh)) == []
    assert not (fresh / "restricted" / ".cache").exists()


def _counts(warehouse: Path) -> tuple[int, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        children = con.execute(
            "SELECT count(*) FROM marts.child_register WHERE enrolled AND wlz_id IS NOT NULL"
        ).fetchone()[0]
        claims = con.execute("SELECT count(*) FROM marts.payment_claims").fetchone()[0]
    return children, claims


@pytest.mark.slow
def test_a_render_from_cached_bodies_writes_the_same_bytes(rendered_copy, tmp_path):
    children, claims = _counts(rendered_copy)
    out = tmp_path / "out"
    cold = _render(rendered_copy, out)
    assert cold.cache_hits == {} and cold.cache_misses == {"child": children, "claim": claims}
    _assert_same_as_uncached(rendered_copy, out, tmp_path / "fresh")
    # the next night: every body from the cache, the header and footer new
    warm = _render(rendered_copy, out, LATER)
    assert warm.cache_misses == {} and warm.cache_hits == {"child": children, "claim": claims}
    assert warm.cache_pruned == 0
    _assert_same_as_uncached(rendered_copy, out, tmp_path / "fresh_later", LATER)
    page = next((out / "restricted" / "children").glob("*.html")).read_text(encoding="utf-8")
    assert f"Generated {LATER:%d %b %Y %H:%M} UTC" in page
    # without the cache: the same pages, the cache left as it was
    entries = {p.name: p.read_bytes() for p in (out / "restricted" / ".cache").iterdir()}
    off = _render(rendered_copy, out, cache=False)
    assert off.cache_hits == {} and off.cache_pruned == 0
    assert {p.name: p.read_bytes() for p in (out / "restricted" / ".cache").iterdir()} == entries


@pytest.mark.slow
def test_a_change_to_one_childs_data_re_renders_that_child_only(rendered_copy, tmp_path):
    children, claims = _counts(rendered_copy)
    out = tmp_path / "out"
    _render(rendered_copy, out)
    before = _pages(out)
    with duckdb.connect(str(rendered_copy)) as con:
        # a week of contact for one child, a partner's engagement rating for another
        a, week = con.execute(
            """SELECT w.wlz_id, min(w.week_start) FROM marts.engagement_weekly w
               JOIN marts.child_register r USING (wlz_id) WHERE r.enrolled
               GROUP BY ALL ORDER BY w.wlz_id LIMIT 1"""
        ).fetchone()
        con.execute(
            """UPDATE marts.engagement_weekly SET lw_minutes = coalesce(lw_minutes, 0) + 7
               WHERE wlz_id = ? AND week_start = ?""",
            [a, week],
        )
        b, day = con.execute(
            """SELECT m.wlz_id, min(m.session_date) FROM staging.partner_marks m
               JOIN marts.child_register r USING (wlz_id)
               WHERE r.enrolled AND m.attended AND m.engagement IS NOT NULL AND m.wlz_id <> ?
               GROUP BY ALL ORDER BY m.wlz_id LIMIT 1""",
            [a],
        ).fetchone()
        con.execute(
            """UPDATE staging.partner_marks SET engagement = CASE WHEN engagement >= 3 THEN 1
               ELSE 5 END WHERE wlz_id = ? AND session_date = ? AND attended""",
            [b, day],
        )
    result = _render(rendered_copy, out)
    assert result.cache_misses == {"child": 2}
    assert result.cache_hits == {"child": children - 2, "claim": claims}
    assert result.cache_pruned == 2  # the two bodies of last night
    assert _differing(before, _pages(out)) == sorted(
        f"restricted/children/{w}.html" for w in (a, b)
    )
    _assert_same_as_uncached(rendered_copy, out, tmp_path / "fresh")


@pytest.mark.slow
def test_a_template_or_a_setting_change_re_renders_every_body(rendered_copy, tmp_path, monkeypatch):
    children, claims = _counts(rendered_copy)
    everything = {"child": children, "claim": claims}
    out = tmp_path / "out"
    _render(rendered_copy, out)
    # a template
    edited = tmp_path / "templates"
    shutil.copytree(render.TEMPLATES, edited)
    main = edited / "child_main.html"
    main.write_text(main.read_text(encoding="utf-8").replace(">Child details<", ">About<"))
    monkeypatch.setattr(render, "TEMPLATES", edited)
    result = _render(rendered_copy, out)
    assert result.cache_hits == {} and result.cache_misses == everything
    assert '<h2 id="h-details">About</h2>' in next(
        (out / "restricted" / "children").glob("*")
    ).read_text(encoding="utf-8")
    _assert_same_as_uncached(rendered_copy, out, tmp_path / "fresh_template")
    monkeypatch.undo()
    # the setting both bodies read: the suppression threshold
    publication = rendered_copy.parent / "wlz_bi.duckdb"
    _render(rendered_copy, out)  # settle: every body cached for these settings
    with duckdb.connect(str(publication)) as con:
        con.execute("UPDATE bi.publication SET suppression_threshold = suppression_threshold + 1")
    result = _render(rendered_copy, out)
    assert result.cache_misses == everything
    assert result.cache_hits == {}
    _assert_same_as_uncached(rendered_copy, out, tmp_path / "fresh_threshold")
    # a new as-of date (every night with new data): only the bodies whose own data it
    # changes (a child's age) are rendered again; every page shows the new date in the
    # caption of its open follow-ups, which is filled in when the page is written
    _render(rendered_copy, out)
    with duckdb.connect(str(publication)) as con:
        (as_of,) = con.execute(
            "UPDATE bi.publication SET as_of_date = as_of_date + 30 RETURNING as_of_date"
        ).fetchone()
    result = _render(rendered_copy, out)
    assert 0 < result.cache_misses.get("child", 0) < children  # some turned a month older
    assert result.cache_hits["claim"] == claims
    pages = [p.read_text(encoding="utf-8") for p in (out / "restricted" / "children").glob("*")]
    captions = [p for p in pages if "Follow-ups open on" in p]
    assert captions and all(f"Follow-ups open on {as_of:%d %b %Y}<" in p for p in captions)
    _assert_same_as_uncached(rendered_copy, out, tmp_path / "fresh_as_of")


@pytest.mark.slow
def test_a_damaged_or_missing_entry_is_rendered_again(rendered_copy, tmp_path):
    out = tmp_path / "out"
    _render(rendered_copy, out)
    folder = out / "restricted" / ".cache"
    entries = sorted(folder.iterdir())
    entries[0].write_bytes(b"")
    entries[1].write_bytes(entries[1].read_bytes()[:100])
    data = bytearray(entries[2].read_bytes())
    data[-20] ^= 0x20
    entries[2].write_bytes(bytes(data))
    entries[3].unlink()
    (folder / f"{'0' * 64}.frag").write_bytes(b"an entry no page uses")
    result = _render(rendered_copy, out)
    assert sum(result.cache_misses.values()) == 4
    assert result.cache_pruned == 1
    _assert_same_as_uncached(rendered_copy, out, tmp_path / "fresh")
    assert sum(_render(rendered_copy, out).cache_misses.values()) == 0  # repaired


@pytest.mark.slow
def test_the_cache_is_as_private_as_the_restricted_pages(rendered_copy, tmp_path):
    out = tmp_path / "out"
    _render(rendered_copy, out)
    folder = out / "restricted" / ".cache"
    assert folder.stat().st_mode & 0o777 == 0o700
    entries = list(folder.iterdir())
    assert entries and all(p.stat().st_mode & 0o777 == 0o600 for p in entries)
    # the entries name children: that is why they are here, and only here
    assert any(re.search(rb"WLZ[0-9]{9}", p.read_bytes()) for p in entries)
    outside = [
        p for p in out.rglob("*") if p.is_file() and "restricted" not in p.relative_to(out).parts
    ]
    assert outside and all(p.suffix == ".html" for p in outside)


def _report_processes(monkeypatch, processes: int) -> None:
    """config/settings.yaml's reports section, for this test: ``processes`` from the
    first page on (the sample has fewer children than the configured threshold)."""
    from wlz_pipeline import settings

    real = settings.load_settings()
    changed = real.model_copy(
        update={"reports": settings.ReportSettings(processes=processes, process_from_pages=1)}
    )
    monkeypatch.setattr(settings, "load_settings", lambda: changed)


@pytest.mark.slow
def test_child_pages_written_by_several_processes_are_the_pages_of_one(
    rendered_copy, tmp_path, monkeypatch
):
    children, claims = _counts(rendered_copy)
    _report_processes(monkeypatch, 1)
    one = _render(rendered_copy, tmp_path / "one")
    _report_processes(monkeypatch, 3)
    out = tmp_path / "three"
    stale = out / "restricted" / "children" / "WLZ-GONE.html"
    stale.parent.mkdir(parents=True)
    stale.write_text("a child no longer enrolled", encoding="utf-8")
    three = _render(rendered_copy, out)
    assert three.pages == one.pages and three.pages["child"] == children
    assert _differing(_pages(out), _pages(tmp_path / "one")) == []  # the stale page went too
    assert three.removed == 1 and not stale.exists()
    # the workers' cache entries count: all of them are found the next night, none pruned
    assert three.cache_misses == {"child": children, "claim": claims}
    warm = _render(rendered_copy, out, LATER)
    assert warm.cache_misses == {} and warm.cache_hits == {"child": children, "claim": claims}
    assert warm.cache_pruned == 0 and warm.removed == 0
    _assert_same_as_uncached(rendered_copy, out, tmp_path / "fresh_later", LATER)


def _dying_worker(job: object, share: object) -> None:
    """Stands in for render._child_pages_worker: the worker process dies at once."""
    import os

    os._exit(3)


@pytest.mark.slow
def test_a_report_worker_that_dies_costs_time_not_pages(
    rendered_copy, tmp_path, monkeypatch, caplog
):
    _report_processes(monkeypatch, 1)
    _render(rendered_copy, tmp_path / "one")
    _report_processes(monkeypatch, 2)
    # the pool sends the function by name: the spawned worker imports this module
    monkeypatch.setattr(render, "_child_pages_worker", _dying_worker)
    out = tmp_path / "two"
    with caplog.at_level("WARNING", logger=render.__name__):
        result = _render(rendered_copy, out)
    assert "a report worker died" in caplog.text
    assert result.pages["child"] == _counts(rendered_copy)[0]
    assert _differing(_pages(out), _pages(tmp_path / "one")) == []
