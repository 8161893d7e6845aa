"""The code location's executor (wlz_pipeline/executor.py): independent steps run side by
side, at most ``concurrent_steps`` at once; a step that needs the warehouse to itself
runs alone; the publication waits for every check; failures, blocking checks and
retries behave as with Dagster's own executor; and the whole pipeline on the sample
builds exactly what Dagster's one-step-at-a-time executor builds.

The small jobs are real Dagster runs (``execute_job`` on a test instance) whose assets
record, in this process, which steps were running when each started and ended."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.resources import in_process_executor
from wlz_pipeline.executor import AFTER_CHECKS, EXCLUSIVE, chain_lengths


# -- what the steps of a probe job saw --------------------------------------------------
class _Probe:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: set[str] = set()
        self.seen: list[tuple[str, str, frozenset[str]]] = []  # (step, start|end, running)
        self.barrier = threading.Barrier(2, timeout=60)
        self.attempts: dict[str, int] = {}

    def reset(self) -> None:
        self.__init__()

    def enter(self, name: str) -> None:
        with self.lock:
            self.active.add(name)
            self.seen.append((name, "start", frozenset(self.active)))

    def leave(self, name: str) -> None:
        with self.lock:
            self.seen.append((name, "end", frozenset(self.active)))
            self.active.discard(name)

    def step(self, name: str, pause: float = 0.3) -> None:
        # long enough for a step started meanwhile to be seen; nothing asserts a time
        self.enter(name)
        time.sleep(pause)
        self.leave(name)

    def most_at_once(self) -> int:
        return max(len(running) for _, _, running in self.seen)

    def index(self, name: str, what: str) -> int:
        return next(i for i, (n, w, _) in enumerate(self.seen) if n == name and w == what)


PROBE = _Probe()


def _simple(name: str, pause: float = 0.3, **kwargs) -> dg.AssetsDefinition:
    @dg.asset(name=name, **kwargs)
    def _a() -> None:
        PROBE.step(name, pause)

    return _a


def _four_independent_job() -> dg.JobDefinition:
    assets = []
    for name in "abcd":

        @dg.asset(name=name)
        def _a(context) -> None:  # noqa: ANN001 - dagster reads a string hint as no context
            step = context.asset_key.path[-1]
            PROBE.enter(step)
            PROBE.barrier.wait()  # two at a time meet here, or the barrier breaks
            PROBE.leave(step)

        assets.append(_a)
    return _job(assets)


def _three_independent_job() -> dg.JobDefinition:
    return _job([_simple(n) for n in "abc"])


def _exclusive_job() -> dg.JobDefinition:
    # x comes last (a lower priority), when a has finished and b and c still run
    x = _simple("x", op_tags={**EXCLUSIVE, "dagster/priority": "-1"})
    return _job([_simple("a", 0.05), _simple("b", 1.0), _simple("c", 1.0), x])


def _after_checks_job() -> dg.JobDefinition:
    a = _simple("a")

    @dg.asset_check(asset="a", blocking=False)
    def a_looked_at() -> dg.AssetCheckResult:
        PROBE.step("a_looked_at", 0.5)
        return dg.AssetCheckResult(passed=True)

    return _job([a, _simple("p", op_tags=AFTER_CHECKS)], [a_looked_at])


def _after_checks_upstream_of_a_check_job() -> dg.JobDefinition:
    # p waits for every check, but the check on q needs p built first: p must start anyway
    p = _simple("p", op_tags=AFTER_CHECKS)
    q = _simple("q", deps=["p"])

    @dg.asset_check(asset="q", blocking=False)
    def q_looked_at() -> dg.AssetCheckResult:
        PROBE.step("q_looked_at", 0.0)
        return dg.AssetCheckResult(passed=True)

    return _job([p, q], [q_looked_at])


def _failing_job() -> dg.JobDefinition:
    @dg.asset
    def boom() -> None:
        raise RuntimeError("the step failed")

    @dg.asset(deps=["guarded"])
    def after_guarded() -> None:
        PROBE.step("after_guarded", 0.0)

    @dg.asset_check(asset="guarded", blocking=True)
    def guarded_ok() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False)

    return _job(
        [
            boom,
            _simple("after_boom", deps=["boom"]),
            _simple("fine"),
            _simple("guarded"),
            after_guarded,
        ],
        [guarded_ok],
    )


def _retrying_job() -> dg.JobDefinition:
    @dg.asset
    def flaky() -> None:
        PROBE.attempts["flaky"] = PROBE.attempts.get("flaky", 0) + 1
        if PROBE.attempts["flaky"] == 1:
            raise dg.RetryRequested(max_retries=1)
        PROBE.step("flaky", 0.0)

    return _job([flaky, _simple("after_flaky", deps=["flaky"])])


def _terminated_job() -> dg.JobDefinition:
    @dg.asset
    def first() -> None:
        # what the UI's "Terminate" does to the run's process: a SIGINT, which Dagster
        # captures in the run's (main) thread while the steps run on theirs
        os.kill(os.getpid(), signal.SIGINT)
        PROBE.step("first", 0.5)

    return _job([first, _simple("second", deps=["first"]), _simple("slow_other", 1.0)])


def _table(name: str, rebuilt: bool, **kwargs) -> dg.AssetsDefinition:
    """A table as assets/models.py materialises it: ``rebuilt`` says whether it was built
    again (its inputs had changed)."""

    @dg.asset(name=name, **kwargs)
    def _t() -> dg.MaterializeResult:
        PROBE.step(name, 0.0)
        return dg.MaterializeResult(metadata={"rebuilt": rebuilt})

    return _t


def _checked(name: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=name, name=f"{name}_suite", blocking=False)
    def _c() -> dg.AssetCheckResult:
        PROBE.step(f"{name}_suite", 0.0)
        return dg.AssetCheckResult(passed=True)

    return _c


def _nothing_rebuilt_job() -> dg.JobDefinition:
    return _job(
        [_table("same", False), _table("also_same", False, deps=["same"])],
        [_checked("same"), _checked("also_same")],
    )


def _one_rebuilt_job() -> dg.JobDefinition:
    return _job(
        [_table("same", False), _table("changed", True, deps=["same"])],
        [_checked("same"), _checked("changed")],
    )


def _ingest(name: str, files: int) -> dg.AssetsDefinition:
    """An ingest asset as assets/ingest.py materialises it, having taken in ``files``."""

    @dg.asset(name=name)
    def _i() -> dg.MaterializeResult:
        PROBE.step(name, 0.0)
        return dg.MaterializeResult(metadata={"files_ingested": files, "files_seen": 3})

    return _i


def _ingest_job(files: int) -> dg.JobDefinition:
    # the table after the ingest is slow: the import is seen to start before it ends
    @dg.asset(deps=["raw"])
    def slow_table() -> dg.MaterializeResult:
        PROBE.step("slow_table", 1.0)
        return dg.MaterializeResult(metadata={"rebuilt": False})

    return _job([_ingest("raw", files), slow_table], [_checked("slow_table")])


def _one_file_taken_in_job() -> dg.JobDefinition:
    return _ingest_job(files=1)


def _nothing_taken_in_job() -> dg.JobDefinition:
    return _ingest_job(files=0)


def _job(assets: list, checks: list | None = None) -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=assets,
        asset_checks=checks or [],
        jobs=[dg.define_asset_job("probe", executor_def=in_process_executor)],
    )
    return defs.resolve_job_def("probe")


@dataclass(frozen=True)
class _Ran:
    success: bool
    built: set[str]
    failed: set[str]


def _run(job_fn, concurrent_steps: int, **execution: object) -> _Ran:  # noqa: ANN001
    PROBE.reset()
    config = {"concurrent_steps": concurrent_steps, **execution}
    with dg.instance_for_test() as instance:
        result = dg.execute_job(
            dg.reconstructable(job_fn),
            instance=instance,
            run_config={"execution": {"config": config}},
            raise_on_error=False,
        )
        return _Ran(
            result.success,
            {e.asset_key.path[-1] for e in result.get_asset_materialization_events()},
            {e.step_key for e in result.get_step_failure_events()},
        )


# -- side by side, within the limit ------------------------------------------------------
def test_independent_steps_run_two_at_a_time():
    # a, b, c, d each wait at a two-party barrier: the run succeeds only if they ran in
    # pairs, side by side, and never more than two at once
    result = _run(_four_independent_job, 2)
    assert result.success
    assert PROBE.most_at_once() == 2


def test_one_at_a_time_runs_the_steps_one_after_another():
    result = _run(_three_independent_job, 1)
    assert result.success
    assert PROBE.most_at_once() == 1
    assert [w for _, w, _ in PROBE.seen] == ["start", "end"] * 3


def test_the_limit_holds_with_more_steps_ready_than_threads():
    result = _run(_three_independent_job, 2)
    assert result.success
    assert PROBE.most_at_once() == 2  # three ready, two at a time


def test_a_step_that_needs_the_warehouse_to_itself_runs_alone():
    result = _run(_exclusive_job, 3)
    assert result.success
    assert PROBE.most_at_once() >= 2  # b and c did run side by side
    for name, _, running in PROBE.seen:
        if "x" in running:
            assert running == {"x"}, f"{name} ran beside the exclusive step"


def test_the_publication_kind_of_step_starts_after_every_check():
    result = _run(_after_checks_job, 2)
    assert result.success
    assert PROBE.index("p", "start") > PROBE.index("a_looked_at", "end")


def test_a_step_waiting_for_checks_that_need_it_starts_anyway():
    result = _run(_after_checks_upstream_of_a_check_job, 2)
    assert result.success
    assert [n for n, w, _ in PROBE.seen if w == "start"] == ["p", "q", "q_looked_at"]


@pytest.fixture
def gx_imports(monkeypatch):
    """Records, instead of importing GX, when the executor starts the import."""
    from wlz_pipeline import executor

    started = threading.Event()

    def record() -> None:
        PROBE.seen.append(("gx_import", "start", frozenset()))
        started.set()

    monkeypatch.setattr(executor, "_import_gx", record)
    return started


def test_a_run_that_rebuilds_no_table_does_not_import_gx(gx_imports):
    # a night with nothing new: every suite keeps its stored outcome, GX is never needed
    result = _run(_nothing_rebuilt_job, 2)
    assert result.success
    assert result.built == {"same", "also_same"}
    assert not gx_imports.wait(1.0)
    assert "gx_import" not in {n for n, _, _ in PROBE.seen}


def test_gx_is_imported_once_a_table_has_been_rebuilt(gx_imports):
    result = _run(_one_rebuilt_job, 2)
    assert result.success
    assert gx_imports.wait(30)
    assert [n for n, _, _ in PROBE.seen].count("gx_import") == 1
    # not for the unchanged table before it: only after the rebuilt one had materialised
    assert PROBE.index("gx_import", "start") > PROBE.index("changed", "end")


def test_gx_is_imported_once_an_ingest_has_taken_in_a_file(gx_imports):
    # its tables will be rebuilt: the import starts before they are, not after
    result = _run(_one_file_taken_in_job, 2)
    assert result.success
    assert gx_imports.wait(30)
    assert PROBE.index("raw", "end") < PROBE.index("gx_import", "start")
    assert PROBE.index("gx_import", "start") < PROBE.index("slow_table", "end")


def test_an_ingest_that_took_in_nothing_does_not_import_gx(gx_imports):
    result = _run(_nothing_taken_in_job, 2)
    assert result.success
    assert not gx_imports.wait(1.0)


def test_one_step_at_a_time_leaves_the_import_to_the_gx_worker(gx_imports):
    result = _run(_one_rebuilt_job, 1)
    assert result.success
    assert not gx_imports.wait(1.0)


#: A run in a fresh interpreter (nothing imported but what a run's process has): its one
#: table records whether ``sqlalchemy.orm`` was imported when the step started.
_FRESH_RUN = """
import sys

import dagster as dg

from assets.resources import in_process_executor


@dg.asset
def table() -> dg.MaterializeResult:
    print("orm imported at the step's start:", "sqlalchemy.orm" in sys.modules)
    return dg.MaterializeResult(metadata={"rebuilt": False})


@dg.asset_check(asset="table")
def table_suite() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def probe_job() -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=[table],
        asset_checks=[table_suite],
        jobs=[dg.define_asset_job("probe", executor_def=in_process_executor)],
    )
    return defs.resolve_job_def("probe")


if __name__ == "__main__":
    assert "sqlalchemy.orm" not in sys.modules
    with dg.instance_for_test() as instance:
        result = dg.execute_job(
            dg.reconstructable(probe_job),
            instance=instance,
            run_config={"execution": {"config": {"concurrent_steps": int(sys.argv[1])}}},
        )
    assert result.success
"""


@pytest.mark.parametrize(("concurrent_steps", "imported"), [(2, True), (1, False)])
def test_what_the_gx_import_races_with_is_imported_before_any_step_starts(
    tmp_path: Path, concurrent_steps: int, imported: bool
):
    # Side by side, GX is imported on a thread while steps run, and its import of
    # sqlalchemy.orm once made a step's Dagster query fail on a half-imported module:
    # it is imported before the first step. One step at a time, GX is imported in the
    # GX worker's process, and nothing here imports it (the case that shows the first
    # is the executor's doing, not the interpreter's).
    script = tmp_path / "fresh_run.py"
    script.write_text(_FRESH_RUN, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(concurrent_steps)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"orm imported at the step's start: {imported}" in done.stdout


#: GX imported on a thread while another thread builds SQLAlchemy queries as Dagster's event
#: log does on every step's thread (``select`` inspects each of its columns): what the
#: executor imports first (``IMPORT_BEFORE_STEPS``) is imported before either starts.
_RACE = """
import importlib
import threading
import time

import sqlalchemy as sa

from wlz_pipeline.executor import IMPORT_BEFORE_STEPS

for module in IMPORT_BEFORE_STEPS:
    importlib.import_module(module)
errors = []
done = threading.Event()


def query():
    while not done.is_set():
        try:
            sa.select(sa.literal(1))
            sa.inspection.inspect(1, raiseerr=False)
        except Exception as exc:
            errors.append(repr(exc))
            return
        time.sleep(0.001)  # lets the import have the interpreter most of the time


thread = threading.Thread(target=query)
thread.start()
import great_expectations  # noqa: E402,F401

done.set()
thread.join()
print("errors:", errors)
"""


def test_queries_on_other_threads_do_not_fail_while_gx_is_imported():
    # Without the imports first, each of six runs of this test failed with
    # "partially initialized module 'sqlalchemy.orm.exc'"; with them, none did.
    done = subprocess.run(
        [sys.executable, "-c", _RACE],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "errors: []" in done.stdout, done.stdout


# -- failures, blocking checks, retries ---------------------------------------------------
def test_a_failed_step_skips_what_depends_on_it_and_the_rest_is_built():
    result = _run(_failing_job, 2)
    assert not result.success
    assert result.built == {"fine", "guarded"}  # not after_boom, nor after the failed check
    assert result.failed == {"boom", "guarded_guarded_ok"}  # the step, the check's step
    assert not {"after_boom", "after_guarded"} & {n for n, _, _ in PROBE.seen}


def test_a_step_that_asks_for_a_retry_is_run_again():
    result = _run(_retrying_job, 2, retries={"enabled": {}})
    assert result.success
    assert PROBE.attempts["flaky"] == 2
    assert [n for n, w, _ in PROBE.seen if w == "start"] == ["flaky", "after_flaky"]


def test_a_termination_request_lets_running_steps_finish_and_starts_no_other():
    result = _run(_terminated_job, 2)
    assert not result.success
    started = {n for n, w, _ in PROBE.seen if w == "start"}
    ended = {n for n, w, _ in PROBE.seen if w == "end"}
    assert started == ended == {"first", "slow_other"}  # both finished; second never began


# -- which ready step first -----------------------------------------------------------------
def test_chain_lengths_count_the_longest_chain_from_each_step():
    # a -> b -> c and a -> d: from a the longest chain is a, b, c (3 steps); b: b, c (2)
    deps = {"a": set(), "b": {"a"}, "c": {"b"}, "d": {"a"}}
    assert chain_lengths(deps) == {"a": 3, "b": 2, "c": 1, "d": 1}


def test_every_suite_runs_after_the_tables_its_expectations_name():
    # a lookup in a suite (``anchor_urn in (select urn from staging.anchors)``) reads that
    # table: run before it, side by side or in another order, the suite errors
    from wlz_pipeline.bench import step_dependencies

    deps = step_dependencies()  # Dagster's execution plan of the whole asset job
    assert deps is not None
    expectations = Path(__file__).parent.parent / "expectations"
    seen = 0
    for suite in sorted(expectations.glob("*.json")):
        step = next((k for k in deps if k.endswith(f"_{suite.stem}_suite")), None)
        assert step is not None, suite.name
        own = step.removesuffix(f"_{suite.stem}_suite") + f"__{suite.stem}"
        for schema, table in set(re.findall(r"\b(staging|marts)\.(\w+)", suite.read_text())):
            named = f"{schema}__{table}"
            if named != own:
                assert named in deps[step], f"{suite.name} names {schema}.{table}"
                seen += 1
    assert seen >= 3  # enrolments: anchors, link_workers; allocations: partners; ...


# -- the pipeline --------------------------------------------------------------------------
def _contents(path: Path) -> dict[str, tuple]:
    """Row count and an order-free hash of every raw, staging and mart table (without
    ``_ingested_at``, the time a row was ingested)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for schema, table in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('raw', 'staging', 'marts') AND table_type = 'BASE TABLE'"
        ).fetchall():
            out[f"{schema}.{table}"] = con.execute(
                f"SELECT count(*), sum(hash(t)) FROM "
                f'(SELECT * EXCLUDE (_ingested_at) FROM "{schema}"."{table}") t'
                if schema == "raw"
                else f'SELECT count(*), sum(hash(t)) FROM "{schema}"."{table}" t'
            ).fetchone()
        return out
    finally:
        con.close()


@pytest.fixture(scope="module")
def side_by_side_run(tmp_path_factory, sample_run):
    """The sample, run as ``wlz run`` runs it (the code location's executor, two steps
    at a time), on an instance of its own; the session's ``sample_run`` is Dagster's
    one-step-at-a-time in-process executor on the same data."""
    from wlz_pipeline import cli

    wh = tmp_path_factory.mktemp("side_by_side") / "wlz.duckdb"
    with dg.instance_for_test() as instance:
        result = cli.run_pipeline(
            Path(__file__).parent.parent / "data" / "sample", wh, instance=instance
        )
        records = instance.all_logs(result.run_id)
    return result, wh, records


def test_side_by_side_the_pipeline_builds_what_one_step_at_a_time_builds(
    side_by_side_run, sample_run
):
    result, wh, _ = side_by_side_run
    assert result.success
    mine, reference = _contents(wh), _contents(sample_run.warehouse)
    assert len(reference) > 50
    assert mine == reference
    outcome = {
        (c.asset_key.to_user_string(), c.check_name): c.passed
        for c in result.get_asset_check_evaluations()
    }
    expected = {
        (c.asset_key.to_user_string(), c.check_name): c.passed
        for c in sample_run.result.get_asset_check_evaluations()
    }
    assert outcome == expected
    # the published check results list every check of the run, as the reference does
    bi = duckdb.connect(str(wh.parent / "wlz_bi.duckdb"), read_only=True)
    try:
        published = bi.execute("SELECT count(*) FROM bi.check_results").fetchone()[0]
    finally:
        bi.close()
    assert published == len(expected)


def test_side_by_side_steps_overlapped_and_the_publication_and_reports_ran_alone(
    side_by_side_run,
):
    _, _, records = side_by_side_run
    spans: dict[str, list[float]] = {}
    for r in records:
        event = r.dagster_event
        if event is None or r.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            spans[r.step_key] = [r.timestamp, float("inf")]
        elif event.event_type in (
            dg.DagsterEventType.STEP_SUCCESS,
            dg.DagsterEventType.STEP_FAILURE,
        ):
            spans[r.step_key][1] = r.timestamp

    def overlap(a: str, b: str) -> bool:
        return spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]

    pairs = [(a, b) for a in spans for b in spans if a < b and overlap(a, b)]
    assert pairs, "no two steps ran at the same time"
    for alone in ("bi__publication", "reports__html"):
        assert not [b for b in spans if b != alone and overlap(alone, b)]
    checks = [k for k in spans if k.endswith("_suite") or "quarantined" in k]
    assert checks
    assert all(spans[c][1] <= spans["bi__publication"][0] for c in checks)
