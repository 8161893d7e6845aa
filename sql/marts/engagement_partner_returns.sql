-- One row per partner programme and term that was allocated children or sent a
-- template: when its attendance template was due and whether it came back (rules.md
-- §11-12). Due: the term's last half-term end + the grace days in config. Returned: the
-- file registry holds an ingested (or since superseded) template for the programme and
-- term; returned_on is the day the first one arrived. A template that arrived after the
-- as-of date (history re-run on data loaded later, e.g. the synthetic sample) counts
-- as returned: its arrival date says nothing about when the partner sent it.
with

settings as (
    select as_of_date, partner_return_grace_days
    from marts.engagement_settings
),

allocated as (
    select partner_id, programme, academic_year, term, count(distinct wlz_id) as children_allocated
    from staging.allocations
    where wlz_id is not null
    group by partner_id, programme, academic_year, term
),

partner_files as (
    select
        split_part(period, '|', 1) as partner_id,
        split_part(period, '|', 2) as programme,
        split_part(period, '|', 3) as academic_year,
        split_part(period, '|', 4) as term,
        count(*) as template_files,
        min(arrived_at) as first_arrived_at
    from meta.file_registry
    where source = 'partners' and status in ('ingested', 'superseded') and period is not null
    group by all
),

terms as (
    select academic_year, term, min(start_date) as term_start, max(end_date) as term_end
    from staging.calendar
    group by academic_year, term
),

programme_terms as (
    select partner_id, programme, academic_year, term from allocated
    union
    select partner_id, programme, academic_year, term from partner_files
)

select
    p.partner_id,
    p.programme,
    p.academic_year,
    p.term,
    t.term_start,
    t.term_end,
    cast(t.term_end + s.partner_return_grace_days * interval 1 day as date) as due_on,
    coalesce(a.children_allocated, 0) as children_allocated,
    f.partner_id is not null as template_returned,
    coalesce(f.template_files, 0) as template_files,
    cast(f.first_arrived_at as date) as returned_on,
    case
        when f.partner_id is not null then 'returned'
        when t.term_end + s.partner_return_grace_days * interval 1 day < s.as_of_date then 'overdue'
        else 'not_due'
    end as return_status,
    s.partner_return_grace_days,
    s.as_of_date
from programme_terms as p
cross join settings as s
left join terms as t on t.academic_year = p.academic_year and t.term = p.term
left join allocated as a
    on a.partner_id = p.partner_id and a.programme = p.programme
    and a.academic_year = p.academic_year and a.term = p.term
left join partner_files as f
    on f.partner_id = p.partner_id and f.programme = p.programme
    and f.academic_year = p.academic_year and f.term = p.term
order by p.partner_id, p.programme, p.academic_year, p.term
