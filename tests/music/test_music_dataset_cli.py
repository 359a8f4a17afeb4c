"""``museforge music dataset build|info``: options, output, and one-line errors."""

from __future__ import annotations

import json

from typer.main import get_command
from typer.testing import CliRunner

from museforge.cli.music import app
from museforge.errors import UserError

TUNE = "X:1\nT:Little Tune\nM:2/4\nL:1/8\nK:A\nA2 c2|e2 c2|A4|]\n"


def test_every_option_has_help_text():
    build, info = (
        get_command(app).commands["dataset"].commands[name] for name in ("build", "info")
    )
    assert {p.name for p in build.params} == {"out", "source", "jobs", "limit"}
    for param in (*build.params, *info.params):
        assert param.help, param.name


def test_build_then_info(tmp_path):
    (tmp_path / "tune.abc").write_text(TUNE)
    out = tmp_path / "cache" / "melodies.npz"
    runner = CliRunner()
    built = runner.invoke(app, ["dataset", "build", "--source", str(tmp_path), "--out", str(out)])
    assert built.exit_code == 0, built.output
    assert "wrote" in built.output and "melodies" in built.output
    shown = runner.invoke(app, ["dataset", "info", str(out), "--json"])
    assert shown.exit_code == 0, shown.output
    summary = json.loads(shown.output)
    assert (summary["tunes"], summary["melodies"], summary["meters"]) == (1, 1, {"2/4": 1})
    table = runner.invoke(app, ["dataset", "info", str(out)])
    assert "2-bar windows" in table.output and "skipped" in table.output


def test_problems_reach_the_main_cli_as_user_errors(tmp_path):
    runner = CliRunner()
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "melodies.npz"
    failed = runner.invoke(app, ["dataset", "build", "--source", str(empty), "--out", str(out)])
    assert isinstance(failed.exception, UserError)
    assert "no MIDI, MusicXML or ABC files" in str(failed.exception)
    assert not out.exists()
    bad_jobs = runner.invoke(
        app, ["dataset", "build", "--source", str(empty), "--out", str(out), "--jobs", "0"]
    )
    assert isinstance(bad_jobs.exception, UserError)
    missing = runner.invoke(app, ["dataset", "info", str(tmp_path / "nope.npz")])
    assert isinstance(missing.exception, UserError)
