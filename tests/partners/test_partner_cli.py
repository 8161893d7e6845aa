"""``wlz template`` and ``wlz validate`` as a partner manager uses them."""

from __future__ import annotations

from typer.testing import CliRunner

from wlz_pipeline.cli import app
from wlz_pipeline.ingest import ingest_all
from wlz_pipeline.models import build_all
from wlz_pipeline.sources.partner_template import fill_template, hand_edit
from wlz_pipeline.warehouse import connect

runner = CliRunner()


def _warehouse(tmp_path, landing):
    wh = tmp_path / "wh" / "wlz.duckdb"
    con = connect(wh)
    from wlz_pipeline.warehouse import bootstrap

    bootstrap(con)
    ingest_all(con, landing, tmp_path / "wh" / "archive")
    build_all(con, ("staging",))
    con.close()
    return wh


def test_template_then_validate_clean_and_broken(tmp_path, landing):
    wh = _warehouse(tmp_path, landing)
    out = tmp_path / "templates"
    res = runner.invoke(
        app,
        [
            "template",
            "--partner",
            "P01",
            "--term",
            "2017/18-spring",
            "--out",
            str(out),
            "--warehouse",
            str(wh),
        ],
    )
    assert res.exit_code == 0, res.output
    (path,) = sorted(out.glob("P01/*.xlsx"))

    fill_template(path, marks={("WLZ000000001", d): "P" for d in _dates(path)})
    clean = runner.invoke(app, ["validate", str(path), "--warehouse", str(wh)])
    assert clean.exit_code == 0, clean.output
    assert "No problems found" in clean.output

    hand_edit(path, "note_in_mark", text="was ill")
    broken = runner.invoke(app, ["validate", str(path), "--warehouse", str(wh)])
    assert broken.exit_code == 1
    assert "Attendance sheet, row" in broken.output
    assert "'was ill' is not an attendance mark" in broken.output


def test_validate_unknown_child_only_with_the_register(tmp_path, landing):
    wh = _warehouse(tmp_path, landing)
    out = tmp_path / "templates"
    runner.invoke(app, ["template", "--partner", "P01", "--out", str(out), "--warehouse", str(wh)])
    (path,) = sorted(out.glob("P01/*.xlsx"))
    fill_template(path, marks={("WLZ000000001", d): "P" for d in _dates(path)})
    # the partner types another enrolled child's ID, one not on this programme
    hand_edit(path, "unallocated_id", wlz_id="WLZ000000003")
    res = runner.invoke(app, ["validate", str(path), "--warehouse", str(wh)])
    assert res.exit_code == 1
    assert "is not a child allocated to this programme this term" in res.output
    # without the register nothing says the child is not allocated
    alone = runner.invoke(app, ["validate", str(path), "--warehouse", str(tmp_path / "no.duckdb")])
    assert "is not a child allocated" not in alone.output
    assert "not checked against the programme register" in alone.output


def test_validate_a_file_that_is_not_a_template(tmp_path):
    bad = tmp_path / "return.xlsx"
    bad.write_bytes(b"name,mark\nA,P\n")
    res = runner.invoke(app, ["validate", str(bad), "--warehouse", str(tmp_path / "none.duckdb")])
    assert res.exit_code == 1
    assert "return.xlsx" in res.output


def test_template_rejects_a_badly_written_term(tmp_path, landing):
    wh = _warehouse(tmp_path, landing)
    res = runner.invoke(
        app, ["template", "--term", "spring 2018", "--out", str(tmp_path), "--warehouse", str(wh)]
    )
    assert res.exit_code != 0
    assert "2017/18-autumn" in res.output


def _dates(path):
    from wlz_pipeline.sources.partner_template import read_template

    return sorted({m.session_date for m in read_template(path).marks})
