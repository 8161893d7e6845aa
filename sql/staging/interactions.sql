-- One row per link-worker interaction. Exports overlap: the later export of the same
-- interaction_id wins. notes is case-work text: restricted layer only, never published.
with

raw_rows as (
    select r.*, f.as_of as _file_as_of, f.arrived_at as _arrived_at, f.path as _path
    from raw.interactions as r
    join meta.current_files as f on f.file_hash = r._file_hash
),

ranked as (
    select
        *,
        row_number() over (
            partition by trim(interaction_id)
            order by _file_as_of desc, _arrived_at desc, _path desc, _row_number desc
        ) as _rank
    from raw_rows
)

select
    trim(interaction_id) as interaction_id,
    upper(trim(wlz_id)) as wlz_id,
    upper(trim(lw_id)) as lw_id,
    wlz_timestamp(started_at) as started_at,
    started_at as started_at__raw,
    wlz_int(duration_minutes) as duration_minutes,
    duration_minutes as duration_minutes__raw,
    lower(trim(with_whom)) as with_whom,
    lower(trim(kind)) as kind,
    lower(trim(channel)) as channel,
    notes,
    _file_hash,
    _row_number
from ranked
where _rank = 1 or interaction_id is null
