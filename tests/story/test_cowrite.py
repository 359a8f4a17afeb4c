"""Co-writing kept in the store: versions, choices, undo, export, and the CLI over them.

The ``store`` fixture runs a test on a SQLite file and on a PostgreSQL server; the tests
that reopen or kill need a file, so they use SQLite directly.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from museforge.cli import run
from museforge.core.store import Store
from museforge.errors import NotFoundInStore, UserError
from museforge.story import cowrite
from museforge.story.cowrite import MAX_TEXT_CHARS, Provenance

MODEL = Provenance("smollm2-135m", 11, {"temperature": 0.8, "top_p": 0.95})


def _sqlite(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'store.db'}", objects_dir=tmp_path / "objects")


def _marks(versions: list[cowrite.Version]) -> list[tuple[int, str, bool]]:
    return [(v.number, v.text, v.current) for v in versions]


def test_alternatives_accept_edit_undo_restore_keep_every_version(store: Store) -> None:
    story = cowrite.create_story(store, "A lighthouse keeper finds a letter.")
    seeds = [Provenance("smollm2-135m", s, {"temperature": 0.8}) for s in (1, 2, 3)]
    proposed = cowrite.propose(store, story, "logline", ["one", "two", "three"], seeds)
    assert [(v.number, v.how, v.seed, v.current) for v in proposed] == [
        (1, "generated", 1, False),
        (2, "generated", 2, False),
        (3, "generated", 3, False),
    ]
    with pytest.raises(NotFoundInStore, match="no current version of logline"):
        cowrite.current_text(store, story, "logline")

    cowrite.accept(store, story, "logline", 2)
    edited = cowrite.edit(store, story, "logline", "two, by hand")
    assert (edited.number, edited.how, edited.parent) == (4, "edited", 2)
    assert cowrite.undo(store, story, "logline").number == 2
    assert cowrite.current_text(store, story, "logline") == "two"
    restored = cowrite.restore(store, story, "logline", 1)
    assert (restored.number, restored.how, restored.parent) == (5, "restored", 1)
    assert restored.details == {"restored_from": 1}

    assert _marks(cowrite.history(store, story, "logline")) == [
        (1, "one", False),
        (2, "two", False),
        (3, "three", False),
        (4, "two, by hand", False),
        (5, "one", True),
    ]
    generated = cowrite.history(store, story, "logline")[0]
    assert (generated.model_id, generated.seed, generated.settings) == (
        "smollm2-135m",
        1,
        {"temperature": 0.8},
    )
    assert cowrite.current_text(store, story, "premise") == "A lighthouse keeper finds a letter."


def test_undo_walks_back_one_choice_at_a_time_and_stops_at_the_first(store: Store) -> None:
    story = cowrite.create_story(store, "premise")
    for text in ("a", "b", "c"):
        cowrite.edit(store, story, "beats", text)
    assert cowrite.undo(store, story, "beats").text == "b"
    assert cowrite.undo(store, story, "beats").text == "a"
    with pytest.raises(UserError, match="nothing to undo in beats"):
        cowrite.undo(store, story, "beats")
    cowrite.accept(store, story, "beats", 3)
    assert cowrite.undo(store, story, "beats").text == "a"  # back to what accept replaced
    assert len(cowrite.history(store, story, "beats")) == 3  # undo never adds or deletes


def test_continue_and_rewrite_record_the_text_the_caller_made(store: Store) -> None:
    story = cowrite.create_story(store, "premise")
    cowrite.edit(store, story, "scene/1", "The lamp turns.")
    more = cowrite.continue_text(store, story, "scene/1", " A ship answers.", MODEL)
    assert (more.text, more.how, more.parent, more.seed) == (
        "The lamp turns. A ship answers.",
        "continued",
        1,
        11,
    )
    rewritten = cowrite.rewrite_selection(
        store, story, "scene/1", 4, 8, "make it older", "old lamp", MODEL
    )
    assert rewritten.text == "The old lamp turns. A ship answers."
    assert rewritten.details == {"instruction": "make it older", "start": 4, "end": 8}
    assert rewritten.settings == {"temperature": 0.8, "top_p": 0.95}
    with pytest.raises(UserError, match="selection 5:999 is outside scene/1"):
        cowrite.rewrite_selection(store, story, "scene/1", 5, 999, "x", "y")


def test_bad_input_is_refused_and_leaves_nothing(store: Store) -> None:
    story = cowrite.create_story(store, "premise")
    with pytest.raises(UserError, match=f"limit is {MAX_TEXT_CHARS:,}"):
        cowrite.edit(store, story, "scene/1", "x" * (MAX_TEXT_CHARS + 1))
    with pytest.raises(UserError, match="limit is"):
        cowrite.propose(store, story, "scene/1", ["ok", "x" * (MAX_TEXT_CHARS + 1)])
    with pytest.raises(NotFoundInStore, match="has no node scene/1"):
        cowrite.history(store, story, "scene/1")
    with pytest.raises(UserError, match="bad node name 'Scene 1'"):
        cowrite.edit(store, story, "Scene 1", "text")
    with pytest.raises(NotFoundInStore, match="no story 99"):
        cowrite.edit(store, 99, "premise", "text")
    with pytest.raises(NotFoundInStore, match="no version 7 of premise"):
        cowrite.restore(store, story, "premise", 7)
    with pytest.raises(UserError, match="3 texts for beats need 3 provenances"):
        cowrite.propose(store, story, "beats", ["a", "b", "c"], [MODEL])


def test_a_new_store_object_on_the_same_file_shows_every_version(tmp_path: Path) -> None:
    with _sqlite(tmp_path) as store:
        story = cowrite.create_story(store, "premise")
        cowrite.propose(store, story, "title", ["North Light", "The Keeper"], MODEL)
        cowrite.accept(store, story, "title", 2)
        cowrite.edit(store, story, "title", "The Last Keeper")
        before = cowrite.history(store, story, "title")
    with _sqlite(tmp_path) as reopened:
        assert cowrite.history(reopened, story, "title") == before
        assert cowrite.current_text(reopened, story, "title") == "The Last Keeper"
        assert [s.label for s in cowrite.list_stories(reopened)] == ["The Last Keeper"]


def test_tables_are_added_to_a_store_that_predates_them(tmp_path: Path) -> None:
    _sqlite(tmp_path).close()
    with sqlite3.connect(tmp_path / "store.db") as db:  # as a store made before co-writing
        for table in ("story_choice", "story_version", "story"):
            db.execute(f"DROP TABLE {table}")
    with _sqlite(tmp_path) as store:
        story = cowrite.create_story(store, "premise")
        assert cowrite.current_text(store, story, "premise") == "premise"


CHILD = textwrap.dedent(
    """
    import sys
    from museforge.core.store import Store
    from museforge.story import cowrite

    url, objects, story = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Store(url, objects_dir=objects) as store:
        for i in range(100_000):
            texts = [f"take {i}.{k} " + "word " * 20_000 for k in range(3)]
            first = cowrite.propose(store, story, "scene/1", texts, cowrite.Provenance("m", i))
            cowrite.accept(store, story, "scene/1", first[1].number)
            print(i, flush=True)
    """
)


def test_a_writer_killed_mid_way_leaves_only_whole_versions(tmp_path: Path) -> None:
    with _sqlite(tmp_path) as store:
        story = cowrite.create_story(store, "kept premise")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(tmp_path / "objects"), str(story)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        done = [int(child.stdout.readline()) for _ in range(5)]
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL

    with _sqlite(tmp_path) as store:
        versions = cowrite.history(store, story, "scene/1")
        current = cowrite.current_text(store, story, "scene/1")
        assert cowrite.current_text(store, story, "premise") == "kept premise"
    assert [v.number for v in versions] == list(range(1, len(versions) + 1))
    assert len(versions) % 3 == 0  # a batch of alternatives is kept whole or not at all
    for v in versions:
        i, k = divmod(v.number - 1, 3)
        assert v.text == f"take {i}.{k} " + "word " * 20_000
        assert v.seed == i
    assert len(versions) // 3 >= done[-1] + 1  # every reported batch survived
    accepted = {v.text for v in versions if v.number % 3 == 2}
    assert current in accepted


def _tiny_story(store: Store) -> int:
    story = cowrite.create_story(store, "A lighthouse keeper finds a letter in the lamp.")
    cowrite.edit(store, story, "scene/2", "She reads it.\n\nEXT. a boat, later\n.hidden")
    cowrite.edit(store, story, "scene/1", "int. lighthouse - night\nWind howls.\nBANG")
    cowrite.edit(store, story, "logline", "A keeper finds a letter.")
    cowrite.edit(store, story, "title", "The Keeper")
    return story


MARKDOWN = """\
# The Keeper

## Logline

A keeper finds a letter.

## Premise

A lighthouse keeper finds a letter in the lamp.

## Scene 1

int. lighthouse - night
Wind howls.
BANG

## Scene 2

She reads it.

EXT. a boat, later
.hidden
"""

FOUNTAIN = """\
Title: The Keeper

# Logline

= A keeper finds a letter.

# Premise

= A lighthouse keeper finds a letter in the lamp.

INT. LIGHTHOUSE - NIGHT

Wind howls.
!BANG

.SCENE 2

She reads it.

!EXT. a boat, later
!.hidden
"""


def test_export_markdown_and_fountain_of_a_tiny_story(store: Store) -> None:
    story = _tiny_story(store)
    assert cowrite.export_markdown(store, story) == MARKDOWN
    assert cowrite.export_fountain(store, story) == FOUNTAIN


def test_fountain_writes_prose_dialogue_as_cues_and_lines(store: Store) -> None:
    story = cowrite.create_story(store, "A keeper meets a stranger.")
    prose = (
        'The door opened.\n"Let me help you," said Silas.\n'
        '"Where now?" Zoë McAllister asked. She turned.\n"Yes," said the man.'
    )
    cowrite.edit(store, story, "scene/1", prose)
    exported = cowrite.export_fountain(store, story).split(".SCENE 1\n\n")[1]
    assert exported == (
        "The door opened.\n\nSILAS\nLet me help you.\n\nZOË MCALLISTER\nWhere now?\n\n"
        'She turned.\n\n"Yes," said the man.\n'
    )


def _out(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert run(args) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_cli_edit_undo_restore_show_and_export(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store() as store:
        story = _tiny_story(store)
    sid = str(story)
    draft = tmp_path / "beats.txt"
    draft.write_text("1. The lamp fails.\n2. A letter.\n", encoding="utf-8")

    assert "version 1 is current" in _out(
        ["story", "edit", sid, "beats", "--file", str(draft)], capsys
    )
    assert "version 2" in _out(["story", "edit", sid, "beats", "--text", "One beat."], capsys)
    assert "version 1" in _out(["story", "undo", sid, "beats"], capsys)
    assert "version 3" in _out(["story", "restore", sid, "beats", "2"], capsys)
    assert _out(["story", "show", sid, "--node", "beats"], capsys) == "One beat.\n"
    shown = _out(["story", "show", sid, "--node", "beats", "--history"], capsys)
    assert "restored" in shown and "*" in shown
    assert "The Keeper" in _out(["story", "list"], capsys)
    with Store() as store:
        cowrite.propose(store, story, "characters", ["Ada, the keeper"], MODEL)
    summary = _out(["story", "show", sid], capsys)
    assert "beats" in summary and "characters" in summary

    out = tmp_path / "keeper.fountain"
    _out(["story", "export", sid, "--format", "fountain", "--out", str(out)], capsys)
    assert out.read_text(encoding="utf-8").startswith("Title: The Keeper\n")
    printed = _out(["story", "export", sid, "--format", "md"], capsys)
    assert printed.startswith("# The Keeper\n") and "## Beats\n\nOne beat.\n" in printed


def test_cli_edit_needs_exactly_one_source_of_text(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store() as store:
        story = cowrite.create_story(store, "premise")
    assert run(["story", "edit", str(story), "beats", "--text", "a", "--file", "b"]) == 2
    assert "--text" in capsys.readouterr().err
