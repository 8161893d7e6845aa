"""What a returned template is checked against is read once per scan
(``ingest.PartnerLookups``); it must be what the per-template queries it replaced gave
for every programme and term, and for a programme or term that is not there."""

from __future__ import annotations

import pytest

from tests.marts.conftest import Zone, new_warehouse, pupil, upn
from wlz_pipeline.ingest import PartnerLookups, _current, ingest_all, known_children


def _one_template(con, partner, programme, year, term):
    """The per-template definition: one query for the children, one for the term."""
    allocated = {
        r[0]
        for r in _current(
            con,
            "SELECT upper(trim(r.wlz_id)) FROM raw.ref_allocations r {current} "
            "WHERE upper(trim(r.partner_id)) = ? AND trim(r.programme) = ? "
            "AND trim(r.academic_year) = ? AND lower(trim(r.term)) = ?",
            [partner, programme, year, term],
        )
    }
    dates = _current(
        con,
        "SELECT min(wlz_date(r.start_date)), max(wlz_date(r.end_date)) "
        "FROM raw.ref_calendar r {current} "
        "WHERE trim(r.academic_year) = ? AND lower(trim(r.term)) = ?",
        [year, term],
    )
    term_dates = dates[0] if dates and dates[0][0] is not None else None
    return allocated, term_dates


def test_lookups_once_per_scan_equal_the_per_template_queries(con, landing, archive):
    ingest_all(con, landing, archive, sources=("reference", "mis"))
    keys = con.execute(
        """SELECT DISTINCT upper(trim(partner_id)), trim(programme), trim(academic_year),
                  lower(trim(term)) FROM raw.ref_allocations ORDER BY ALL"""
    ).fetchall()
    assert keys  # the fixture allocates children to programmes
    year, term = keys[0][2], keys[0][3]
    keys += [
        (keys[0][0], "No such programme", year, term),
        (keys[0][0], keys[0][1], "1999/00", term),
        (keys[0][0], keys[0][1], year, "midsummer"),
    ]
    lookups = PartnerLookups(con)
    known = known_children(con)
    for key in keys:
        allocated, names, term_dates = lookups.context(*key)
        assert (allocated, term_dates) == _one_template(con, *key), key
        assert dict(names) == {k.strip().upper(): v for k, v in known.items()}
    # the sets handed out are the template's own: changing one changes no other
    first, _, _ = lookups.context(*keys[0])
    first.add("WLZ999999999")
    assert "WLZ999999999" not in lookups.context(*keys[0])[0]


def _register_pupils(zone, anchor: str, rows: list[dict], arrived: str, as_of: str | None):
    """One current register extract for ``anchor``, arrived on ``arrived``."""
    file_hash = zone.mis("pupils", anchor, rows)
    zone.con.execute(
        "UPDATE meta.file_registry SET arrived_at = ?, as_of = ? WHERE file_hash = ?",
        [arrived, as_of, file_hash],
    )


@pytest.mark.parametrize("later_first", [True, False], ids=["later-first", "later-second"])
def test_a_child_on_two_extracts_of_one_date_has_the_name_of_the_later_delivery(
    tmp_path, later_first
):
    # Two current extracts with the same date (a child moving school: both registers
    # dated 1 October) give different surnames. The template check uses the extract that
    # arrived later, as staging.pupils does, whichever order the rows are stored in; the
    # forename and the surname come from the same row.
    zone = Zone(new_warehouse(tmp_path / "wh" / "wlz.duckdb"))
    earlier = ("140102", [pupil(1, "5", forename="Tamsin", surname="Orley")], "2017-10-02")
    later = ("140103", [pupil(1, "5", forename="Tam", surname="Orley-Baines")], "2017-10-05")
    for anchor, rows, arrived in (later, earlier) if later_first else (earlier, later):
        _register_pupils(zone, anchor, rows, arrived, as_of="2017-10-01")
    zone.reference("enrolments", [{"wlz_id": "WLZ000000001", "upn": upn(1)}])
    assert known_children(zone.con) == {"WLZ000000001": "Tam Orley-Baines"}
    zone.con.close()


def test_the_newest_extract_date_wins_even_when_the_file_has_no_as_of_date(tmp_path):
    # A register whose file carries no as-of date speaks for the extract date on its
    # rows (then for the day it arrived), as in staging.pupils; before, such a file was
    # ignored and the child had no name, so every template line failed the name check.
    zone = Zone(new_warehouse(tmp_path / "wh" / "wlz.duckdb"))
    old = pupil(1, "5", forename="Tamsin", surname="Orley", extract_date="2017-10-01")
    new = pupil(1, "5", forename="Tamsin", surname="Orley-Baines", extract_date="2018-01-10")
    _register_pupils(zone, "140102", [new], "2018-01-11", as_of=None)
    _register_pupils(zone, "140102", [old], "2017-10-02", as_of=None)
    zone.reference("enrolments", [{"wlz_id": "WLZ000000001", "upn": upn(1)}])
    assert known_children(zone.con) == {"WLZ000000001": "Tamsin Orley-Baines"}
    # a child on no register has an empty name (every line of theirs fails the check)
    zone.reference("enrolments", [{"wlz_id": "WLZ000000002", "upn": upn(2)}])
    assert known_children(zone.con)["WLZ000000002"] == ""
    zone.con.close()
