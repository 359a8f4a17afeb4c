"""``museforge store`` through its Typer sub-app, on a temporary home.

Called alone, the sub-app lets a UserError out as an exception (the main entry point turns
it into ``error: ...`` and exit code 2), so these tests check the exception and its text.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from museforge.cli.store import app
from museforge.core.store import Artifact, Store
from museforge.errors import BadInputFile, MissingFile, NotFoundInStore, UserError

runner = CliRunner()
UNKNOWN = "feedfacecafe"
SRC = str(Path(__file__).resolve().parents[2] / "src")


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def assert_user_error(result: Result, kind: type[UserError], *named: str) -> None:
    assert isinstance(result.exception, kind), result.output
    message = str(result.exception)
    assert "\n" not in message
    for name in named:
        assert name in message


def assert_bad_value(result: Result, option: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Invalid value" in result.output and option in result.output


@pytest.fixture
def family(home: Path) -> dict[str, Artifact]:
    """A tune, a variation of it, and a blend of both, rated once."""
    with Store() as store:
        tune = store.add_bytes(b"tune", ".mid", kind="melody", seed=7, note="[bold]folk[/bold]")
        variation = store.add_bytes(
            b"variation", ".mid", kind="melody", parents=[(tune.id, "variation-of")]
        )
        blend = store.add_bytes(
            b"blend",
            ".mid",
            kind="melody",
            params={"alpha": 0.5},
            parents=[(tune.id, "interpolation-of"), (variation.id, "interpolation-of")],
        )
        store.rate(blend.id, 4, note="warm")
    return {"tune": tune, "variation": variation, "blend": blend}


def test_list_shows_newest_first_and_filters_by_kind(family: dict[str, Artifact]) -> None:
    result = run("list")
    assert result.exit_code == 0, result.output
    where = [result.output.index(family[name].id[:10]) for name in ("blend", "variation", "tune")]
    assert where == sorted(where)
    assert "[bold]" in result.output  # notes are printed as text, not as markup

    assert "no artifacts match" in run("list", "--kind", "image").output
    assert len([x for x in run("list", "--limit", "1").output.splitlines() if "melody" in x]) == 1


def test_list_errors(family: dict[str, Artifact]) -> None:
    assert_user_error(run("list", "--project", "nope"), NotFoundInStore, "nope")
    assert_user_error(run("list", "--kind", "Big Kind"), UserError, "Big Kind")
    assert_bad_value(run("list", "--limit", "-1"), "--limit")


def test_show_prints_fields_parents_children_and_ratings(family: dict[str, Artifact]) -> None:
    blend = family["blend"]
    result = run("show", blend.id[:6])
    assert result.exit_code == 0, result.output
    out = result.output
    assert blend.id in out and "audio/midi" in out and '{"alpha": 0.5}' in out
    assert "parents (2)" in out and out.count("interpolation-of") == 2
    assert "children (0)" in out
    assert "ratings (1)" in out and "4 by human" in out and "warm" in out

    tune = run("show", family["tune"].id).output
    assert "children (2)" in tune and "[bold]folk[/bold]" in tune


def test_show_and_lineage_errors(family: dict[str, Artifact]) -> None:
    for command in ("show", "lineage"):
        assert_user_error(run(command, UNKNOWN), NotFoundInStore, UNKNOWN)
        assert_user_error(run(command, "xyz!"), NotFoundInStore, "xyz!")
    assert_bad_value(run("lineage", family["tune"].id, "--depth", "0"), "--depth")


def test_lineage_prints_the_ancestors_as_a_tree(family: dict[str, Artifact]) -> None:
    result = run("lineage", family["blend"].id[:8])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(family["blend"].id[:12])
    tune, variation = family["tune"].id[:12], family["variation"].id[:12]
    assert any(f"interpolation-of: {tune}" in line for line in lines)
    assert any(f"interpolation-of: {variation}" in line for line in lines)
    assert any(f"variation-of: {tune}" in line and "(shown above)" in line for line in lines)

    shallow = run("lineage", family["blend"].id, "--depth", "1").output
    assert "more generations" in shallow and "variation-of" not in shallow


def test_export_writes_the_files_and_provenance(
    family: dict[str, Artifact], tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    result = run("export", family["blend"].id[:8], str(out))
    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"{a.id}.mid" for a in family.values()] + ["provenance.json"])
    doc = json.loads((out / "provenance.json").read_text())
    assert doc["artifact"] == family["blend"].id


def test_export_errors(family: dict[str, Artifact], tmp_path: Path) -> None:
    assert_user_error(run("export", UNKNOWN, str(tmp_path / "x")), NotFoundInStore, UNKNOWN)
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    assert_user_error(run("export", family["tune"].id, str(a_file)), BadInputFile, str(a_file))
    assert not (tmp_path / "x").exists()


def test_rate_records_a_human_rating(family: dict[str, Artifact]) -> None:
    result = run("rate", family["tune"].id[:6], "3.5", "--note", "catchy")
    assert result.exit_code == 0, result.output
    assert f"rated {family['tune'].id[:12]}: 3.5" in result.output
    with Store() as store:
        ratings = store.ratings(family["tune"].id)
    assert [(r.score, r.by, r.note) for r in ratings] == [(3.5, "human", "catchy")]


def test_rate_errors(family: dict[str, Artifact]) -> None:
    assert_user_error(run("rate", UNKNOWN, "3"), NotFoundInStore, UNKNOWN)
    assert_bad_value(run("rate", family["tune"].id, "lots"), "score")
    assert_user_error(run("rate", family["tune"].id, "nan"), UserError, "nan")


def test_add_keeps_the_file_with_its_parents(family: dict[str, Artifact], tmp_path: Path) -> None:
    source = tmp_path / "edit.mid"
    source.write_bytes(b"edited by hand")
    tune, variation = family["tune"].id, family["variation"].id
    args = ["add", str(source), "--kind", "melody", "--seed", "11", "--note", "hand edit"]
    args += ["--parent", tune[:6], "--relation", "edited-from", "--parent", variation[:6]]
    args += ["--relation", "input"]
    result = run(*args)
    assert result.exit_code == 0, result.output
    new_id = result.output.strip()
    with Store() as store:
        added = store.get(new_id)
        parents = sorted((e.artifact.id, e.relation) for e in store.parents(new_id))
    assert (added.kind, added.seed, added.note) == ("melody", 11, "hand edit")
    assert parents == sorted([(tune, "edited-from"), (variation, "input")])


def test_add_errors(family: dict[str, Artifact], tmp_path: Path) -> None:
    missing = tmp_path / "missing.mid"
    assert_user_error(run("add", str(missing), "--kind", "melody"), MissingFile, str(missing))

    source = tmp_path / "new.mid"
    source.write_bytes(b"new")
    tune = family["tune"].id
    base = ["add", str(source), "--kind", "melody", "--parent", tune]
    assert_user_error(run(*base, "--relation", "stolen-from"), UserError, "stolen-from")
    assert_user_error(run(*base[:-1], UNKNOWN), NotFoundInStore, UNKNOWN)
    assert_bad_value(run(*base, "--relation", "input", "--relation", "input"), "--relation")
    with Store() as store:
        assert len(store.list_artifacts()) == 3


HOLDER = """
import sqlite3, sys, time
from pathlib import Path
db, ready = sys.argv[1:]
conn = sqlite3.connect(db, isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO meta VALUES ('holder', 'x')")
Path(ready).touch()
time.sleep(120)
"""


def museforge(home: Path, *args: str, obey_modes: bool = False) -> subprocess.CompletedProcess:
    """The real command line in a child process; with ``obey_modes`` a root process gives
    up the capabilities that let it write a file whatever its mode says."""
    env = os.environ | {"MUSEFORGE_HOME": str(home), "PYTHONPATH": SRC}
    env.pop("MUSEFORGE_DB_URL", None)
    command = [sys.executable, "-m", "museforge", "store", *args]
    if obey_modes and os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_list_returns_while_another_process_holds_the_write_lock(
    family: dict[str, Artifact], home: Path, tmp_path: Path
) -> None:
    ready = tmp_path / "holding"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(home / "store.db"), str(ready)])
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert holder.poll() is None and time.monotonic() < deadline, "holder did not start"
            time.sleep(0.01)
        start = time.monotonic()
        listed = museforge(home, "list", "--json")
        elapsed = time.monotonic() - start
        shown = museforge(home, "show", family["blend"].id[:8], "--json")
    finally:
        holder.kill()
        holder.wait()
    assert listed.returncode == 0, listed.stderr
    assert {r["id"] for r in json.loads(listed.stdout)} == {a.id for a in family.values()}
    assert elapsed < 15  # the store's busy timeout is 30 s: it did not wait for the lock
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == family["blend"].id


def test_a_read_only_store_can_be_listed_verified_and_refuses_writes_in_one_line(
    family: dict[str, Artifact], home: Path, tmp_path: Path
) -> None:
    # a folder nobody may write, holding a database nobody may write
    shelf = tmp_path / "shelf"
    try:
        shutil.copytree(home, shelf / "home")
        for path in [shelf / "home", *(shelf / "home").rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        listed = museforge(shelf / "home", "list", "--json", obey_modes=True)
        checked = museforge(shelf / "home", "verify", obey_modes=True)
        shown = museforge(shelf / "home", "show", family["tune"].id[:8], obey_modes=True)
        rated = museforge(shelf / "home", "rate", family["tune"].id[:8], "5", obey_modes=True)
        assert sorted(p.name for p in (shelf / "home").iterdir()) == ["objects", "store.db"]
    finally:
        for path in shelf.rglob("*"):
            path.chmod(0o755)
    assert listed.returncode == 0, listed.stderr
    assert {r["id"] for r in json.loads(listed.stdout)} == {a.id for a in family.values()}
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "checked 3 artifacts: 0 corrupt, 0 missing" in checked.stdout
    assert shown.returncode == 0 and family["tune"].id in shown.stdout, shown.stderr
    assert rated.returncode == 2
    assert rated.stderr.startswith("error: cannot write to the store at sqlite:///")
    assert "readonly database" in rated.stderr and rated.stderr.count("\n") == 1


def test_list_on_a_home_without_a_store_says_so_and_creates_nothing(home: Path) -> None:
    result = run("list")
    assert result.exit_code == 0, result.output
    assert "no artifacts yet" in result.output and "there is no store at" in result.output
    assert run("list", "--json").output.strip() == "[]"
    assert not (home / "store.db").exists()
    assert not (home / "objects").exists()
    assert_user_error(
        run("show", "abcd"), NotFoundInStore, "no artifact abcd: there is no store at"
    )
    assert_user_error(run("lineage", "abcd"), NotFoundInStore, "no artifact abcd")


def test_list_and_show_as_json_and_the_search_options(family: dict[str, Artifact]) -> None:
    listed = json.loads(run("list", "--json").output)
    assert [r["id"] for r in listed] == [family[n].id for n in ("blend", "variation", "tune")]
    assert listed[0]["params"] == {"alpha": 0.5} and listed[2]["seed"] == 7
    shown = json.loads(run("show", family["variation"].id[:8], "--json").output)
    assert shown["parents"] == [{"id": family["tune"].id, "relation": "variation-of"}]
    assert shown["children"] == [{"id": family["blend"].id, "relation": "interpolation-of"}]
    assert Path(shown["file_path"]).read_bytes() == b"variation"

    def ids(*options: str) -> list[str]:
        result = run("list", "--json", *options)
        assert result.exit_code == 0, result.output
        return [r["id"] for r in json.loads(result.output)]

    today = family["tune"].created.date().isoformat()
    assert ids("--seed", "7") == [family["tune"].id]
    assert ids("--note", "FOLK") == [family["tune"].id]
    assert len(ids("--since", today, "--until", today)) == 3  # a date alone: its whole day
    assert ids("--until", family["tune"].created.isoformat()) == []
    assert ids("--model", "nothing") == []
    assert_user_error(run("list", "--since", "yesterday"), UserError, "--since", "yesterday")


def test_verify_exits_1_on_a_damaged_store_and_gc_collects_orphans(
    family: dict[str, Artifact], home: Path
) -> None:
    clean = run("verify", "--json")
    assert clean.exit_code == 0 and json.loads(clean.output)["clean"] is True
    orphan = home / "objects" / "zz" / "orphan.mid"
    orphan.parent.mkdir()
    orphan.write_bytes(b"no row")
    with Store() as store:
        store.path_of(family["tune"]).write_bytes(b"changed")
    damaged = run("verify")
    assert damaged.exit_code == 1
    assert "checked 3 artifacts: 1 corrupt, 0 missing, 1 orphan files" in damaged.output
    assert family["tune"].id in damaged.output and "zz/orphan.mid" in damaged.output

    young = run("gc", "--json")
    assert json.loads(young.output)["too_young"] == 1 and orphan.exists()
    planned = run("gc", "--dry-run", "--min-age", "0")
    assert "would remove 1 orphan files" in planned.output and orphan.exists()
    done = run("gc", "--min-age", "0")
    assert "removed 1 orphan files" in done.output and not orphan.exists()
    assert json.loads(run("verify", "--json").output)["corrupt"] == [family["tune"].id]


def test_doctor_never_shows_the_store_password() -> None:
    from museforge.cli.doctor import _mask_password

    for url in ("postgresql://u:pw@host/db", "postgresql+psycopg://u:p%40w@host:5432/db"):
        masked = _mask_password(url)
        assert "pw" not in masked and "p%40w" not in masked and "p@w" not in masked
        assert masked.endswith("@host/db") or masked.endswith("@host:5432/db")
        assert "u:***@" in masked
    assert _mask_password("not a url :pw@") == "(not a database URL)"
