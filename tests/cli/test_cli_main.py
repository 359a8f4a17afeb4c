"""The main entry point: help everywhere, doctor, demo, and one-line errors with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

from museforge.cli import app, run


def _leaf_commands(command, path=()):
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        return [path]
    leaves = []
    for name, sub in sorted(subcommands.items()):
        leaves += _leaf_commands(sub, (*path, name))
    return leaves


def _all_paths(command, path=()):
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _all_paths(sub, (*path, name))


LEAVES = _leaf_commands(get_command(app))


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MUSEFORGE_DB_URL", raising=False)


def test_console_script_help_exits_zero():
    exe = Path(sys.executable).with_name("museforge")
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "doctor" in result.stdout and "store" in result.stdout


@pytest.mark.parametrize(
    "path", list(_all_paths(get_command(app))), ids=lambda p: " ".join(p) or "museforge"
)
def test_every_command_has_help(path, capsys):
    assert run([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage" in out


def test_every_option_has_help_text():
    missing = []
    for path in LEAVES:
        command = get_command(app)
        for name in path:
            command = command.commands[name]
        for param in command.params:
            if param.param_type_name == "option" and not getattr(param, "help", None):
                missing.append(f"{' '.join(path)} {param.opts[0]}")
    assert not missing, f"options without help text: {missing}"


def test_no_arguments_prints_help(capsys):
    assert run([]) == 0
    assert "Usage" in capsys.readouterr().out


def test_doctor_reports_machine(capsys):
    assert run(["doctor"]) == 0
    assert run(["doctor", "--json"]) == 0
    out = capsys.readouterr().out
    info = json.loads(out[out.index("{\n") :])
    assert info["torch_threads"] >= 1
    assert isinstance(info["gpu"]["cuda"], bool)
    assert info["store"].startswith("sqlite:///") and info["store"].endswith("store.db")
    assert "soundfont" in info and isinstance(info["shipped_models"], list)
    assert isinstance(info["story_model"]["ready"], bool)


@pytest.mark.timeout(900)  # every medium on its shipped model: a minute idle, more when busy
def test_demo_writes_gallery(tmp_path, capsys, monkeypatch):
    from museforge.core.store import Store
    from museforge.story import demo as story_demo
    from museforge.story.cowrite import list_stories, nodes

    monkeypatch.setattr(story_demo, "WORDS", 120)  # a shorter story: the same code path
    out = tmp_path / "gallery"
    assert run(["demo", "--out", str(out)]) == 0
    page = (out / "index.html").read_text()
    assert "<html" in page and "museforge demo" in page
    assert "torch threads" in page
    assert page.count("<audio") == 10 and "melody-2bar@" in page and "melody-16bar@" in page
    assert "portrait-32@" in page and ".gif" in page
    # the story and its plan, written out and kept in the store part by part
    assert page.count('class="card" data-kind="text"') == 2 and "Its plan" in page
    story_md = (out / "story" / "story.md").read_text()
    assert story_md.startswith("# ") and "## 4. Ketsu" in story_md
    with Store() as store:
        (story,) = list_stories(store)
        assert {"premise", "title", "scene/1", "scene/4"} <= set(nodes(store, story.id))


def test_unexpected_subcommand_is_one_line_error(capsys):
    assert run(["no-such-command"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_error_through_real_process_is_one_line_without_traceback(tmp_path):
    env = {**os.environ, "MUSEFORGE_HOME": str(tmp_path / "home")}
    exe = Path(sys.executable).with_name("museforge")
    result = subprocess.run(
        [str(exe), "store", "show", "deadbeef"], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "deadbeef" in lines[0]
    assert "Traceback" not in result.stderr


def test_version_prints_the_package_version(capsys):
    import museforge

    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"museforge {museforge.__version__}"


def test_quiet_prints_nothing_but_errors(capsys):
    assert run(["--quiet", "story", "premise", "--n", "2", "--seed", "1"]) == 0
    assert capsys.readouterr().out == ""
    assert run(["story", "premise", "--n", "2", "--seed", "1"]) == 0
    assert capsys.readouterr().out.strip()  # the option held for that command only
    assert run(["--quiet", "store", "show", "zz"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_verbose_adds_the_traceback_to_an_error(capsys):
    assert run(["--verbose", "store", "show", "zz"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("error: ")


def test_shell_completion_script_is_offered():
    done = subprocess.run(
        [sys.executable, "-m", "museforge", "--show-completion", "bash"],
        capture_output=True,
        text=True,
        env={**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"},
    )
    assert done.returncode == 0 and "complete" in done.stdout and "museforge" in done.stdout
