"""Every CLI entry point, given a missing file and a bad value, prints one line and exits 2.

The tables below must name every leaf command: a new command without its two cases fails
``test_every_command_has_error_cases``.
"""

from __future__ import annotations

import pytest
from typer.main import get_command

from museforge.cli import app, run

MISSING = "/nonexistent/museforge-test/missing"

# command path -> (arguments with a missing file or unknown id, words the error must contain)
MISSING_CASES: dict[str, tuple[list[str], str]] = {
    "demo": (["demo", "--out", "{file}/sub"], "cannot create"),
    "doctor": (["doctor", MISSING], "unexpected extra argument"),
    "image stylize": (
        ["image", "stylize", MISSING, "--style", "skimage:gravel", "--out", "{tmp}/o.png"],
        "missing",
    ),
    "image style sheet": (
        [
            "image",
            "style",
            "sheet",
            "skimage:astronaut",
            "--styles",
            MISSING,
            "--out",
            "{tmp}/s.png",
        ],
        "missing",
    ),
    "image style train": (["image", "style", "train", MISSING, "--out", "{tmp}/run"], "missing"),
    "image gan train": (["image", "gan", "train", MISSING, "--out", "{tmp}/run"], "missing"),
    "image gan sample": (
        ["image", "gan", "sample", "--model", MISSING, "--out", "{tmp}/o"],
        "model folder",
    ),
    "image gan mix": (
        [
            "image",
            "gan",
            "mix",
            "--model",
            MISSING,
            "--coarse",
            "1",
            "--fine",
            "2",
            "--out",
            "{tmp}/o",
        ],
        "model folder",
    ),
    "image gan interpolate": (
        [
            "image",
            "gan",
            "interpolate",
            "--model",
            MISSING,
            "--seeds",
            "1,2",
            "--out",
            "{tmp}/w.gif",
        ],
        "model folder",
    ),
    "image gan vary": (
        ["image", "gan", "vary", "--model", MISSING, "--seed", "1", "--out", "{tmp}/o"],
        "model folder",
    ),
    "image gan project": (
        ["image", "gan", "project", MISSING, "--model", MISSING, "--out", "{tmp}/o"],
        "missing",
    ),
    "image gan evaluate": (
        ["image", "gan", "evaluate", "--model", "{tmp}", "--data", MISSING],
        "missing",
    ),
    "music dataset build": (
        ["music", "dataset", "build", "--source", MISSING, "--out", "{tmp}/c.npz"],
        "missing",
    ),
    "music dataset info": (["music", "dataset", "info", MISSING], "missing"),
    "music sample": (["music", "sample", "--model", MISSING, "--out", "{tmp}/o"], "model folder"),
    "music interpolate": (
        ["music", "interpolate", MISSING, "{file}", "--out", "{tmp}/o"],
        "missing",
    ),
    "music continue": (["music", "continue", MISSING, "--out", "{tmp}/o"], "missing"),
    "music vary": (["music", "vary", MISSING, "--out", "{tmp}/o"], "missing"),
    "music train": (["music", "train", "--data", MISSING, "--out", "{tmp}/o"], "missing"),
    "music evaluate": (["music", "evaluate", "--model", MISSING], "model folder"),
    "music embed": (["music", "embed", MISSING, "--out", "{tmp}/f"], "missing"),
    "image embed": (["image", "embed", MISSING, "--out", "{tmp}/f"], "missing"),
    "map": (["map", MISSING, "--out", "{tmp}/m.html"], "missing"),
    "store add": (["store", "add", MISSING, "--kind", "note"], "missing"),
    "store export": (["store", "export", "abcd1234", "{tmp}/out"], "abcd1234"),
    "store lineage": (["store", "lineage", "abcd1234"], "abcd1234"),
    "store list": (["store", "list", "--kind", "melody", MISSING], "unexpected extra argument"),
    "store verify": (["store", "verify", MISSING], "unexpected extra argument"),
    "studio": (["studio", MISSING], "unexpected extra argument"),
    "store gc": (["store", "gc", MISSING], "unexpected extra argument"),
    "store rate": (["store", "rate", "abcd1234", "3"], "abcd1234"),
    "store show": (["store", "show", "abcd1234"], "abcd1234"),
    "story grammars": (["story", "grammars", MISSING], "unexpected extra argument"),
    "story new": (["story", "new", "a bird", "--out", "{tmp}/o", "--model", MISSING], "missing"),
    "story premise": (["story", "premise", "--grammar", MISSING], "missing"),
    "story serve": (["story", "serve", "--model", MISSING], "missing"),
    "story list": (["story", "list", MISSING], "unexpected extra argument"),
    "story models": (["story", "models", MISSING], "unexpected extra argument"),
    "story pull": (["story", "pull", "qwen2.5-coder-1.5b", "--manifest", MISSING], "missing"),
    "story show": (["story", "show", "99"], "story 99"),
    "story edit": (["story", "edit", "99", "premise", "--text", "t"], "story 99"),
    "story undo": (["story", "undo", "99", "premise"], "story 99"),
    "story restore": (["story", "restore", "99", "premise", "1"], "story 99"),
    "story export": (["story", "export", "99", "--out", "{tmp}/s.md"], "story 99"),
    "story regenerate": (["story", "regenerate", "99", "scene/1"], "story 99"),
    "story accept": (["story", "accept", "99", "premise", "1"], "story 99"),
    "story continue": (["story", "continue", "99"], "story 99"),
    "story rewrite": (
        ["story", "rewrite", "99", "premise", "--start", "0", "--end", "1", "-i", "calmer"],
        "story 99",
    ),
    "story cowrite": (["story", "cowrite", "99"], "story 99"),
    "paint draw": (["paint", "draw", MISSING, "--out", "{tmp}/o"], "missing"),
    "paint train": (["paint", "train", "--out", "{tmp}/run", "--resume"], "no checkpoint"),
    "paint evaluate": (["paint", "evaluate", "--model", MISSING], "model folder"),
}

# command path -> (arguments with a bad value, words the error must contain)
BAD_VALUE_CASES: dict[str, tuple[list[str], str]] = {
    "demo": (["demo", "--seed", "-1"], "--seed"),
    "doctor": (["doctor", "--json=maybe"], "--json"),
    "image stylize": (
        ["image", "stylize", "{file}", "--style", "{file}", "--out", "{tmp}/o.png", "--size", "0"],
        "--size",
    ),
    "image style sheet": (
        ["image", "style", "sheet", "{file}", "--styles", "{file}", "--out", "{tmp}/s.jpg"],
        "--out",
    ),
    "image style train": (
        ["image", "style", "train", "skimage:brick", "--out", "{tmp}/run", "--crop", "8"],
        "--crop",
    ),
    "image gan train": (
        ["image", "gan", "train", "skimage:lfw_subset", "--out", "{tmp}/run", "--res", "48"],
        "--res",
    ),
    "image gan sample": (
        ["image", "gan", "sample", "--model", "{file}", "--n", "0", "--out", "{tmp}/o"],
        "--n",
    ),
    "image gan mix": (
        [
            "image",
            "gan",
            "mix",
            "--model",
            "{file}",
            "--coarse",
            "1,x",
            "--fine",
            "2",
            "--out",
            "{tmp}/o",
        ],
        "--coarse",
    ),
    "image gan interpolate": (
        [
            "image",
            "gan",
            "interpolate",
            "--model",
            "{file}",
            "--seeds",
            "1,2",
            "--frames",
            "1",
            "--out",
            "{tmp}/w.gif",
        ],
        "--frames",
    ),
    "image gan vary": (
        [
            "image",
            "gan",
            "vary",
            "--model",
            "{file}",
            "--seed",
            "1",
            "--amount",
            "2",
            "--out",
            "{tmp}/o",
        ],
        "--amount",
    ),
    "image gan project": (
        [
            "image",
            "gan",
            "project",
            "{file}",
            "--model",
            "{file}",
            "--out",
            "{tmp}/o",
            "--steps",
            "0",
        ],
        "--steps",
    ),
    "image gan evaluate": (
        ["image", "gan", "evaluate", "--model", "{file}", "--data", "{tmp}", "--samples", "1"],
        "--samples",
    ),
    "music dataset build": (
        ["music", "dataset", "build", "--source", "corpus", "--out", "{tmp}/c.npz", "--jobs", "0"],
        "--jobs",
    ),
    "music dataset info": (["music", "dataset", "info", "{file}"], "a-file.txt"),
    "music sample": (
        ["music", "sample", "--temperature", "-1", "--out", "{tmp}/o"],
        "--temperature",
    ),
    "music interpolate": (["music", "interpolate", "{file}", "{file}", "--steps", "1"], "--steps"),
    "music continue": (["music", "continue", "{file}", "--bars", "0"], "--bars"),
    "music vary": (["music", "vary", "{file}", "--amount", "2"], "--amount"),
    "music train": (["music", "train", "--bars", "3", "--out", "{tmp}/o"], "--bars"),
    "music evaluate": (["music", "evaluate", "--samples", "1"], "--samples"),
    "music embed": (["music", "embed", "corpus", "--out", "{tmp}/f", "-m", "{file}"], "a-file"),
    "image embed": (["image", "embed", "{tmp}", "--out", "{tmp}/f"], "no pictures"),
    "map": (["map", "{tmp}", "--out", "{tmp}/m.html"], "features.safetensors"),
    "store add": (["store", "add", "{file}", "--kind", "Not A Kind!"], "kind"),
    "store export": (["store", "export", "zz", "{tmp}/out"], "hex"),
    "store lineage": (["store", "lineage", "abcd1234", "--depth", "0"], "--depth"),
    "store list": (["store", "list", "--limit", "-3"], "--limit"),
    "store verify": (["store", "verify", "--json", "yes"], "unexpected extra argument"),
    "studio": (["studio", "--port", "70000"], "--port"),
    "store gc": (["store", "gc", "--min-age", "-1"], "--min-age"),
    "store rate": (["store", "rate", "abcd1234", "very good"], "score"),
    "store show": (["store", "show", "not-hex!"], "hex"),
    "story grammars": (["story", "grammars", "--json=maybe"], "--json"),
    "story new": (
        ["story", "new", "a bird", "--out", "{tmp}/o", "--structure", "sonnet"],
        "--structure",
    ),
    "story premise": (["story", "premise", "--n", "0"], "--n"),
    "story serve": (["story", "serve", "--host", "0.0.0.0"], "--token"),
    "story list": (["story", "list", "--json=maybe"], "--json"),
    "story models": (["story", "models", "--runtime", "pytorch"], "--runtime"),
    "story pull": (["story", "pull", "no-such-model"], "unknown model"),
    "story show": (["story", "show", "1", "--node", "Scene 1"], "node name"),
    "story edit": (["story", "edit", "1", "premise"], "--text"),
    "story undo": (["story", "undo", "1", "Scene 1"], "node name"),
    "story restore": (["story", "restore", "1", "premise", "0"], "version"),
    "story export": (["story", "export", "1", "--format", "pdf"], "--format"),
    "story regenerate": (["story", "regenerate", "1", "scene/1", "--n", "9"], "--n"),
    "story accept": (["story", "accept", "1", "premise", "0"], "version"),
    "story continue": (["story", "continue", "1", "--words", "0"], "--words"),
    "story rewrite": (
        ["story", "rewrite", "1", "premise", "--start", "0", "--end", "1", "-i", "x" * 501],
        "--instruction",
    ),
    "story cowrite": (["story", "cowrite", "one"], "story_id"),
    "paint draw": (["paint", "draw", "{file}", "--out", "{tmp}/o", "--strokes", "-1"], "--strokes"),
    "paint train": (["paint", "train", "--out", "{tmp}/run", "--steps", "0"], "--steps"),
    "paint evaluate": (["paint", "evaluate", "--methods", "agent,best"], "--methods"),
}


def _leaves(command, path=()):
    if not getattr(command, "commands", None):
        return [" ".join(path)]
    return [leaf for name, sub in command.commands.items() for leaf in _leaves(sub, (*path, name))]


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MUSEFORGE_DB_URL", raising=False)


def test_every_command_has_error_cases():
    leaves = set(_leaves(get_command(app)))
    assert leaves == set(MISSING_CASES), "add a missing-file case for each new command"
    assert leaves == set(BAD_VALUE_CASES), "add a bad-value case for each new command"


def _check_one_line_error(args, words, tmp_path, capsys):
    afile = tmp_path / "a-file.txt"
    afile.write_text("museforge")
    args = [a.format(file=afile, tmp=tmp_path) for a in args]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "home" not in p.parts)
    assert run(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert words.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in captured.err
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "home" not in p.parts)
    assert after == before, "an error must leave nothing behind"


@pytest.mark.parametrize("name", sorted(MISSING_CASES))
def test_missing_file_or_id_is_one_line_exit_2(name, tmp_path, capsys):
    _check_one_line_error(*MISSING_CASES[name], tmp_path, capsys)


@pytest.mark.parametrize("name", sorted(BAD_VALUE_CASES))
def test_bad_value_is_one_line_exit_2(name, tmp_path, capsys):
    _check_one_line_error(*BAD_VALUE_CASES[name], tmp_path, capsys)
