-- The partner report card (rules.md §12): one row per partner, programme and term, from
-- the returned attendance template (up to the as-of date) and the allocations. Raw
-- counts are kept beside every rate and mean so that the publication can suppress small
-- numbers (contract.md); nothing is suppressed here. Measures taken from the template
-- are NULL (not 0) while the template has not been returned.
--   reach        children allocated; started = attended at least one session; retained =
--                attended at least one of the last 3 sessions that ran (rules.md §9).
--   support      sessions that ran (a P/L/A/E mark), did not run (only X), unrecorded
--                (no mark); child-hours = planned minutes of attended sessions / 60;
--                hours per child = child-hours / children started.
--   participation  attendance rate = attended / (attended + missed) child-sessions; mean
--                engagement rating (1-5) of attended sessions.
--   satisfaction means of the feedback items (1-5), each with its n.
--   outcome      the template's measure: n with pre and post scores; mean change =
--                mean(post - pre); improved = post > pre, or post < pre when lower is
--                better; effect size = mean change / sample sd of pre (NULL when n < 2
--                or sd = 0); improvement_effect_size has the sign turned so that
--                positive is better.
--   completeness marks recorded / marks expected, where expected = each child on the
--                template x each session that ran while the child was enrolled (a child
--                not yet enrolled is left blank by design); returns_missing = 1 when the
--                template is overdue.
--   dosage       per hours-attended band (config): children with pre and post scores,
--                those improved, and the improvement rate.
{%- set e = engagement() %}
with

settings as (
    select
        as_of_date, rule_version,
        {%- for band in e.dosage_bands %}
        dosage_{{ band }}_min_hours, dosage_{{ band }}_max_hours,
        {%- endfor %}
        retained_last_sessions
    from marts.engagement_settings
),

returns as (
    select
        partner_id, programme, academic_year, term, term_end, due_on, children_allocated,
        template_returned, returned_on, return_status
    from marts.engagement_partner_returns
),

sessions as (
    select partner_id, programme, academic_year, term, session_date, session_status
    from marts.engagement_partner_sessions
),

child_programmes as (
    select
        wlz_id, partner_id, programme, academic_year, term, sessions_attended, sessions_missed,
        hours_attended, engagement_ratings, mean_engagement, started, retained
    from marts.engagement_programme
),

children as (
    select wlz_id, consent_on, enrolment_end_on
    from marts.engagement_children
),

marks as (
    select partner_id, programme, academic_year, term, session_date, wlz_id, mark, engagement, attended
    from staging.partner_marks
),

outcomes as (
    select
        o.partner_id, o.programme, o.academic_year, o.term, o.wlz_id, o.measure,
        o.higher_is_better,
        case when o.pre_date is null or o.pre_date <= s.as_of_date then o.pre_score end as pre_score,
        case when o.post_date is null or o.post_date <= s.as_of_date then o.post_score end as post_score
    from staging.partner_outcomes as o
    cross join settings as s
),

feedback as (
    select partner_id, programme, academic_year, term, wlz_id, enjoyment, usefulness, would_recommend
    from staging.partner_feedback
),

session_counts as (
    select
        partner_id, programme, academic_year, term,
        count(*) as sessions_planned,
        count(*) filter (where session_status = 'ran') as sessions_run,
        count(*) filter (where session_status = 'not_run') as sessions_not_run,
        count(*) filter (where session_status = 'unrecorded') as sessions_unrecorded
    from sessions
    group by all
),

reach as (
    select
        partner_id, programme, academic_year, term,
        count(*) filter (where started) as children_started,
        count(*) filter (where retained) as children_retained,
        cast(sum(sessions_attended) as bigint) as child_sessions_attended,
        cast(sum(sessions_missed) as bigint) as child_sessions_missed,
        sum(hours_attended) as child_hours
    from child_programmes
    group by all
),

ratings as (
    select
        m.partner_id, m.programme, m.academic_year, m.term,
        count(m.engagement) as engagement_ratings,
        avg(m.engagement) as mean_engagement
    from marks as m
    join sessions as s using (partner_id, programme, academic_year, term, session_date)
    where m.attended
    group by all
),

completeness as (
    select
        m.partner_id, m.programme, m.academic_year, m.term,
        count(*) as marks_expected,
        count(m.mark) as marks_recorded
    from marks as m
    join sessions as s using (partner_id, programme, academic_year, term, session_date)
    join children as c
        on c.wlz_id = m.wlz_id and m.session_date between c.consent_on and c.enrolment_end_on
    where s.session_status = 'ran'
    group by all
),

template_children as (
    select partner_id, programme, academic_year, term, count(distinct wlz_id) as children_on_template
    from marks
    group by all
),

satisfaction as (
    select
        partner_id, programme, academic_year, term,
        count(*) filter (
            where enjoyment is not null or usefulness is not null or would_recommend is not null
        ) as feedback_n,
        count(enjoyment) as enjoyment_n,
        avg(enjoyment) as mean_enjoyment,
        count(usefulness) as usefulness_n,
        avg(usefulness) as mean_usefulness,
        count(would_recommend) as would_recommend_n,
        avg(would_recommend) as mean_would_recommend
    from feedback
    group by all
),

measures as (
    -- the template's pre/post measure (one per template; the commonest if several)
    select
        partner_id, programme, academic_year, term,
        mode(measure) as outcome_measure,
        count(distinct measure) as outcome_measures,
        mode(higher_is_better) as higher_is_better
    from outcomes
    where measure is not null
    group by all
),

scored as (
    select
        o.partner_id, o.programme, o.academic_year, o.term, o.wlz_id, o.pre_score, o.post_score,
        o.post_score - o.pre_score as change,
        case coalesce(o.higher_is_better, m.higher_is_better)
            when true then o.post_score > o.pre_score
            when false then o.post_score < o.pre_score
        end as improved,
        p.hours_attended
    from outcomes as o
    join measures as m
        on m.partner_id = o.partner_id and m.programme = o.programme
        and m.academic_year = o.academic_year and m.term = o.term and m.outcome_measure = o.measure
    left join child_programmes as p
        on p.wlz_id = o.wlz_id and p.partner_id = o.partner_id and p.programme = o.programme
        and p.academic_year = o.academic_year and p.term = o.term
    where o.pre_score is not null
),

outcome_stats as (
    select
        s.partner_id, s.programme, s.academic_year, s.term,
        count(*) as outcome_pre_n,
        count(*) filter (where s.post_score is not null) as outcome_n,
        avg(s.pre_score) filter (where s.post_score is not null) as mean_pre,
        avg(s.post_score) filter (where s.post_score is not null) as mean_post,
        avg(s.change) as mean_change,
        stddev_samp(s.pre_score) filter (where s.post_score is not null) as sd_pre,
        count(*) filter (where s.improved) as improved_n,
        {%- for band in e.dosage_bands %}
        count(*) filter (
            where s.post_score is not null
              and s.hours_attended >= t.dosage_{{ band }}_min_hours
              and (t.dosage_{{ band }}_max_hours is null or s.hours_attended < t.dosage_{{ band }}_max_hours)
        ) as dosage_{{ band }}_n,
        count(*) filter (
            where s.improved
              and s.hours_attended >= t.dosage_{{ band }}_min_hours
              and (t.dosage_{{ band }}_max_hours is null or s.hours_attended < t.dosage_{{ band }}_max_hours)
        ) as dosage_{{ band }}_improved_n,
        {%- endfor %}
    from scored as s
    cross join settings as t
    group by all
),

card as (
    select
        r.*,
        c.* exclude (partner_id, programme, academic_year, term),
        h.* exclude (partner_id, programme, academic_year, term),
        g.* exclude (partner_id, programme, academic_year, term),
        tc.* exclude (partner_id, programme, academic_year, term),
        k.* exclude (partner_id, programme, academic_year, term),
        f.* exclude (partner_id, programme, academic_year, term),
        m.* exclude (partner_id, programme, academic_year, term),
        o.* exclude (partner_id, programme, academic_year, term)
    from returns as r
    left join session_counts as c
        on c.partner_id = r.partner_id and c.programme = r.programme
        and c.academic_year = r.academic_year and c.term = r.term
    left join reach as h
        on h.partner_id = r.partner_id and h.programme = r.programme
        and h.academic_year = r.academic_year and h.term = r.term
    left join ratings as g
        on g.partner_id = r.partner_id and g.programme = r.programme
        and g.academic_year = r.academic_year and g.term = r.term
    left join template_children as tc
        on tc.partner_id = r.partner_id and tc.programme = r.programme
        and tc.academic_year = r.academic_year and tc.term = r.term
    left join completeness as k
        on k.partner_id = r.partner_id and k.programme = r.programme
        and k.academic_year = r.academic_year and k.term = r.term
    left join satisfaction as f
        on f.partner_id = r.partner_id and f.programme = r.programme
        and f.academic_year = r.academic_year and f.term = r.term
    left join measures as m
        on m.partner_id = r.partner_id and m.programme = r.programme
        and m.academic_year = r.academic_year and m.term = r.term
    left join outcome_stats as o
        on o.partner_id = r.partner_id and o.programme = r.programme
        and o.academic_year = r.academic_year and o.term = r.term
)

select
    card.partner_id,
    card.programme,
    card.academic_year,
    card.term,
    card.term_end,
    card.due_on,
    card.template_returned,
    card.returned_on,
    card.return_status,
    case when card.return_status = 'overdue' then 1 else 0 end as returns_missing,
    -- reach
    card.children_allocated,
    case when template_returned then coalesce(children_on_template, 0) end as children_on_template,
    case when template_returned then coalesce(children_started, 0) end as children_started,
    case when template_returned then coalesce(children_retained, 0) end as children_retained,
    case when template_returned then children_started / nullif(children_allocated, 0) end as started_rate,
    case when template_returned then children_retained / nullif(children_started, 0) end as retained_rate,
    -- amount of support
    case when template_returned then coalesce(sessions_planned, 0) end as sessions_planned,
    case when template_returned then coalesce(sessions_run, 0) end as sessions_run,
    case when template_returned then coalesce(sessions_not_run, 0) end as sessions_not_run,
    case when template_returned then coalesce(sessions_unrecorded, 0) end as sessions_unrecorded,
    case when template_returned then coalesce(child_hours, 0) end as child_hours,
    case when template_returned then child_hours / nullif(children_started, 0) end as hours_per_child,
    -- participation
    case when template_returned then coalesce(child_sessions_attended, 0) end as child_sessions_attended,
    case when template_returned then coalesce(child_sessions_missed, 0) end as child_sessions_missed,
    case when template_returned
        then child_sessions_attended / nullif(child_sessions_attended + child_sessions_missed, 0)
    end as attendance_rate,
    case when template_returned then coalesce(engagement_ratings, 0) end as engagement_ratings,
    mean_engagement,
    -- child satisfaction
    case when template_returned then coalesce(feedback_n, 0) end as feedback_n,
    case when template_returned then coalesce(enjoyment_n, 0) end as enjoyment_n,
    mean_enjoyment,
    case when template_returned then coalesce(usefulness_n, 0) end as usefulness_n,
    mean_usefulness,
    case when template_returned then coalesce(would_recommend_n, 0) end as would_recommend_n,
    mean_would_recommend,
    -- outcome measure
    outcome_measure,
    outcome_measures,
    higher_is_better,
    case when template_returned then coalesce(outcome_pre_n, 0) end as outcome_pre_n,
    case when template_returned then coalesce(outcome_n, 0) end as outcome_n,
    mean_pre,
    mean_post,
    mean_change,
    case when template_returned then coalesce(improved_n, 0) end as improved_n,
    improved_n / nullif(outcome_n, 0) as improved_rate,
    sd_pre,
    mean_change / nullif(sd_pre, 0) as effect_size,
    case higher_is_better when true then 1 when false then -1 end * mean_change / nullif(sd_pre, 0)
        as improvement_effect_size,
    -- data completeness
    case when template_returned then coalesce(marks_expected, 0) end as marks_expected,
    case when template_returned then coalesce(marks_recorded, 0) end as marks_recorded,
    marks_recorded / nullif(marks_expected, 0) as marks_recorded_rate,
    -- dosage
    {%- for band in e.dosage_bands %}
    case when template_returned then coalesce(dosage_{{ band }}_n, 0) end as dosage_{{ band }}_n,
    case when template_returned then coalesce(dosage_{{ band }}_improved_n, 0) end as dosage_{{ band }}_improved_n,
    dosage_{{ band }}_improved_n / nullif(dosage_{{ band }}_n, 0) as dosage_{{ band }}_improvement_rate,
    {%- endfor %}
    s.as_of_date,
    s.rule_version
from card
cross join settings as s
order by card.partner_id, card.programme, card.academic_year, card.term_end
