-- The anchors that report behaviour through each wave's window (rules.md §4): an anchor
-- is taken to report behaviour through a window when it recorded any incident (any
-- pupil) on or after the window's start in that academic year; otherwise its children's
-- incident counts are unknown, not zero (in risk_factors). A table of its own because
-- it counts every pupil of an anchor, so that risk_factors is local to a pupil.
select distinct w.academic_year, w.wave, i.anchor_urn
from marts.wave_dates as w
join staging.behaviour as i
    on i.academic_year = w.academic_year and i.incident_date >= w.behaviour_start
where i.incident_date is not null and i.upn is not null
