"""Running a run's independent steps side by side, in threads of the run's process.

Dagster's in-process executor runs one step at a time; its multiprocess executor runs a
process per step, and DuckDB lets one process at a time open the warehouse read-write
(conventions.md, known traps). Yet about half of a zone run is steps that use one core
(Python: survey scoring, partner workbooks, the ledger) or leave one idle, and many do
not depend on each other: the cold run's steps add up to ~173 s one at a time, while
its critical path is ~108 s (``make bench``'s ``side_by_side``; issue 9).

``StepsInThreads`` runs up to ``run.concurrent_steps`` steps at once
(config/settings.yaml), each on its own thread, with its own connection to the one
DuckDB database the process holds open (``warehouse.held_open``); DuckDB's transactions
keep their writes apart. It drives Dagster's own plan bookkeeping (``ActiveExecution``:
dependencies, blocking checks, skips, retries, priorities) exactly as the in-process
executor does, and differs in three ways:

- steps are started, ready ones first by the longest chain of steps after them (then
  Dagster's ``dagster/priority`` tag), whenever fewer than the limit are running; each
  step's events reach the event log from its own thread, and this thread hands them to
  the plan as they come;
- a step tagged ``wlz/warehouse: exclusive`` (``EXCLUSIVE``: the reports and the
  publication, which open the warehouse read-only, and DuckDB opens a file one way per
  process) waits until the others have finished and runs alone;
- a termination request stops new steps from starting; the running ones finish (a
  thread cannot be interrupted), then the run ends as interrupted.

While it runs, ``warehouse.shared()`` is true: GX validates in this process (the GX
worker process cannot open the file while other steps hold it; quality/gx_worker.py),
one suite at a time.

It uses Dagster internals (``ActiveExecution``, ``dagster_event_sequence_for_step``),
as Dagster's own executors do; ``dagster`` is pinned in the lock file, and
tests/test_executor.py runs real runs through it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import itertools
import logging
import os
import queue
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor

import dagster as dg

#: The op tag that makes a step run alone (its value: ``exclusive``).
EXCLUSIVE_TAG = "wlz/warehouse"
#: ``op_tags`` of an asset that must have the warehouse to itself.
EXCLUSIVE = {EXCLUSIVE_TAG: "exclusive"}
#: The op tag that makes a step wait for every asset check of the run (``checks``).
AFTER_TAG = "wlz/after"
#: ``op_tags`` of an asset that reports the run's checks (the publication: its
#: check_results and Data Docs) and so starts only when no check is left to run.
AFTER_CHECKS = {AFTER_TAG: "checks"}

log = logging.getLogger(__name__)

_DONE = object()
#: The events that end a step for good (a retry is asked for with STEP_UP_FOR_RETRY).
_FINAL = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}


class _Crashed:
    """A step thread raised outside Dagster's step error handling (a framework error)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def is_exclusive(step) -> bool:  # noqa: ANN001 - dagster's ExecutionStep
    return (step.tags or {}).get(EXCLUSIVE_TAG) == "exclusive"


def waits_for_checks(step) -> bool:  # noqa: ANN001
    return (step.tags or {}).get(AFTER_TAG) == "checks"


def check_steps(job_def, steps) -> set[str]:  # noqa: ANN001
    """The keys of the steps among ``steps`` that run asset checks only."""
    layer = job_def.asset_layer
    keys = set()
    for step in steps:
        node = layer.get_assets_def_for_node(step.node_handle)
        if node is not None and not node.keys and node.check_keys:
            keys.add(step.key)
    return keys


def chain_lengths(deps: Mapping[str, set[str]]) -> dict[str, int]:
    """For each step, the number of steps in the longest chain that starts with it
    (itself included), given each step's upstream steps: starting the longest chains
    first keeps the critical path moving."""
    from wlz_pipeline.models import longest_chains

    keys = set(deps) | {u for ups in deps.values() for u in ups}
    return {
        k: int(n) for k, n in longest_chains(keys, lambda k: deps.get(k, ()), lambda _: 1).items()
    }


def _sort_key(lengths: Mapping[str, int]):  # noqa: ANN202
    from dagster._core.storage.tags import PRIORITY_TAG

    def key(step) -> float:  # noqa: ANN001
        try:
            priority = int((step.tags or {}).get(PRIORITY_TAG, 0))
        except ValueError:
            priority = 0
        return -(priority * 10_000 + lengths.get(step.key, 0))

    return key


def _import_gx() -> None:
    try:
        import great_expectations  # noqa: F401
    except Exception:  # noqa: BLE001 - the first suite imports it again and reports why
        log.warning("importing GX ahead of the suites failed", exc_info=True)


def _materialised(event, name: str) -> object:  # noqa: ANN001 - a DagsterEvent
    """The value of metadata entry ``name`` of an asset materialisation event (None for
    any other event, or without that entry)."""
    if event.event_type_value != "ASSET_MATERIALIZATION":
        return None
    value = event.event_specific_data.materialization.metadata.get(name)
    return getattr(value, "value", value)


def rebuilt_table(event) -> bool:  # noqa: ANN001 - a DagsterEvent
    """Whether ``event`` materialised a table that was built again (``rebuilt: true`` in
    its metadata: assets/models.py, the Python marts); one left as it was says false."""
    return _materialised(event, "rebuilt") is True


def took_in_files(event) -> bool:  # noqa: ANN001 - a DagsterEvent
    """Whether ``event`` materialised an ingest asset that took in new files
    (``files_ingested`` above 0 in its metadata: assets/ingest.py): the tables built
    from them will be rebuilt, and their suites validate."""
    taken = _materialised(event, "files_ingested")
    return isinstance(taken, int) and taken > 0


#: What GX's import adds to packages the steps use meanwhile, whose import registers a
#: hook that code on the steps' threads then calls: ``sqlalchemy.orm`` registers its
#: inspection of mapped objects with SQLAlchemy, which Dagster's event log (SQLAlchemy
#: core, called from every step's thread) calls on every query; a step that queried it
#: while the GX thread was half-way through ``sqlalchemy.orm.exc`` failed ("partially
#: initialized module 'sqlalchemy.orm.exc' has no attribute 'UnmappedClassError'", one
#: zone incremental night in four, issue 9). So it is imported before any step starts,
#: when GX may be imported beside the steps: 0.2 s. (The rest of GX's import is packages
#: of its own, or submodules of numpy, pyarrow, pydantic that a step reaching them
#: imports through Python's import lock, which waits for the GX thread to finish them.)
IMPORT_BEFORE_STEPS = ("sqlalchemy.orm",)


class _GxImport:
    """Imports GX on a thread of its own once the run has taken in a new file or rebuilt
    a table (``after`` each event), once, when ``wanted``; what that import must not race
    with is imported first, on the run's thread, before the steps start
    (``IMPORT_BEFORE_STEPS``).

    Taking in a file starts it earlier than the first rebuilt table would: on the zone's
    incremental night the first suite (the attendance marks') waited for the import,
    which began only once the marks' staging table was built, 0.8 s after ``raw/mis``
    had taken in the new week (issue 9)."""

    def __init__(self, wanted: bool) -> None:
        self.wanted = wanted
        self.started = False
        if wanted:
            for module in IMPORT_BEFORE_STEPS:
                importlib.import_module(module)

    def after(self, event) -> None:  # noqa: ANN001 - a DagsterEvent
        if self.wanted and not self.started and (rebuilt_table(event) or took_in_files(event)):
            self.started = True
            threading.Thread(target=_import_gx, name="wlz-gx-import", daemon=True).start()


def _run_step(key: int, step_context, events: queue.Queue) -> None:  # noqa: ANN001
    """Run one attempt of a step (``key`` names the attempt: a step asking for a retry is
    started again while its first attempt's thread is still winding down)."""
    from dagster._core.execution.plan.execute_plan import dagster_event_sequence_for_step

    try:
        for event in dagster_event_sequence_for_step(step_context):
            events.put((key, event))
    except BaseException as exc:  # noqa: BLE001 - handed to the run's thread, raised there
        events.put((key, _Crashed(exc)))
    finally:
        events.put((key, _DONE))


def threaded_plan_iterator(job_context, execution_plan, concurrent_steps: int) -> Iterator:  # noqa: ANN001
    """``inner_plan_execution_iterator`` (dagster/_core/execution/plan/execute_plan.py)
    with up to ``concurrent_steps`` steps running at once, each on its own thread."""
    from dagster._core.events import DagsterEvent, EngineEventData
    from dagster._core.execution.compute_logs import create_compute_log_file_key
    from dagster._core.execution.plan.execute_plan import _trigger_hook
    from dagster._core.execution.plan.instance_concurrency_context import (
        InstanceConcurrencyContext,
    )

    from wlz_pipeline import warehouse

    deps = {k: set(v) for k, v in execution_plan.get_executable_step_deps().items()}
    limit = max(1, concurrent_steps)
    steps_in_order = execution_plan.get_steps_to_execute_in_topo_order()
    checks = check_steps(job_context.job_def, steps_in_order)
    # GX validates in this process: import it (5-12 s) beside the steps once a file has
    # been taken in or a table rebuilt (a suite will validate), as the GX worker does in
    # its process when steps run one at a time, not in the first suite, which would wait
    # for it; a run that takes in and rebuilds nothing (a night with nothing new)
    # validates nothing and never imports it
    gx_import = _GxImport(wanted=limit > 1 and bool(checks))
    events: queue.Queue = queue.Queue()
    compute_log_manager = job_context.instance.compute_log_manager
    step_keys = [s.key for s in steps_in_order]
    with (
        InstanceConcurrencyContext(job_context.instance, job_context.dagster_run) as icc,
        execution_plan.start(
            retry_mode=job_context.retry_mode,
            sort_key_fn=_sort_key(chain_lengths(deps)),
            instance_concurrency_context=icc,
            step_dependency_config=job_context.step_dependency_config,
        ) as active,
        ThreadPoolExecutor(max_workers=limit, thread_name_prefix="wlz-step") as pool,
        # one at a time, nothing else holds the warehouse while a step hands it over
        warehouse.shared_between_steps() if limit > 1 else contextlib.nullcontext(),
    ):
        log_key = compute_log_manager.build_log_key_for_run(
            job_context.run_id, create_compute_log_file_key()
        )
        with compute_log_manager.capture_logs(log_key) as log_context:
            yield DagsterEvent.capture_logs(job_context, step_keys, log_key, log_context)
            running: dict[int, tuple] = {}  # attempt -> (step context, its events)
            attempts = itertools.count()
            held: list = []  # steps vended by the plan that must wait their turn
            alone = False  # an exclusive step is running
            stopping = False
            crash: BaseException | None = None
            checks_left = set(checks)  # not yet succeeded, failed or skipped

            def start(step) -> None:  # noqa: ANN001
                nonlocal alone
                context = job_context.for_step(step, active.get_known_state())
                attempt = next(attempts)
                running[attempt] = (context, [])
                alone = is_exclusive(step)
                pool.submit(_run_step, attempt, context, events)

            def plan_events(step_events: list) -> Iterator:
                # skips and abandons: those steps are done, without running
                for plan_event in active.plan_events_iterator(job_context):
                    checks_left.discard(plan_event.step_key)
                    step_events.append(plan_event)
                    yield plan_event

            while running or held or (not stopping and not active.is_complete):
                if not stopping and active.check_for_interrupts():
                    yield DagsterEvent.engine_event(
                        job_context,
                        "Received a termination request: the running steps finish, no "
                        "other step starts",
                        EngineEventData.interrupted([c.step.key for c, _ in running.values()]),
                    )
                    stopping = True
                    active.mark_interrupted()
                if stopping:
                    held.clear()  # vended, never started: the plan reports them unfinished
                while not stopping and not alone:
                    turn = next(
                        (h for h in held if not (waits_for_checks(h) and checks_left)), None
                    )
                    if turn is not None:
                        if is_exclusive(turn) and running:
                            break  # the others finish first: it runs alone
                        held.remove(turn)
                        start(turn)
                        continue
                    if len(running) >= limit:
                        break
                    steps = active.get_steps_to_execute(limit=1)
                    yield from active.concurrency_event_iterator(job_context)
                    if not steps:
                        break
                    if is_exclusive(steps[0]) or waits_for_checks(steps[0]):
                        held.append(steps[0])
                    else:
                        start(steps[0])
                if not running and held and not stopping:
                    # nothing runs and what is held waits for checks that cannot start
                    # (one would depend on it): better late than a run that hangs
                    step = held.pop(0)
                    yield DagsterEvent.engine_event(
                        job_context,
                        f"Starting {step.key} before the run's other checks, which cannot "
                        "start before it",
                        EngineEventData(),
                    )
                    start(step)
                    continue
                if not running:
                    yield from plan_events([])
                    if not stopping and not active.is_complete:
                        active.sleep_til_ready()  # retries' back-off
                    continue
                try:
                    key, event = events.get(timeout=0.5)
                except queue.Empty:
                    continue  # look for a termination request again
                if event is _DONE:
                    context, step_events = running.pop(key)
                    alone = False
                    if all(c.step.key != context.step.key for c, _ in running.values()):
                        # (an attempt that asked for a retry may end after the next began)
                        active.verify_complete(job_context, context.step.key)
                    yield from plan_events(step_events)
                    yield from _trigger_hook(context, step_events)
                elif isinstance(event, _Crashed):
                    crash = crash or event.exc
                    stopping = True
                else:
                    running[key][1].append(event)
                    yield event
                    active.handle_event(event)
                    gx_import.after(event)
                    if event.event_type in _FINAL:  # not one that asks for a retry
                        checks_left.discard(event.step_key)
            if crash is not None:
                raise crash


class StepsInThreads(dg.Executor):
    """Up to ``concurrent_steps`` of a run's steps at once, in threads of its process,
    with the warehouse held open between them (module docstring)."""

    def __init__(self, retries, step_dependency_config, concurrent_steps: int) -> None:  # noqa: ANN001
        self._retries = retries
        self._step_dependency_config = step_dependency_config
        self.concurrent_steps = concurrent_steps

    @property
    def retries(self):  # noqa: ANN201 - dagster's RetryMode
        return self._retries

    @property
    def step_dependency_config(self):  # noqa: ANN201
        return self._step_dependency_config

    def execute(self, plan_context, execution_plan):  # noqa: ANN001, ANN201
        from dagster._core.events import DagsterEvent, EngineEventData
        from dagster._core.execution.api import ExecuteRunWithPlanIterable
        from dagster._core.execution.context_creation_job import PlanExecutionContextManager

        from wlz_pipeline import warehouse

        keys = execution_plan.step_keys_to_execute
        yield DagsterEvent.engine_event(
            plan_context,
            f"Executing steps in process (pid: {os.getpid()}), up to "
            f"{self.concurrent_steps} at a time, each on its own thread",
            event_specific_data=EngineEventData.in_process(os.getpid(), keys),
        )
        with warehouse.held_open():
            yield from iter(
                ExecuteRunWithPlanIterable(
                    execution_plan=plan_context.execution_plan,
                    iterator=functools.partial(
                        threaded_plan_iterator, concurrent_steps=self.concurrent_steps
                    ),
                    execution_context_manager=PlanExecutionContextManager(
                        job=plan_context.job,
                        retry_mode=plan_context.retry_mode,
                        execution_plan=plan_context.execution_plan,
                        run_config=plan_context.run_config,
                        dagster_run=plan_context.dagster_run,
                        instance=plan_context.instance,
                        raise_on_error=plan_context.raise_on_error,
                        output_capture=plan_context.output_capture,
                        step_dependency_config=self.step_dependency_config,
                    ),
                )
            )
        yield DagsterEvent.engine_event(
            plan_context,
            f"Finished steps in process (pid: {os.getpid()})",
            event_specific_data=EngineEventData.in_process(os.getpid(), keys),
        )


def execute_in_process(job, instance, run_config: Mapping):  # noqa: ANN001, ANN201
    """Run ``job`` in this process with its own executor and return Dagster's
    ``ExecuteInProcessResult``, errors reported in it, not raised. ``materialize`` and
    ``JobDefinition.execute_in_process`` would replace the executor with Dagster's
    one-step-at-a-time one; this is what they do underneath, with the job as it is."""
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.execute_in_process import core_execute_in_process

    return core_execute_in_process(
        run_config=dict(run_config),
        job=InMemoryJob(job_def=job),
        instance=instance,
        output_capturing_enabled=False,
        raise_on_error=False,
    )
