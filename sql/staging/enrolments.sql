-- The programme register: identified -> approached -> consented or declined -> exited.
select
    upper(trim(wlz_id)) as wlz_id,
    upper(replace(trim(upn), ' ', '')) as upn,
    trim(anchor_urn) as anchor_urn,
    trim(cohort) as cohort,
    wlz_date(identified_on) as identified_on,
    identified_on as identified_on__raw,
    wlz_date(approached_on) as approached_on,
    approached_on as approached_on__raw,
    wlz_date(consent_on) as consent_on,
    consent_on as consent_on__raw,
    wlz_date(declined_on) as declined_on,
    declined_on as declined_on__raw,
    upper(trim(lw_id)) as lw_id,
    wlz_date(exit_on) as exit_on,
    exit_on as exit_on__raw,
    lower(trim(exit_reason)) as exit_reason,
    case when nullif(trim(target_outcomes), '') is null then []::varchar[]
         else list_transform(string_split(trim(target_outcomes), '|'), lambda x: lower(trim(x)))
    end as target_outcomes,
    r._file_hash,
    r._row_number
from raw.ref_enrolments as r
join meta.current_files as f on f.file_hash = r._file_hash
