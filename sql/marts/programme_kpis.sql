-- Programme KPIs per cohort and anchor (rules.md §12), each rate with its numerator and
-- denominator, from the programme register up to the as-of date:
--   children_supported  children who consented (enrolled), whether still enrolled or not;
--   interactions_per_child = LW interactions with them while enrolled / children_supported;
--   partner_hours_per_child = attended partner hours while enrolled / children_supported;
--   decline_rate = declined / approached (approached: an approach, consent or decline
--       date is recorded, so every decline is also an approach);
--   dropout_rate = exited early (an exit date before the end of the programme's second
--       year) / consented;
--   support_attendance_rate = partner sessions attended / (attended + missed).
-- Counts are raw; small-number suppression is the publication's job.
with

settings as (
    select as_of_date
    from marts.engagement_settings
),

register as (
    select
        e.cohort,
        e.anchor_urn,
        e.wlz_id,
        coalesce(e.approached_on, e.consent_on, e.declined_on) <= s.as_of_date as approached,
        e.declined_on <= s.as_of_date as declined,
        e.consent_on <= s.as_of_date as consented,
        e.consent_on <= s.as_of_date
            and e.exit_on <= s.as_of_date
            and e.exit_on < c.programme_end_on as exited_early
    from staging.enrolments as e
    cross join settings as s
    left join marts.engagement_children as c on c.wlz_id = e.wlz_id
    where e.wlz_id is not null
),

engagement as (
    select
        wlz_id,
        sum(lw_interactions) as lw_interactions,
        sum(lw_minutes) as lw_minutes,
        sum(partner_hours) as partner_hours,
        sum(lw_support_hours) as lw_support_hours,
        sum(support_sessions_attended) as support_sessions_attended,
        sum(support_sessions_missed) as support_sessions_missed
    from marts.engagement_weekly
    group by wlz_id
),

per_group as (
    select
        r.cohort,
        r.anchor_urn,
        count(*) as children_identified,
        count(*) filter (where r.approached) as children_approached,
        count(*) filter (where r.declined) as children_declined,
        count(*) filter (where r.consented) as children_supported,
        count(*) filter (where r.exited_early) as children_exited_early,
        cast(coalesce(sum(g.lw_interactions) filter (where r.consented), 0) as bigint) as lw_interactions,
        cast(coalesce(sum(g.lw_minutes) filter (where r.consented), 0) as bigint) as lw_minutes,
        coalesce(sum(g.partner_hours) filter (where r.consented), 0) as partner_hours,
        coalesce(sum(g.lw_support_hours) filter (where r.consented), 0) as lw_support_hours,
        cast(coalesce(sum(g.support_sessions_attended) filter (where r.consented), 0) as bigint) as support_sessions_attended,
        cast(coalesce(sum(g.support_sessions_missed) filter (where r.consented), 0) as bigint) as support_sessions_missed
    from register as r
    left join engagement as g on g.wlz_id = r.wlz_id
    group by r.cohort, r.anchor_urn
)

select
    p.cohort,
    p.anchor_urn,
    p.children_identified,
    p.children_approached,
    p.children_declined,
    p.children_supported,
    p.children_exited_early,
    p.lw_interactions,
    p.lw_minutes,
    p.lw_interactions / nullif(p.children_supported, 0) as interactions_per_child,
    p.partner_hours,
    p.partner_hours / nullif(p.children_supported, 0) as partner_hours_per_child,
    p.lw_support_hours,
    p.children_declined / nullif(p.children_approached, 0) as decline_rate,
    p.children_exited_early / nullif(p.children_supported, 0) as dropout_rate,
    p.support_sessions_attended,
    p.support_sessions_missed,
    p.support_sessions_attended + p.support_sessions_missed as support_sessions_counted,
    p.support_sessions_attended
        / nullif(p.support_sessions_attended + p.support_sessions_missed, 0) as support_attendance_rate,
    s.as_of_date
from per_group as p
cross join settings as s
order by p.cohort, p.anchor_urn
