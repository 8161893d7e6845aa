"""Pure scoring rules: SDQ, WEMWBS, survey constructs, UPN and WLZ ID checks,
attendance register codes and attainment risk.

No I/O apart from reading ``config/*.yaml`` (through ``wlz_pipeline.config.load_yaml``,
validated with pydantic models that fail loudly on a bad edit); no DuckDB, no Dagster.
"""

from wlz_pipeline.scoring.attainment import (
    AttainmentRisk,
    attainment_risk,
    level_to_standardised,
    national_percentile,
)
from wlz_pipeline.scoring.attendance_codes import classify, code_table_rows
from wlz_pipeline.scoring.constructs import (
    ConstructScore,
    InvalidAnswer,
    code_answer,
    item_columns,
    score_construct,
)
from wlz_pipeline.scoring.ids import check_wlz_id, is_wlz_id
from wlz_pipeline.scoring.sdq import SdqScore, choose_informant, informant_priority, score_sdq
from wlz_pipeline.scoring.upn import UpnResult, check_upn, upn_check_letter
from wlz_pipeline.scoring.wemwbs import WemwbsScore, score_wemwbs

__all__ = [
    "AttainmentRisk",
    "ConstructScore",
    "InvalidAnswer",
    "SdqScore",
    "UpnResult",
    "WemwbsScore",
    "attainment_risk",
    "check_upn",
    "check_wlz_id",
    "choose_informant",
    "classify",
    "code_answer",
    "code_table_rows",
    "informant_priority",
    "is_wlz_id",
    "item_columns",
    "level_to_standardised",
    "national_percentile",
    "score_construct",
    "score_sdq",
    "score_wemwbs",
    "upn_check_letter",
]
