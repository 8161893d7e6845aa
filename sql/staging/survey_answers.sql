-- One row per answered item of each staged survey response (long form), with the
-- answer coded through config/survey.yaml (labels in any letter case, or codes).
-- Only responses that passed their own rules (staging.survey_responses) are unpivoted.
with

responses as (
    select r.*
    from raw.survey_responses as r
    join staging.survey_responses as s
        on s._file_hash = r._file_hash and s._row_number = r._row_number
),

answers as (
    unpivot responses
    on {{ survey_items | join(', ') }}
    into name item value answer
),

coded as (
    select
        a.*,
        m.code as label_code,
        try_cast(trim(a.answer) as double) as numeric_answer
    from answers as a
    left join meta.survey_answer_map as m
        on m.item = a.item and m.label = lower(trim(a.answer))
)

select
    trim(c.response_id) as response_id,
    c.item,
    c.answer as answer__raw,
    -- a label ("Somewhat true") or its code ("1") both match the answer map; free
    -- numbers (days, people) must be whole and inside the scale's range
    coalesce(
        c.label_code,
        case when c.numeric_answer between s.numeric_min and s.numeric_max
                  and c.numeric_answer = floor(c.numeric_answer)
             then c.numeric_answer end
    ) as code,
    c._file_hash,
    c._row_number
from coded as c
left join meta.survey_item_scale as s on s.item = c.item
where trim(c.answer) <> ''
