"""Great Expectations on DuckDB: the workaround this GX version needs, and validation.

GX 1.24 has no DuckDB dialect. Through ``duckdb_engine`` every expectation fails with an
empty result, because ``SqlAlchemyExecutionEngine.execute_query`` returns the cursor
after its connection has closed, and a DuckDB cursor is then empty
(conventions.md, known traps). We read the rows while the connection is open
(``result.freeze()()``), for DuckDB engines only. The column-types metric also drops the
schema of a table asset, so each table is validated as a query asset
(``select * from staging.x``). Both are covered by tests/quality/test_gx_duckdb.py: if
an upgrade fixes or breaks them, those tests say so.

``import great_expectations`` takes seconds: everything here imports it lazily. GX's
Data Docs compile their page templates again in every new context; one compiled copy per
process is shared (``install_template_cache``, tested in tests/quality/test_suites.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import string
import threading
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from wlz_pipeline.config import REPO_ROOT
from wlz_pipeline.quality import gx_worker
from wlz_pipeline.settings import load_settings

SUITES_DIR = REPO_ROOT / "expectations"
#: GX failure severities -> Dagster check severities (ERROR blocks, WARN reports).
SEVERITY = {"critical": "ERROR", "warning": "WARN", "info": "WARN"}
#: Columns identifying a row's origin; failing examples are reported by these only.
INDEX_COLUMNS = ["_file_hash", "_row_number"]
MAX_EXAMPLES = 20

_lock = threading.Lock()


class SuiteError(ValueError):
    """A suite file is unreadable or describes an invalid expectation."""


#: GX's count of an unexpected-rows query's rows: the query, wrapped
#: (great_expectations/expectations/metrics/query_metrics/query_row_count/query_row_count.py).
_ROW_COUNT_SQL = re.compile(
    r"SELECT COUNT\(\*\) as unexpected_row_count "
    r"FROM \((?P<query>.*)\) AS substituted_batch_subquery",
    re.S,
)
#: The column of the total beside the rows kept (``UnexpectedRows``).
_TOTAL_COLUMN = "__wlz_unexpected_rows_total"


def formatted_query_pattern(query: str) -> re.Pattern[str] | None:
    """A pattern matching ``query`` as GX formats it, whatever GX puts for ``{batch}``
    (``str.format``: doubled braces become single, every ``{batch}`` the same text);
    None for a query with any other field (GX would fill it from query parameters)."""
    parts: list[str] = []
    seen_batch = False
    for literal, field_name, _, _ in string.Formatter().parse(query):
        parts.append(re.escape(literal))
        if field_name is None:
            continue
        if field_name != "batch":
            return None
        parts.append("(?P=batch)" if seen_batch else "(?P<batch>.+?)")
        seen_batch = True
    return re.compile("".join(parts), re.S)


class UnexpectedRows:
    """Each unexpected-rows query of the suite being validated, run once.

    GX's ``unexpected_rows_expectation`` resolves two metrics from its query, each by a
    query of its own: the rows (it keeps the first ``MAX_RESULT_RECORDS``, 200, for the
    result's details) and their count (query_table.py, query_row_count.py). So every such
    query ran twice, about a quarter of a zone validation's time (issue 9). And the rows
    were all fetched into Python (``result.freeze()`` reads every row), so a check that
    failed on most of the 23 M attendance marks would have held them all in memory.

    Here the first of the two that GX asks for runs the query once, as
    ``SELECT *, count(*) OVER () ... LIMIT 200``: DuckDB counts every row and returns at
    most 200; the other metric is answered from that (the count by a one-row query, so
    GX reads both as results of its engine). Only queries of the suite's own
    expectations are recognised (``formatted_query_pattern``); any other query GX runs,
    or a query shape a GX upgrade changes, goes to DuckDB as before."""

    def __init__(self, queries: list[str]) -> None:
        self.patterns = [p for p in map(formatted_query_pattern, queries) if p is not None]
        self.done: dict[str, tuple[int, Any, int]] = {}  # query -> (total, rows, width)

    @classmethod
    def of_suite(cls, suite: Any) -> UnexpectedRows:
        return cls(
            [
                q
                for e in suite.expectations
                if isinstance(q := getattr(e, "unexpected_rows_query", None), str)
            ]
        )

    def answer(self, engine: Any, sql: str) -> Any | None:
        """GX's result for ``sql`` if it is one of the two metrics of a known query
        (running that query if neither has been asked for yet), else None."""
        import sqlalchemy as sa

        count = _ROW_COUNT_SQL.fullmatch(sql)
        query = count.group("query") if count else sql
        if query not in self.done:
            if not any(p.fullmatch(query) for p in self.patterns):
                return None
            from great_expectations.constants import MAX_RESULT_RECORDS

            bounded = sa.text(
                f"SELECT *, count(*) OVER () AS {_TOTAL_COLUMN} FROM ({query}) "
                f"AS wlz_unexpected_rows LIMIT {int(MAX_RESULT_RECORDS)}"
            )
            rows = _frozen(engine, bounded)
            data = rows.data
            width = len(rows.metadata.keys) - 1
            self.done[query] = (int(data[0][width]) if data else 0, rows, width)
        total, rows, width = self.done[query]
        if count is None:
            return rows().columns(*range(width))  # the query's own columns, by position
        one_row = sa.text("SELECT CAST(:n AS BIGINT) AS unexpected_row_count").bindparams(n=total)
        return _frozen(engine, one_row)()


def _frozen(engine: Any, query: Any) -> Any:
    """``query``'s whole result, read while GX's connection is open (a DuckDB cursor is
    empty once it has closed), as a SQLAlchemy ``FrozenResult``: call it for a result."""
    with engine.get_connection() as connection:
        return engine._execute_query_with_recovery(connection, query).freeze()


#: The unexpected-rows queries of the validation running now (``validate_table``, which
#: holds ``_lock``); None between validations.
_unexpected_rows: UnexpectedRows | None = None


@cache
def install_duckdb_workaround() -> None:
    """Make GX's SQL engine read DuckDB results while the connection is still open, and
    run each unexpected-rows query once (``UnexpectedRows``)."""
    from great_expectations.execution_engine import sqlalchemy_execution_engine as sae
    from sqlalchemy.sql.elements import TextClause

    original = sae.SqlAlchemyExecutionEngine.execute_query
    if getattr(original, "_wlz_duckdb_patch", False):
        return

    def execute_query(self, query):  # type: ignore[no-untyped-def]
        if self.engine.dialect.name != "duckdb":
            return original(self, query)
        known = _unexpected_rows
        if known is not None and isinstance(query, TextClause):
            answered = known.answer(self, query.text)
            if answered is not None:
                return answered
        return _frozen(self, query)()

    execute_query._wlz_duckdb_patch = True  # type: ignore[attr-defined]
    sae.SqlAlchemyExecutionEngine.execute_query = execute_query


class _MemoryBytecodeCache(jinja2.BytecodeCache):
    """Compiled Jinja templates kept in memory, by Jinja's bucket key (template name and
    file); a bucket whose template source changed ignores what is kept (Jinja checks the
    source's checksum)."""

    def __init__(self) -> None:
        self.codes: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self.codes.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.codes[bucket.key] = bucket.bytecode_to_string()


@cache
def install_template_cache() -> None:
    """Give GX's Data Docs views one compiled copy of its page templates per process.

    Each validation opens a new GX context, whose Data Docs views each make a new Jinja
    environment, which parsed and compiled GX's templates again: about a fifth of the GX
    worker's time on the sample. Every view's environment now shares one bytecode cache
    (Jinja's own mechanism); the pages rendered are the same."""
    from great_expectations.render.view import view

    original = view.DefaultJinjaView.__init__
    if getattr(original, "_wlz_template_cache", False):
        return
    shared = _MemoryBytecodeCache()

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original(self, *args, **kwargs)
        self.env.bytecode_cache = shared

    __init__._wlz_template_cache = True  # type: ignore[attr-defined]
    view.DefaultJinjaView.__init__ = __init__


def suite_files() -> dict[str, Path]:
    """Suite files by the table they guard (``expectations/<table>.json``)."""
    return {p.stem: p for p in sorted(SUITES_DIR.glob("*.json"))}


def load_suite(path: Path) -> Any:
    """Load a suite file into a ``gx.ExpectationSuite``; raise if any expectation in the
    file is invalid or did not make it into the suite (GX can drop them silently)."""
    import great_expectations as gx

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SuiteError(f"{path}: not readable JSON: {exc}") from exc
    expectations = raw.get("expectations", [])
    if not isinstance(expectations, list) or not expectations:
        raise SuiteError(f"{path}: a suite needs a non-empty 'expectations' list")
    try:
        suite = gx.ExpectationSuite(
            name=raw.get("name", path.stem),
            expectations=expectations,
            meta=raw.get("meta", {}),
        )
    except Exception as exc:  # GX raises pydantic and its own errors
        raise SuiteError(f"{path}: invalid expectation: {exc}") from exc
    if len(suite.expectations) != len(expectations):
        raise SuiteError(
            f"{path}: {len(expectations)} expectations in the file but only "
            f"{len(suite.expectations)} loaded; check each 'type' and its 'kwargs'"
        )
    for e in suite.expectations:
        query = getattr(e, "unexpected_rows_query", None)
        if query is not None:
            try:  # GX fills {batch} with str.format: other braces must be doubled
                query.format(batch="t")
            except (IndexError, KeyError, ValueError) as exc:
                raise SuiteError(
                    f"{path}: unexpected_rows_query {query!r} does not format ({exc}); "
                    "write regex braces doubled, e.g. [0-9]{{6}}"
                ) from exc
        sev = str(getattr(e.severity, "value", e.severity))
        if sev not in SEVERITY:
            raise SuiteError(f"{path}: {e.expectation_type}: unknown severity {sev!r}")
    return suite


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    severity: str  # ERROR | WARN
    success: bool
    failing_rows: int | None
    examples: list[tuple[str, int]]  # (file hash, row number)
    error: str | None = None


@dataclass
class SuiteOutcome:
    table: str
    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    validation_result: Any = None

    def by_severity(self, severity: str) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.severity == severity]

    def to_json(self) -> str:
        """The outcomes (not GX's result object), for ``meta.suite_outcomes``."""
        return json.dumps([asdict(o) for o in self.outcomes])

    @classmethod
    def from_json(cls, table: str, text: str) -> SuiteOutcome:
        outcomes = [
            ExpectationOutcome(**{**o, "examples": [tuple(e) for e in o["examples"]]})
            for o in json.loads(text)
        ]
        return cls(table=table, outcomes=outcomes)


_TABLE_REF = re.compile(r"\b((?:staging|marts)\.[a-z_][a-z0-9_]*)\b")


def suite_tables(suite_path: Path) -> list[str]:
    """The staging and mart tables a suite's expectations name (its own among them)."""
    return sorted(set(_TABLE_REF.findall(Path(suite_path).read_text(encoding="utf-8"))))


def validate_versioned(
    warehouse: Path, table: str, suite_path: Path, force: bool = False
) -> tuple[SuiteOutcome, bool]:
    """Validate ``table`` against the suite in ``suite_path``, unless it was validated
    when it and every table the suite names had the versions they have now
    (wlz_pipeline/versions.py: same data, same code and suites, so the same outcome)
    and ``force`` is off. Returns the outcome and whether it was
    validated just now."""
    from wlz_pipeline import versions
    from wlz_pipeline.warehouse import connect

    con = connect(warehouse)
    try:
        # the table's version and those of the tables the suite's queries join to (a
        # new register must re-check the marks' UPNs against it), with the code's
        version = versions.fingerprint(
            con, [table, *suite_tables(suite_path)], Path(suite_path).read_text("utf-8")
        )
        if version is not None and not (force or versions.rebuild_all()):
            row = con.execute(
                "SELECT outcomes FROM meta.suite_outcomes WHERE table_name = ? AND version = ?",
                [table, version],
            ).fetchone()
            if row is not None:
                return SuiteOutcome.from_json(table, row[0]), False
    finally:
        con.close()
    # in the run's GX worker when it has one (quality/gx_worker.py)
    outcome = gx_worker.run(validate_file, Path(warehouse), table, Path(suite_path))
    con = connect(warehouse)
    try:
        con.execute("DELETE FROM meta.suite_outcomes WHERE table_name = ?", [table])
        if version is not None:
            con.execute(
                "INSERT INTO meta.suite_outcomes VALUES (?, ?, ?, now()::TIMESTAMP)",
                [table, version, outcome.to_json()],
            )
    finally:
        con.close()
    return outcome, True


def _examples(result: dict) -> list[tuple[str, int]]:
    """Failing rows as (file hash, row number) only: GX also returns the values, which
    may be identifiers, so they are dropped here."""
    items = (
        result.get("unexpected_index_list")
        or result.get("partial_unexpected_index_list")
        or (result.get("details") or {}).get("unexpected_rows")
        or []
    )
    out = []
    for item in items:
        if isinstance(item, dict) and "_file_hash" in item and "_row_number" in item:
            out.append((str(item["_file_hash"]), int(item["_row_number"])))
    return out[:MAX_EXAMPLES]


def gx_root(warehouse: Path) -> Path:
    """Where GX keeps its project (suites, results, Data Docs): beside the warehouse."""
    return Path(warehouse).parent / "gx"


def data_docs_index(warehouse: Path) -> Path:
    """The Data Docs site's index page (latest validation results, as HTML)."""
    return gx_root(warehouse) / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def validate_file(warehouse: Path, table: str, suite_path: Path) -> SuiteOutcome:
    """``validate_table`` with the suite read from its file (what the GX worker runs:
    loading a suite needs GX too), without GX's result object (as an outcome read back
    from ``meta.suite_outcomes`` is): sending that back would import GX in the caller."""
    outcome = validate_table(warehouse, table, load_suite(suite_path))
    outcome.validation_result = None
    return outcome


#: Beside the Data Docs index: a digest of the GX project as the index was last built
#: from it (``build_data_docs_index``).
INDEX_STAMP = ".wlz_index_stamp"


def index_stamp(warehouse: Path) -> str | None:
    """A digest of every file of the GX project the index is built from (stored results,
    suites, rendered pages; by path, size and modification time) and of GX's version; None
    when nothing has been validated yet. The index itself and its stamp are left out."""
    from importlib import metadata

    project = gx_root(warehouse) / "gx"
    if not project.is_dir():
        return None
    index = data_docs_index(warehouse)
    h = hashlib.sha256(metadata.version("great_expectations").encode())
    for path in sorted(project.rglob("*")):
        if path == index or path.name == INDEX_STAMP or not path.is_file():
            continue
        st = path.stat()
        h.update(f"\0{path.relative_to(project)}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()


def build_data_docs_index(warehouse: Path) -> Path | None:
    """Rebuild the Data Docs index from the stored results (no page is re-rendered);
    the index path, or None when nothing has been validated yet. In the run's GX worker
    when it has one (quality/gx_worker.py).

    When no result, suite or page has changed since the index was last built here (its
    stamp, ``index_stamp``, is the same), the index is left as it is and GX is not
    imported: on a night on which every table is unchanged no suite validates, and the
    import alone took 2.6 s of the run's Python (issue 9)."""
    warehouse = Path(warehouse)
    index = data_docs_index(warehouse)
    stamp = index.parent / INDEX_STAMP
    current = index_stamp(warehouse)
    if current is None:
        return None
    try:
        if index.is_file() and stamp.read_text(encoding="utf-8") == current:
            return index
    except OSError:
        pass  # no stamp yet: built below
    built = gx_worker.run(_build_index, warehouse)
    if built is not None:
        # after the build: whatever it rewrote beside the index is in the stamp
        stamp.write_text(index_stamp(warehouse) or "", encoding="utf-8")
    return built


def _build_index(warehouse: Path) -> Path | None:
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    root = gx_root(warehouse)
    if not (root / "gx").is_dir():
        return None
    install_template_cache()
    with _lock:
        ctx = _context(root)
        # a resource list that matches no page: GX renders nothing and builds the index
        # (an empty list would mean "every page")
        ctx.build_data_docs(
            resource_identifiers=[ExpectationSuiteIdentifier("__wlz_index_only__")],
            build_index=True,
        )
    return data_docs_index(warehouse)


def prune_results(root: Path, suite: str, keep: int) -> int:
    """Remove all but the newest ``keep`` stored validation results of ``suite`` (and
    their Data Docs pages) from the GX project at ``root``; returns how many went. Run
    folders are named by their UTC time, so they sort oldest first."""
    base = root / "gx" / "uncommitted"
    removed = 0
    results = base / "validations" / suite
    if not results.is_dir():
        return 0
    for batch in (d for d in results.iterdir() if d.is_dir()):
        runs = sorted(d for d in batch.iterdir() if d.is_dir())
        for run in runs[: max(len(runs) - keep, 0)]:
            shutil.rmtree(run)
            page = base / "data_docs" / "local_site" / "validations" / suite / batch.name / run.name
            shutil.rmtree(page, ignore_errors=True)
            removed += 1
    return removed


#: the GX projects this process has opened, by folder (``_context``)
_contexts: dict[Path, Any] = {}


def _context(root: Path) -> Any:
    """The file-backed GX project at ``root``, opened once per process while its
    configuration file stays: opening one parses its YAML and builds its stores, about a
    tenth of a small table's validation. Its stores read and write the files each time,
    so what is on disk is what the next validation sees."""
    root = root.resolve()
    ctx = _contexts.get(root)
    if ctx is None or not (root / "gx" / "great_expectations.yml").is_file():
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        ctx = gx.get_context(mode="file", project_root_dir=str(root))
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        _contexts[root] = ctx
    return ctx


#: the warehouse datasource of each GX project this process has opened, by folder: (the
#: project it belongs to, its connection settings, the datasource) (``_datasource``)
_datasources: dict[Path, tuple[Any, tuple[str, str], Any]] = {}


def _datasource(ctx: Any, root: Path, warehouse: Path) -> Any:
    """The project's ``warehouse`` datasource, added or updated once per process and
    connection settings: ``add_or_update_sql`` rewrites the project's configuration file
    each time, some 60 ms a suite (about 2 s of the sample run's validation). Its engine
    is disposed after each validation (``validate_table``) and connects again when used."""
    import json

    from wlz_pipeline.quality import gx_dialect
    from wlz_pipeline.warehouse import duckdb_config

    gx_dialect.register()  # joins the run's own connections to an open file
    url = f"{gx_dialect.SCHEME}:///{Path(warehouse).resolve()}"
    kwargs = {"connect_args": {"config": duckdb_config()}}
    settings = (url, json.dumps(kwargs, sort_keys=True))
    known = _datasources.get(root)
    if known is not None and known[0] is ctx and known[1] == settings:
        return known[2]
    ds = ctx.data_sources.add_or_update_sql(name="warehouse", connection_string=url, kwargs=kwargs)
    _datasources[root] = (ctx, settings, ds)
    return ds


def validate_table(warehouse: Path, table: str, suite: Any) -> SuiteOutcome:
    """Validate ``table`` (``schema.name``) of the warehouse file against ``suite``, store
    the result and render its Data Docs pages (the index: see below).

    Runs a GX checkpoint in a file-backed GX project beside the warehouse, so Data Docs
    show the latest result of every suite. The engine is disposed afterwards: DuckDB lets
    one process open a file read-write or read-only, not both.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    global _unexpected_rows
    install_duckdb_workaround()
    install_template_cache()
    with _lock:
        root = gx_root(warehouse)
        root.mkdir(parents=True, exist_ok=True)
        ctx = _context(root)
        ds = _datasource(ctx, root, warehouse)
        _unexpected_rows = UnexpectedRows.of_suite(suite)
        try:
            columns = _columns(ds, table)
            try:
                asset = ds.get_asset(table)
            except LookupError:
                asset = ds.add_query_asset(name=table, query=f"select * from {table}")
            try:
                batch_definition = asset.get_batch_definition("all")
            except (KeyError, LookupError, ValueError):
                batch_definition = asset.add_batch_definition_whole_table("all")
            result_format: dict[str, Any] = {
                "result_format": "SUMMARY",
                "partial_unexpected_count": MAX_EXAMPLES,
            }
            if all(c in columns for c in INDEX_COLUMNS):
                result_format["unexpected_index_column_names"] = INDEX_COLUMNS
            stored_suite = ctx.suites.add_or_update(suite)
            definition = ctx.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=table, data=batch_definition, suite=stored_suite)
            )
            checkpoint = ctx.checkpoints.add_or_update(
                gx.Checkpoint(
                    name=table,
                    validation_definitions=[definition],
                    actions=[],
                    result_format=result_format,
                )
            )
            # bounded history: the Data Docs index re-reads every stored result
            keep = load_settings().quality.gx_results_kept
            prune_results(root, stored_suite.name, max(keep - 1, 0))
            run = checkpoint.run()
            ((result_id, res),) = run.run_results.items()
            # This suite's pages. The site's index re-reads every stored result, so it is
            # rebuilt here only when the suite failed (what someone opens the docs for),
            # and otherwise once per run by the publication (build_data_docs_index).
            ctx.build_data_docs(
                resource_identifiers=[result_id, ExpectationSuiteIdentifier(stored_suite.name)],
                build_index=not res.success,
            )
        finally:
            _unexpected_rows = None
            ds.get_execution_engine().engine.dispose()
            ds.get_engine().dispose()
    outcome = SuiteOutcome(table=table, validation_result=res)
    row_queries: dict[int, str] = {}
    for i, r in enumerate(res.results):
        cfg = r.expectation_config
        query = cfg.kwargs.get("unexpected_rows_query")
        if query and not r.success and "_file_hash" in query and "_row_number" in query:
            row_queries[i] = query
    located = _locate_rows(warehouse, table, row_queries) if row_queries else {}
    for i, r in enumerate(res.results):
        cfg = r.expectation_config
        sev = SEVERITY[str(getattr(cfg.severity, "value", cfg.severity))]
        result = dict(r.result or {})
        failing = result.get("unexpected_count")
        if failing is None and cfg.type == "unexpected_rows_expectation":
            failing = result.get("observed_value")
        err = _exception_message(r.exception_info or {})
        outcome.outcomes.append(
            ExpectationOutcome(
                expectation=cfg.type,
                column=cfg.kwargs.get("column"),
                severity=sev,
                success=bool(r.success),
                failing_rows=failing,
                examples=located.get(i) or _examples(result),
                error=err,
            )
        )
    return outcome


def _locate_rows(warehouse: Path, table: str, queries: dict[int, str]) -> dict[int, list]:
    """Up to MAX_EXAMPLES (file hash, row number) per failing unexpected-rows query (GX
    returns only a count for them). The queries are the suites' own SQL, from the
    repository, never from data."""
    import duckdb

    from wlz_pipeline.warehouse import duckdb_config

    out: dict[int, list] = {}
    con = duckdb.connect(str(warehouse), config=duckdb_config())
    try:
        for i, query in queries.items():
            sql = query.format(batch=f"(select * from {table}) as subselect")
            rows = con.execute(
                f"select _file_hash, _row_number from ({sql}) order by all limit {MAX_EXAMPLES}"
            ).fetchall()
            out[i] = [(str(h), int(n)) for h, n in rows]
    except duckdb.Error:
        return out
    finally:
        con.close()
    return out


def _exception_message(info: dict) -> str | None:
    """GX reports errors at the top level or per metric; return the first message."""
    if info.get("raised_exception"):
        return str(info.get("exception_message"))[:500]
    for value in info.values():
        if isinstance(value, dict) and value.get("exception_message"):
            return str(value["exception_message"])[:500]
    return None


def _columns(ds: Any, table: str) -> list[str]:
    engine = ds.get_execution_engine().engine
    schema, name = table.split(".")
    with engine.connect() as c:
        from sqlalchemy import text

        rows = c.execute(
            text(
                "select column_name from information_schema.columns "
                "where table_schema = :s and table_name = :t"
            ),
            {"s": schema, "t": name},
        ).fetchall()
    return [r[0] for r in rows]
