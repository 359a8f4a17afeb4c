"""``museforge story premise`` and ``museforge story grammars`` through the CLI entry point."""

from __future__ import annotations

import json

from museforge.cli import run
from museforge.story.grammar import load_grammar, shipped_grammars


def _out(args, capsys) -> str:
    assert run(args) == 0
    return capsys.readouterr().out


def test_same_seed_gives_the_same_premises(capsys):
    first = _out(["story", "premise", "--n", "5", "--seed", "3"], capsys)
    again = _out(["story", "premise", "--n", "5", "--seed", "3"], capsys)
    other = _out(["story", "premise", "--n", "5", "--seed", "4"], capsys)
    assert first == again
    assert first != other
    lines = first.splitlines()
    assert len(lines) == 5 and len(set(lines)) == 5
    assert lines == load_grammar("premise").expand_many(5, seed=3)


def test_fewer_premises_are_a_prefix_of_more(capsys):
    three = _out(["story", "premise", "--n", "3", "--seed", "7"], capsys).splitlines()
    five = _out(["story", "premise", "--n", "5", "--seed", "7"], capsys).splitlines()
    assert three == five[:3]


def test_json_prints_a_list_of_the_same_premises(capsys):
    text = _out(["story", "premise", "--n", "4", "--seed", "2"], capsys).splitlines()
    listed = json.loads(_out(["story", "premise", "--n", "4", "--seed", "2", "--json"], capsys))
    assert listed == text


def test_grammar_file_and_symbol(tmp_path, capsys):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"origin": "#x.capitalize#", "x": "only", "other": "else"}))
    assert _out(["story", "premise", "-g", str(path), "--n", "2"], capsys) == "Only\nOnly\n"
    assert (
        _out(["story", "premise", "-g", str(path), "--symbol", "other"], capsys).split()
        == ["else"] * 5
    )
    fronts = _out(["story", "premise", "-g", "names", "--symbol", "front", "--n", "3"], capsys)
    assert set(fronts.split()) <= set(load_grammar("names").rules["front"])


def test_unknown_symbol_and_broken_file_are_one_line_errors(tmp_path, capsys):
    assert run(["story", "premise", "--symbol", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "--symbol" in err and "nope" in err and "\n" not in err
    broken = tmp_path / "broken.json"
    broken.write_text('{"origin": "#hero# [x:"}')
    assert run(["story", "premise", "-g", str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(broken) in err and "'[' without its ']'" in err and "\n" not in err


def test_grammars_lists_each_shipped_grammar_with_an_example(capsys):
    examples = json.loads(_out(["story", "grammars", "--json"], capsys))
    assert list(examples) == shipped_grammars() == ["names", "places", "premise"]
    for name, example in examples.items():
        assert example == load_grammar(name).expand(seed=0)
    table = _out(["story", "grammars"], capsys)
    assert all(name in table for name in examples)


def test_story_models_lists_the_shipped_model_and_those_kept_measured(
    tmp_path, monkeypatch, capsys
):
    from museforge.story.llm import shipped_gguf

    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "copy.gguf").symlink_to(shipped_gguf())
    (tmp_path / "models" / "notes.txt").write_text("not a model")
    rows = json.loads(_out(["story", "models", "--measure", "--json"], capsys))
    assert [r["model"] for r in rows] == ["smollm2", "copy"]
    assert rows[0]["mb"] == rows[1]["mb"] > 50
    assert all(r["tokens_per_s"] > 1 for r in rows)
