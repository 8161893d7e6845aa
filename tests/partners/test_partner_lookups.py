"""What a returned template is checked against is read once per scan
(``ingest.PartnerLookups``); it must be what the per-template queries it replaced gave
for every programme and term, and for a programme or term that is not there."""

from __future__ import annotations

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
