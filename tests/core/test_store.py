"""The store on real SQLite files and a real PostgreSQL server (the ``store`` fixture runs
each test on both)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file
from sqlalchemy import create_engine, inspect, make_url, select, update

from museforge.core.model_records import record_trained_model
from museforge.core.store import MAX_LINEAGE_DEPTH, Artifact, Meta, Store, StoreBusy
from museforge.core.store_check import collect_garbage, verify
from museforge.core.store_schema import MIGRATIONS, SCHEMA_VERSION
from museforge.errors import BadInputFile, MissingFile, NotFoundInStore, UserError


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_artifact_with_two_parents_round_trips(store: Store, tmp_path: Path) -> None:
    seed_tune = store.add_bytes(b"tune", ".mid", kind="melody")
    model = store.add_bytes(b"weights", ".safetensors", kind="model")
    source = tmp_path / "variation.MID"
    source.write_bytes(b"variation bytes")

    made = store.add_file(
        source,
        kind="melody",
        params={"temperature": 0.9, "bars": [4, 8], "style": {"mode": "dorian"}},
        seed=2**40 + 7,
        model_id="melody-vae-small",
        parents=[(seed_tune.id, "variation-of"), (model.id[:8], "generated-by")],
        project="folk",
        note="second try",
    )

    again = store.get(sha(b"variation bytes"))
    assert again.id == made.id
    assert (again.kind, again.media_type, again.size) == ("melody", "audio/midi", 15)
    assert again.params == {"temperature": 0.9, "bars": [4, 8], "style": {"mode": "dorian"}}
    assert (again.seed, again.model_id, again.note) == (2**40 + 7, "melody-vae-small", "second try")
    assert store.project_name(again) == "folk"
    assert again.created.utcoffset() is not None
    assert store.path_of(again).read_bytes() == b"variation bytes"
    assert store.path_of(again).name.endswith(".mid")
    assert sorted((e.artifact.id, e.relation) for e in store.parents(made.id)) == sorted(
        [(seed_tune.id, "variation-of"), (model.id, "generated-by")]
    )
    assert [(e.artifact.id, e.relation) for e in store.children(seed_tune.id)] == [
        (made.id, "variation-of")
    ]


def test_ancestors_of_four_generations_with_a_diamond_each_once_at_nearest_depth(
    store: Store,
) -> None:
    #   g1 -> a, b      (diamond: a and b both come from g1 and both feed c)
    #   a, b -> c
    #   c, g1 -> d      (g1 is also d's direct parent, so its nearest depth is 1)
    #   d -> e
    g1 = store.add_bytes(b"g1", ".png", kind="image")
    a = store.add_bytes(b"a", ".png", kind="image", parents=[(g1.id, "variation-of")])
    b = store.add_bytes(b"b", ".png", kind="image", parents=[(g1.id, "edited-from")])
    c = store.add_bytes(
        b"c", ".png", kind="image", parents=[(a.id, "interpolation-of"), (b.id, "interpolation-of")]
    )
    other = store.add_bytes(b"other", ".png", kind="image")
    d = store.add_bytes(
        b"d", ".png", kind="image", parents=[(c.id, "chosen-from"), (other.id, "input")]
    )
    e = store.add_bytes(b"e", ".png", kind="image", parents=[(d.id, "continuation-of")])

    depths = {x.artifact.id: x.depth for x in store.ancestors(e.id)}
    assert depths == {d.id: 1, c.id: 2, other.id: 2, a.id: 3, b.id: 3, g1.id: 4}
    assert len(store.ancestors(e.id)) == 6  # each ancestor once, though g1 is reached twice

    tree = store.lineage_tree(e.id)
    assert tree.artifact.id == e.id and tree.relation is None
    (d_node,) = tree.parents
    assert (d_node.artifact.id, d_node.relation) == (d.id, "continuation-of")
    c_node = d_node.parents[0]
    g1_nodes = [p.parents[0] for p in c_node.parents]
    assert [n.artifact.id for n in g1_nodes] == [g1.id, g1.id]
    assert [n.repeated for n in g1_nodes] == [False, True]


def test_a_cycle_made_by_dedupe_does_not_trap_the_walk(store: Store) -> None:
    first = store.add_bytes(b"v1", ".txt", kind="story")
    second = store.add_bytes(b"v2", ".txt", kind="story", parents=[(first.id, "edited-from")])
    # editing v2 back gives v1's bytes again: the graph now has a cycle
    back = store.add_bytes(b"v1", ".txt", kind="story", parents=[(second.id, "edited-from")])
    assert back.id == first.id

    assert [(x.artifact.id, x.depth) for x in store.ancestors(first.id)] == [(second.id, 1)]
    tree = store.lineage_tree(first.id)
    assert tree.parents[0].parents[0].artifact.id == first.id
    assert tree.parents[0].parents[0].repeated


def test_a_lineage_deeper_than_the_walk_is_cut_at_its_bound(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'deep.db'}", objects_dir=tmp_path / "objects") as deep:
        parents: list[tuple[str, str]] = []
        for turn in range(MAX_LINEAGE_DEPTH + 20):  # a long co-written story, turn by turn
            art = deep.add_bytes(f"turn {turn}".encode(), ".txt", kind="story", parents=parents)
            parents = [(art.id, "continuation-of")]
        ancestors = deep.ancestors(art.id)
        assert [a.depth for a in ancestors] == list(range(1, MAX_LINEAGE_DEPTH + 1))
        node, generations = deep.lineage_tree(art.id), 0
        while node.parents:
            (node,) = node.parents
            generations += 1
        assert generations == MAX_LINEAGE_DEPTH


def test_same_bytes_are_stored_once_and_new_lineage_is_merged(store: Store) -> None:
    p1 = store.add_bytes(b"p1", ".txt", kind="story")
    p2 = store.add_bytes(b"p2", ".txt", kind="story")
    one = store.add_bytes(b"same", ".txt", kind="story", seed=1, parents=[(p1.id, "input")])
    two = store.add_bytes(
        b"same", ".txt", kind="story", seed=2, parents=[(p1.id, "input"), (p2.id, "input")]
    )

    assert one.id == two.id == sha(b"same")
    assert two.seed == 1  # the first record describes how the bytes were made
    assert len(store.list_artifacts()) == 3
    assert sorted(e.artifact.id for e in store.parents(one.id)) == sorted([p1.id, p2.id])
    assert len([f for f in store.objects_dir.rglob("*") if f.is_file()]) == 3


def test_an_artifact_identical_to_its_parent_adds_no_self_edge(store: Store) -> None:
    art = store.add_bytes(b"x", ".txt", kind="story")
    store.add_bytes(b"x", ".txt", kind="story", parents=[(art.id, "variation-of")])
    assert store.parents(art.id) == []


def test_lookup_by_unique_prefix_and_clear_errors_otherwise(store: Store) -> None:
    # find two contents whose ids share a 4-digit prefix, to make an ambiguous one
    by_prefix: dict[str, bytes] = {}
    n = 0
    while True:
        data = str(n).encode()
        if (hit := by_prefix.setdefault(sha(data)[:4], data)) is not data:
            break
        n += 1
    first = store.add_bytes(hit, ".txt", kind="story")
    store.add_bytes(data, ".txt", kind="story")

    assert store.get(first.id[:10].upper()).id == first.id
    with pytest.raises(NotFoundInStore, match="ambiguous") as ambiguous:
        store.get(first.id[:4])
    assert first.id[:12] in str(ambiguous.value)
    with pytest.raises(NotFoundInStore, match="no artifact with id 0000000") as unknown:
        store.get("0000000")
    assert "\n" not in str(unknown.value)
    for bad in ("abc", "not-hex!", "a" * 65, ""):
        with pytest.raises(NotFoundInStore, match="at least 4"):
            store.get(bad)


def test_bad_relation_kind_and_parent_leave_nothing_behind(store: Store) -> None:
    parent = store.add_bytes(b"parent", ".txt", kind="story")
    with pytest.raises(UserError, match="unknown lineage relation 'copied-from'"):
        store.add_bytes(b"child", ".txt", kind="story", parents=[(parent.id, "copied-from")])
    with pytest.raises(UserError, match="bad artifact kind"):
        store.add_bytes(b"child", ".txt", kind="Big Kind")
    with pytest.raises(NotFoundInStore, match="no artifact with id"):
        store.add_bytes(b"child", ".txt", kind="story", parents=[("ffffffff", "input")])
    with pytest.raises(MissingFile):
        store.add_file(store.objects_dir / "nope.mid", kind="melody")
    assert [a.id for a in store.list_artifacts()] == [parent.id]
    assert len([f for f in store.objects_dir.rglob("*") if f.is_file()]) == 1


def test_list_is_newest_first_and_filters_by_kind_and_project(store: Store) -> None:
    tune = store.add_bytes(b"1", ".mid", kind="melody", project="album")
    picture = store.add_bytes(b"2", ".png", kind="image")
    later_tune = store.add_bytes(b"3", ".mid", kind="melody")

    assert [a.id for a in store.list_artifacts()] == [later_tune.id, picture.id, tune.id]
    assert [a.id for a in store.list_artifacts(kind="melody")] == [later_tune.id, tune.id]
    assert [a.id for a in store.list_artifacts(project="album")] == [tune.id]
    assert len(store.list_artifacts(limit=1)) == 1
    with pytest.raises(UserError, match="limit must be at least 1"):
        store.list_artifacts(limit=0)
    with pytest.raises(NotFoundInStore, match="no project named 'nope'"):
        store.list_artifacts(project="nope")


def test_ratings_by_people_and_by_metrics(store: Store) -> None:
    art = store.add_bytes(b"painting", ".png", kind="image")
    store.rate(art.id[:6], 4, note="lovely light")
    store.rate(art.id, 0.31, by="machine")

    got = [(r.score, r.by, r.note) for r in store.ratings(art.id)]
    assert got == [(4.0, "human", "lovely light"), (0.31, "machine", None)]
    with pytest.raises(UserError, match="finite"):
        store.rate(art.id, float("nan"))
    with pytest.raises(UserError, match="by one of human, machine"):
        store.rate(art.id, 1, by="robot")


def test_jobs_move_through_their_states(store: Store) -> None:
    job = store.create_job("train-melody", {"steps": 100})
    assert (job.state, job.progress, job.params) == ("queued", 0.0, {"steps": 100})

    store.update_job(job.id, state="running", progress=0.5, message="step 50")
    done = store.update_job(job.id, state="done", progress=1.0, result={"loss": 0.25})
    assert done.updated >= job.updated
    again = store.get_job(job.id)
    assert (again.state, again.progress, again.message) == ("done", 1.0, "step 50")
    assert again.result == {"loss": 0.25}

    other = store.create_job("generate")
    assert [j.id for j in store.list_jobs()] == [other.id, job.id]
    assert [j.id for j in store.list_jobs(state="done")] == [job.id]
    with pytest.raises(UserError, match="job state is one of"):
        store.update_job(job.id, state="paused")
    with pytest.raises(UserError, match="from 0 to 1"):
        store.update_job(job.id, progress=1.5)
    with pytest.raises(NotFoundInStore, match="no job nope"):
        store.get_job("nope")


def test_export_copies_the_lineage_and_writes_provenance(store: Store, tmp_path: Path) -> None:
    base = store.add_bytes(b"base", ".abc", kind="melody", seed=3, params={"key": "G"})
    model = store.add_bytes(b"model", ".safetensors", kind="model")
    child = store.add_bytes(
        b"child",
        ".mid",
        kind="melody",
        seed=9,
        model_id="vae",
        parents=[(base.id, "continuation-of"), (model.id, "generated-by")],
    )
    store.rate(child.id, 5, note="keeper")

    out = store.export(child.id[:8], tmp_path / "export")

    files = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "provenance.json"}
    assert files == {
        f"{child.id}.mid": b"child",
        f"{base.id}.abc": b"base",
        f"{model.id}.safetensors": b"model",
    }
    doc = json.loads((out / "provenance.json").read_text())
    assert (doc["artifact"], doc["schema_version"]) == (child.id, 1)
    records = {r["id"]: r for r in doc["artifacts"]}
    assert set(records) == {child.id, base.id, model.id}
    top = records[child.id]
    assert (top["kind"], top["media_type"], top["seed"], top["model_id"]) == (
        "melody",
        "audio/midi",
        9,
        "vae",
    )
    assert sorted((p["id"], p["relation"]) for p in top["parents"]) == sorted(
        [(base.id, "continuation-of"), (model.id, "generated-by")]
    )
    assert [(r["score"], r["by"], r["note"]) for r in top["ratings"]] == [(5.0, "human", "keeper")]
    assert records[base.id]["params"] == {"key": "G"}
    assert records[base.id]["file"] == f"{base.id}.abc"
    assert records[base.id]["parents"] == [] and records[base.id]["ratings"] == []

    with pytest.raises(BadInputFile, match="is a file"):
        store.export(child.id, out / "provenance.json")


def test_suffixes_and_stored_paths_cannot_escape_the_objects_dir(
    store: Store, tmp_path: Path
) -> None:
    for suffix in ("../../evil", "/../x", ".m/../../id", ".."):
        with pytest.raises(UserError, match="bad file suffix"):
            store.add_bytes(b"escape", suffix, kind="story")
    assert not list(tmp_path.parent.rglob("*evil*"))
    assert not any(store.objects_dir.rglob("*"))

    odd = tmp_path / "clip.mid;rm -rf"  # a suffix that is not one is dropped, not stored
    odd.write_bytes(b"odd name")
    kept = store.add_file(odd, kind="story")
    assert store.path_of(kept) == store.objects_dir.resolve() / kept.id[:2] / kept.id[2:]

    # a record someone edited by hand is refused, not followed
    engine = create_engine(store.url)
    with engine.begin() as conn:
        conn.execute(update(Artifact).values(path="../../../etc/passwd"))
    engine.dispose()
    tampered = store.get(kept.id)
    with pytest.raises(UserError, match="outside the objects folder"):
        store.path_of(tampered)
    with pytest.raises(UserError, match="outside the objects folder"):
        store.export(kept.id, tmp_path / "out")


def test_sqlite_store_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with Store(f"sqlite:///{path}", objects_dir=tmp_path / "objects") as opened:
        opened.add_bytes(b"x", ".txt", kind="story")
        conn = opened._engine.raw_connection()
        try:
            assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
        finally:
            conn.close()
    # WAL is a property of the file: a plain connection sees it too
    with sqlite3.connect(path) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_default_store_lives_in_the_home_folder(home: Path) -> None:
    with Store() as default:
        art = default.add_bytes(b"hello", ".txt", kind="story")
        assert default.path_of(art).is_relative_to((home / "objects").resolve())
    assert (home / "store.db").is_file()


def test_unusable_urls_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot use store URL"):
        Store("nosuchdb://x", objects_dir=tmp_path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database, just some bytes" * 100)
    with pytest.raises(UserError, match="cannot open the store at .*junk.db"):
        Store(f"sqlite:///{junk}", objects_dir=tmp_path)
    with pytest.raises(UserError, match="cannot open the store at") as refused:
        Store("postgresql://nobody:secret@127.0.0.1:1/none", objects_dir=tmp_path)
    assert "secret" not in str(refused.value)


BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_store.py"


def test_four_processes_writing_at_once_lose_nothing_on_either_backend(postgres_url: str) -> None:
    """The load benchmark, small: 4 processes x 25 writes with a parent edge each."""
    done = subprocess.run(
        [sys.executable, BENCH, "--processes", "4", "--writes", "25"]
        + ["--postgres-url", postgres_url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(done.stdout)
    for backend in ("sqlite", "postgres"):
        got = figures[backend]
        assert (got["rows"], got["edges"], got["objects"]) == (100, 100, 100), got
        assert got["verify_clean"] and got["writers_overlapped"], got
        assert got["writes_per_s"] > 0
        # a fresh reader opened and listed while a writer held its lock, well within the
        # store's 30 s busy timeout
        assert got["open_and_list_ms_while_locked"]["max"] < 10_000, got


def _object_files(store: Store) -> list[Path]:
    return sorted(f for f in store.objects_dir.rglob("*") if f.is_file())


def test_a_version_1_store_is_migrated_with_its_data_intact(tmp_path: Path) -> None:
    path, objects = tmp_path / "old.db", tmp_path / "objects"
    tune, variation = b"old tune", b"old variation"
    with sqlite3.connect(path) as old:
        old.executescript((Path(__file__).parent / "store_v1_sqlite.sql").read_text())
        old.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        for data, seed in ((tune, 7), (variation, 8)):
            old.execute(
                "INSERT INTO artifact (id, kind, media_type, path, size, params, seed, model_id,"
                " created) VALUES (?, 'melody', 'audio/midi', ?, ?, '{\"bars\": 4}', ?, 'vae@1',"
                " '2026-01-02 03:04:05.000000')",
                (sha(data), f"{sha(data)[:2]}/{sha(data)[2:]}.mid", len(data), seed),
            )
            (objects / sha(data)[:2]).mkdir(parents=True, exist_ok=True)
            (objects / sha(data)[:2] / f"{sha(data)[2:]}.mid").write_bytes(data)
        old.execute(
            "INSERT INTO lineage (parent_id, child_id, relation) VALUES (?, ?, 'variation-of')",
            (sha(tune), sha(variation)),
        )
        old.execute(
            "INSERT INTO rating (artifact_id, score, \"by\", created) VALUES (?, 4, 'human',"
            " '2026-01-02 03:04:06.000000')",
            (sha(variation),),
        )

    with Store(f"sqlite:///{path}", objects_dir=objects) as opened:
        kept = opened.get(sha(variation)[:8])
        assert (kept.seed, kept.model_id, kept.params) == (8, "vae@1", {"bars": 4})
        assert kept.created.isoformat() == "2026-01-02T03:04:05+00:00"
        assert [(e.artifact.id, e.relation) for e in opened.parents(kept.id)] == [
            (sha(tune), "variation-of")
        ]
        assert [r.score for r in opened.ratings(kept.id)] == [4.0]
        assert opened.path_of(kept).read_bytes() == variation
        assert [a.id for a in opened.list_artifacts(seed=7)] == [sha(tune)]
        opened.add_bytes(b"new", ".mid", kind="melody", parents=[(kept.id, "variation-of")])
    with sqlite3.connect(path) as plain:
        assert plain.execute("SELECT value FROM meta").fetchall() == [(str(SCHEMA_VERSION),)]
        indexes = {row[0] for row in plain.execute("SELECT name FROM sqlite_master")}
    assert {"ix_artifact_seed", "ix_artifact_model_id", "ix_artifact_kind_created"} <= indexes
    assert SCHEMA_VERSION == 1 + len(MIGRATIONS) == 3


def test_a_newer_store_is_refused_in_one_line_before_anything_is_written(
    store: Store,
) -> None:
    engine = create_engine(store.url)
    with engine.begin() as conn:
        conn.execute(update(Meta).where(Meta.key == "schema_version").values(value="7"))
    engine.dispose()
    for create in (True, False):
        with pytest.raises(UserError, match="schema version 7, newer than") as refused:
            Store(store.url, objects_dir=store.objects_dir, create=create)
        assert "\n" not in str(refused.value)


def test_a_store_one_version_behind_is_brought_forward_on_either_backend(store: Store) -> None:
    kept = store.add_bytes(b"kept", ".txt", kind="story", seed=5, model_id="m@1")
    engine = create_engine(store.url)
    with engine.begin() as conn:  # back to version 1: the search indexes did not exist yet
        for name in ("ix_artifact_seed", "ix_artifact_model_id", "ix_artifact_kind_created"):
            conn.exec_driver_sql(f"DROP INDEX {name}")
        # version 2's studio added the gallery's index under its own name
        conn.exec_driver_sql(
            "CREATE INDEX ix_studio_artifact_kind_created ON artifact (kind, created DESC, id)"
        )
        conn.execute(update(Meta).where(Meta.key == "schema_version").values(value="1"))
    with Store(store.url, objects_dir=store.objects_dir) as opened:
        assert [a.id for a in opened.list_artifacts(seed=5, model="m")] == [kept.id]
    with engine.connect() as conn:
        version = conn.scalar(select(Meta.value).where(Meta.key == "schema_version"))
        indexes = {i["name"] for i in inspect(conn).get_indexes("artifact")}
    engine.dispose()
    assert version == str(SCHEMA_VERSION) == "3"
    assert {"ix_artifact_seed", "ix_artifact_model_id", "ix_artifact_kind_created"} <= indexes
    assert "ix_studio_artifact_kind_created" not in indexes


def _hold_write_lock(store: Store) -> Any:
    """Another connection in the middle of a write transaction, as a busy writer is."""
    if store.url.startswith("sqlite"):
        holder = sqlite3.connect(make_url(store.url).database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("INSERT INTO meta VALUES ('holder', 'x')")
        return holder
    engine = create_engine(store.url)
    conn = engine.connect()
    conn.begin()
    conn.exec_driver_sql("LOCK TABLE artifact IN EXCLUSIVE MODE")  # blocks every insert
    conn.exec_driver_sql("INSERT INTO meta VALUES ('holder', 'x')")
    return conn


def test_reads_go_on_and_a_blocked_write_is_one_line_while_another_writer_holds_the_lock(
    store: Store,
) -> None:
    first = store.add_bytes(b"first", ".txt", kind="story")
    holder = _hold_write_lock(store)
    try:
        start = time.monotonic()
        with Store(store.url, objects_dir=store.objects_dir, busy_timeout_s=0.3) as reader:
            assert [a.id for a in reader.list_artifacts()] == [first.id]
            assert reader.get(first.id[:6]).id == first.id
            assert time.monotonic() - start < 2.0  # no waiting for the writer
            with pytest.raises(
                StoreBusy, match="is busy: another process kept its write lock"
            ) as busy:
                reader.add_bytes(b"second", ".txt", kind="story")
            assert "\n" not in str(busy.value)
        assert time.monotonic() - start < 10
    finally:
        holder.close()
    assert [a.id for a in store.list_artifacts()] == [first.id]  # no row for the refused write


def test_verify_finds_corrupt_missing_orphan_and_temp_files_and_gc_removes_only_the_stale_unreferenced(
    store: Store,
) -> None:
    kept, corrupt, gone = (
        store.add_bytes(data, ".txt", kind="story") for data in (b"kept", b"corrupt", b"gone")
    )
    store.path_of(corrupt).write_bytes(b"not what was stored")
    store.path_of(gone).unlink()
    orphan = store.objects_dir / "ab" / "cdef.txt"  # a file whose row never came
    orphan.parent.mkdir()
    orphan.write_bytes(b"orphan")
    temp = store.path_of(kept).parent / ".cdef.txt.x1y2.tmp"  # an interrupted atomic write
    temp.write_bytes(b"half")
    young = store.objects_dir / "ab" / "young.txt"
    young.write_bytes(b"just written, its row on the way")
    hour_ago = time.time() - 3600
    for path in (orphan, temp, store.path_of(kept), store.path_of(corrupt)):
        os.utime(path, (hour_ago, hour_ago))

    report = verify(store)
    assert report.checked == 3 and not report.clean
    assert (report.corrupt, report.missing) == ([corrupt.id], [gone.id])
    assert report.orphans == ["ab/cdef.txt", "ab/young.txt"]
    assert report.temp_files == [temp.relative_to(store.objects_dir).as_posix()]

    planned = collect_garbage(store, min_age_s=600, dry_run=True)
    assert (planned.orphans, planned.too_young) == (["ab/cdef.txt"], 1)
    assert planned.temp_files == report.temp_files and orphan.exists() and temp.exists()
    done = collect_garbage(store, min_age_s=600)
    assert done.orphans == planned.orphans and done.bytes_freed == len(b"orphan") + len(b"half")
    assert not orphan.exists() and not temp.exists() and young.exists()
    # a referenced file is never collected, however old or wrong its bytes
    assert store.path_of(kept).read_bytes() == b"kept"
    assert store.path_of(corrupt).exists()
    after = verify(store)
    assert (after.orphans, after.temp_files, after.corrupt) == (["ab/young.txt"], [], [corrupt.id])


def test_an_add_writes_its_file_again_when_gc_took_it_before_the_row_came(store: Store) -> None:
    data = b"written, then collected while the row waited for the lock"
    digest = sha(data)
    target = store.objects_dir / digest[:2] / f"{digest[2:]}.txt"
    holder = _hold_write_lock(store)
    adding = threading.Thread(target=store.add_bytes, args=(data, ".txt"), kwargs={"kind": "story"})
    try:
        adding.start()
        deadline = time.monotonic() + 10
        while not target.exists():  # the file is written before the write lock is asked for
            assert time.monotonic() < deadline, "the add never wrote its file"
            time.sleep(0.005)
        time.sleep(0.2)
        assert adding.is_alive(), "the add did not wait for the lock"
        target.unlink()  # what gc, holding the lock, does to a file without a row
    finally:
        holder.close()
    adding.join(timeout=30)
    assert target.read_bytes() == data
    assert verify(store).clean


def test_re_adding_an_old_orphan_refreshes_it_so_gc_spares_it(store: Store) -> None:
    data = b"added twice"
    first = store.add_bytes(data, ".txt", kind="story")
    engine = create_engine(store.url)
    with engine.begin() as conn:  # the row is lost: its file is now an old orphan
        conn.execute(Artifact.__table__.delete())
    engine.dispose()
    hour_ago = time.time() - 3600
    os.utime(store.path_of(first), (hour_ago, hour_ago))
    again = store.add_bytes(data, ".txt", kind="story")
    assert time.time() - store.path_of(again).stat().st_mtime < 60
    assert collect_garbage(store, min_age_s=60).orphans == []
    assert store.path_of(again).read_bytes() == data and verify(store).clean


def test_list_filters_by_model_seed_time_and_note(store: Store) -> None:
    a = store.add_bytes(b"a", ".mid", kind="melody", seed=1, model_id="vae@abc", note="Dorian reel")
    b = store.add_bytes(b"b", ".mid", kind="melody", seed=2, model_id="vae@def", note="50% jig")
    c = store.add_bytes(b"c", ".png", kind="image", seed=1, model_id="gan@abc")

    def ids(**filters: Any) -> list[str]:
        return [x.id for x in store.list_artifacts(**filters)]

    assert ids(model="vae") == [b.id, a.id]
    assert ids(model="vae@abc") == [a.id] and ids(model="va") == []
    assert ids(seed=1) == [c.id, a.id] and ids(seed=1, kind="melody") == [a.id]
    assert ids(note="dorian") == [a.id] and ids(note="50%") == [b.id] and ids(note="%") == [b.id]
    assert ids(since=b.created) == [c.id, b.id]
    assert ids(until=b.created) == [a.id]
    assert ids(since=a.created, until=c.created) == [b.id, a.id]
    later = datetime.now(UTC) + timedelta(days=1)
    assert ids(since=later) == []


def test_every_record_of_an_artifact_is_plain_json(store: Store) -> None:
    tune = store.add_bytes(b"tune", ".mid", kind="melody", seed=3, project="folk")
    child = store.add_bytes(b"child", ".mid", kind="melody", parents=[(tune.id, "variation-of")])
    store.rate(child.id, 5, note="lovely")
    record = json.loads(json.dumps(store.records([child])))[0]
    assert record["parents"] == [{"id": tune.id, "relation": "variation-of"}]
    assert [r["score"] for r in record["ratings"]] == [5.0]
    assert store.records([tune])[0]["project"] == "folk"


def test_image_roles_that_name_a_relation_become_that_relation(
    store: Store, tmp_path: Path
) -> None:
    from PIL import Image

    from museforge.image.results import keep_image

    source, style = tmp_path / "seed.png", tmp_path / "style.png"
    Image.new("RGB", (4, 4), "red").save(source)
    Image.new("RGB", (4, 4), "blue").save(style)
    inputs = {"variation-of": [str(source)], "style": [str(style)]}
    made = keep_image(
        Image.new("RGB", (4, 4), "green"),
        tmp_path / "out.png",
        inputs,
        params={},
        seed=1,
        model_id="m",
        store=store,
    )
    assert sorted(e.relation for e in store.parents(made)) == ["input", "variation-of"]


def test_a_trained_model_is_recorded_with_its_data_and_init_model(
    store: Store, tmp_path: Path
) -> None:
    def model_folder(name: str, value: float) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        save_file({"w": torch.full((2, 2), value)}, folder / "model.safetensors")
        config = {"model_type": "tiny", "config": {"width": 2}, "training": {"steps": 5}}
        (folder / "config.json").write_text(json.dumps(config))
        return folder

    base, tuned = model_folder("base", 0.0), model_folder("tuned", 1.0)
    data = tmp_path / "fingerprint.json"
    data.write_text('{"files": 3, "sha256": "abc"}')

    model = record_trained_model(store, tuned, data=[data], init=base)
    assert (model.kind, model.model_id.split("@")[0]) == ("model", "tuned")
    assert model.params["config"] == {"width": 2} and model.params["training"] == {"steps": 5}
    assert store.path_of(model).read_bytes() == (tuned / "model.safetensors").read_bytes()
    parents = {e.artifact.kind: e for e in store.parents(model.id)}
    assert {k: e.relation for k, e in parents.items()} == {
        "dataset": "trained-from",
        "model": "trained-from",
    }
    assert store.path_of(parents["dataset"].artifact).read_bytes() == data.read_bytes()
    assert parents["model"].artifact.model_id.startswith("base@")
    # a result made by the model traces back to the data through it
    song = store.add_bytes(b"song", ".mid", kind="melody", parents=[(model.id, "generated-by")])
    assert {a.artifact.kind for a in store.ancestors(song.id)} == {"model", "dataset"}
    assert record_trained_model(store, tuned, data=[data]).id == model.id  # once only
    with pytest.raises(UserError, match="no such file"):
        record_trained_model(store, tuned, data=[tmp_path / "missing.npz"])
