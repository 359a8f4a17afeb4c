"""``museforge music``: melodies with a MusicVAE-style model; ``dataset`` builds its data."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from museforge.cli.run_options import (
    AllowChangeOpt,
    ForceOpt,
    KeepOpt,
    SkipNonfiniteOpt,
    keep_trained_model,
    run_folder,
    run_options,
)
from museforge.cli.transfer_options import (
    AdaptFromOpt,
    DomainAdversarialOpt,
    FreezeOpt,
    LrScaleOpt,
    domain_weight,
)
from museforge.errors import MissingFile, require_file
from museforge.music.sampling import SAMPLE_TEMPERATURE, SAMPLE_TOP_P

app = typer.Typer(
    help="Melodies: learn from MIDI, MusicXML and ABC tunes with a MusicVAE-style model.",
    no_args_is_help=True,
)
dataset_app = typer.Typer(
    help="Melody data sets: parse tunes once into a cache of training windows.",
    no_args_is_help=True,
)
app.add_typer(dataset_app, name="dataset")


@dataset_app.command("build")
def build(
    out: Annotated[
        Path, typer.Option(help="The cache file to write (.npz); its folder is created.")
    ],
    source: Annotated[
        str,
        typer.Option(
            help='"corpus" for music21\'s folk tunes and Bach chorales, or a folder or file '
            "of MIDI, MusicXML and ABC."
        ),
    ] = "corpus",
    jobs: Annotated[
        int | None, typer.Option(help="Parallel parsing processes (default: one per core).")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(help="Read only this many tunes, spread over the source (for a quick try)."),
    ] = None,
) -> None:
    """Parse melodies from SOURCE and cache them for training."""
    from museforge.music.data import build_dataset, load_dataset

    started = time.perf_counter()
    path = build_dataset(source, out, jobs=jobs, limit=limit)
    seconds = time.perf_counter() - started
    console = Console()
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in {seconds:.1f} s")
    _print_summary(load_dataset(path).summary(), console)


@dataset_app.command("info")
def info(
    file: Annotated[
        Path, typer.Argument(help="A cache file written by `museforge music dataset build`.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Show what a melody cache holds: tunes, melodies, windows per split, skipped files."""
    from museforge.music.data import load_dataset

    summary = load_dataset(file).summary()
    if as_json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        _print_summary(summary, Console())


def _print_summary(summary: dict, console: Console) -> None:
    facts = Table(show_header=False, box=None)
    facts.add_row("source", summary["source"])
    facts.add_row("files", str(summary["files"]))
    facts.add_row("tunes", str(summary["tunes"]))
    facts.add_row("melodies", str(summary["melodies"]))
    low, high = summary["pitch_range"] or ("-", "-")
    facts.add_row("pitch range", f"MIDI {low}..{high}")
    meters = ", ".join(f"{name} {count}" for name, count in list(summary["meters"].items())[:8])
    facts.add_row("meters (melodies)", meters)
    skipped = summary["skipped"]
    reasons = "; ".join(f"{problem}: {count}" for problem, count in skipped["problems"].items())
    facts.add_row(
        "skipped",
        f"{skipped['tunes']} tunes in {skipped['files']} files"
        + (f" ({reasons})" if reasons else ""),
    )
    console.print(facts)

    splits = Table("split", "tunes", "melodies", "2-bar windows", "16-bar windows")
    for name, split in summary["splits"].items():
        splits.add_row(
            name,
            *(str(split[k]) for k in ("tunes", "melodies", "windows_2_bars", "windows_16_bars")),
        )
    console.print(splits)


# --- making melodies -------------------------------------------------------------------

DEFAULT_MODELS = {2: "melody-2bar", 16: "melody-16bar"}
KEY_SHARE_MELODIES = 256  # samples (and held-out windows) whose key music21 analyses

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="A shipped model name (melody-2bar, melody-16bar) or a model folder. "
        "Default: melody-2bar (or the model for --bars where the command has it).",
    ),
]
SeedOpt = Annotated[int, typer.Option(min=0, help="Seed: the same seed gives the same melodies.")]
OutOpt = Annotated[
    Path, typer.Option("--out", "-o", help="Folder for MIDI, MusicXML, WAV and PNG files.")
]
TemperatureOpt = Annotated[
    float,
    typer.Option(min=0.0, help="Sampling temperature: 0 always takes the likeliest note."),
]
TopPOpt = Annotated[
    float,
    typer.Option(
        "--top-p",
        min=0.0,
        max=1.0,
        help="Nucleus sampling: each note is drawn from the fewest likeliest events whose "
        "probabilities sum to this (1 = all events).",
    ),
]
FormatOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--format",
        help="Output formats (repeat): mid, musicxml, wav, png. Default: all four.",
    ),
]


def _load(model: str | None, bars: int | None = None):
    """The model, and the name or folder it was loaded from."""
    from museforge.music.stacked import load_melody_vae

    name = model or DEFAULT_MODELS[bars or 2]
    return load_melody_vae(name), name


def _formats(values: list[str] | None) -> list[str]:
    from museforge.music.render import FORMATS, check_formats

    return check_formats(values or list(FORMATS))


def _parse_attrs(values: list[str] | None) -> dict[str, float]:
    from museforge.music.attributes import ATTRIBUTES

    amounts: dict[str, float] = {}
    for value in values or []:
        name, sep, amount = value.partition("=")
        try:
            if not sep or name not in ATTRIBUTES:
                raise ValueError
            amounts[name] = float(amount)
        except ValueError:
            raise typer.BadParameter(
                f"{value!r}: write NAME=AMOUNT with NAME one of {', '.join(ATTRIBUTES)}",
                param_hint="--attr",
            ) from None
    return amounts


def _keep(
    events,
    out: Path,
    *,
    stem: str,
    model: str,
    seed: int,
    params: dict,
    formats: list[str],
    inputs: tuple[tuple[Path, str], ...] = (),
) -> None:
    """Render the melodies, record them (with the model that made them and the input files
    they came from) in the store, and say where they are."""
    from museforge.core.model_records import record_trained_model
    from museforge.core.store import Store
    from museforge.music.results import keep_input, keep_melodies

    with Store() as store:
        made_by = record_trained_model(store, model)
        parents = [(made_by.id, "generated-by")]
        parents += [(keep_input(store, path), relation) for path, relation in inputs]
        results = keep_melodies(
            events,
            out,
            stem=stem,
            store=store,
            model_id=made_by.model_id,
            seed=seed,
            params=params,
            parents=parents,
            formats=formats,
        )
    console = Console()
    for r in results:
        console.print(f"{r.files['mid']}  [dim]{r.artifact_id[:12]}[/dim]")
    console.print(f"[green]{len(results)} melodies[/green] in {out} (store ids shown)")


@app.command("sample")
def sample_cmd(
    n: Annotated[int, typer.Option("--n", min=1, max=1000, help="How many melodies.")] = 4,
    seed: SeedOpt = 0,
    temperature: TemperatureOpt = SAMPLE_TEMPERATURE,
    top_p: TopPOpt = SAMPLE_TOP_P,
    bars: Annotated[
        int, typer.Option(help="2 or 16: picks melody-2bar or melody-16bar unless --model.")
    ] = 2,
    model: ModelOpt = None,
    attr: Annotated[
        list[str] | None,
        typer.Option(
            help="Steer with an attribute vector, e.g. density=+1 (also syncopation, "
            "interval, in_key); repeat for several."
        ),
    ] = None,
    out: OutOpt = Path("museforge-out/melodies"),
    fmt: FormatOpt = None,
) -> None:
    """Make new melodies from random codes of the model's latent space."""
    import torch

    from museforge.music.generate import apply_attributes, decode

    if bars not in DEFAULT_MODELS:
        raise typer.BadParameter("must be 2 or 16", param_hint="--bars")
    amounts, formats = _parse_attrs(attr), _formats(fmt)
    vae, mid = _load(model, bars)
    z = vae.draw_codes(n, torch.Generator().manual_seed(seed))
    z = apply_attributes(vae, z, amounts)
    events = decode(vae, z, seed=seed, temperature=temperature, top_p=top_p)
    params = {
        "command": "sample",
        "temperature": temperature,
        "top_p": top_p,
        "attributes": amounts,
    }
    _keep(events, out, stem=f"sample-s{seed}", model=mid, seed=seed, params=params, formats=formats)


@app.command("interpolate")
def interpolate_cmd(
    a: Annotated[Path, typer.Argument(help="The melody to start from (MIDI, MusicXML or ABC).")],
    b: Annotated[Path, typer.Argument(help="The melody to end at.")],
    steps: Annotated[
        int, typer.Option(min=2, max=64, help="Melodies on the path, ends included.")
    ] = 5,
    model: ModelOpt = None,
    seed: SeedOpt = 0,
    out: OutOpt = Path("museforge-out/interpolation"),
    fmt: FormatOpt = None,
) -> None:
    """Morph melody A into melody B through the latent space (slerp between their codes)."""
    from museforge.music.generate import interpolate
    from museforge.music.melody_file import read_melody

    formats = _formats(fmt)
    require_file(a), require_file(b)
    vae, mid = _load(model)
    first, last = read_melody(a, vae.steps), read_melody(b, vae.steps)
    events = interpolate(vae, first, last, steps)
    params = {"command": "interpolate", "steps": steps}
    inputs = ((a, "interpolation-of"), (b, "interpolation-of"))
    _keep(
        events,
        out,
        stem="interpolation",
        model=mid,
        seed=seed,
        params=params,
        formats=formats,
        inputs=inputs,
    )


@app.command("continue")
def continue_cmd(
    file: Annotated[Path, typer.Argument(help="The melody to go on from (MIDI, MusicXML or ABC).")],
    bars: Annotated[int, typer.Option(min=1, max=64, help="How many bars to add.")] = 2,
    n: Annotated[int, typer.Option("--n", min=1, max=100, help="How many continuations.")] = 1,
    model: ModelOpt = None,
    seed: SeedOpt = 0,
    temperature: TemperatureOpt = SAMPLE_TEMPERATURE,
    top_p: TopPOpt = SAMPLE_TOP_P,
    out: OutOpt = Path("museforge-out/continuation"),
    fmt: FormatOpt = None,
) -> None:
    """Continue a melody by BARS bars, keeping what it began with."""
    import numpy as np

    from museforge.music.generate import continue_melody
    from museforge.music.melody_file import read_melody

    formats = _formats(fmt)
    melody = read_melody(file)
    vae, mid = _load(model)
    events = [
        continue_melody(
            vae, melody, bars=bars, seed=seed + i, temperature=temperature, top_p=top_p
        )[0]
        for i in range(n)
    ]
    params = {"command": "continue", "bars": bars, "temperature": temperature, "top_p": top_p}
    _keep(
        np.stack(events),
        out,
        stem=f"continuation-s{seed}",
        model=mid,
        seed=seed,
        params=params,
        formats=formats,
        inputs=((file, "continuation-of"),),
    )


@app.command("vary")
def vary_cmd(
    file: Annotated[Path, typer.Argument(help="The melody to vary (MIDI, MusicXML or ABC).")],
    amount: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="How far from the original: 0 rebuilds it, 1 ignores it."
        ),
    ] = 0.3,
    n: Annotated[int, typer.Option("--n", min=1, max=100, help="How many variations.")] = 4,
    model: ModelOpt = None,
    seed: SeedOpt = 0,
    temperature: TemperatureOpt = 0.0,
    out: OutOpt = Path("museforge-out/variations"),
    fmt: FormatOpt = None,
) -> None:
    """Variations of a melody: its code moved part of the way towards random codes."""
    from museforge.music.generate import vary
    from museforge.music.melody_file import read_melody

    formats = _formats(fmt)
    require_file(file)
    vae, mid = _load(model)
    events = vary(
        vae, read_melody(file, vae.steps), amount=amount, n=n, seed=seed, temperature=temperature
    )
    params = {"command": "vary", "amount": amount, "temperature": temperature}
    _keep(
        events,
        out,
        stem=f"variation-s{seed}",
        model=mid,
        seed=seed,
        params=params,
        formats=formats,
        inputs=((file, "variation-of"),),
    )


# --- training and evaluation -------------------------------------------------------------


def _dataset_for(data: str, out: Path) -> Path:
    """A melody cache for ``data``: a cache file as it is; "corpus" cached once in the home
    folder; a folder or music file parsed into ``out/dataset.npz`` (reused when there)."""
    from museforge.core.home import home
    from museforge.music.data import build_dataset

    if data.endswith(".npz"):
        return require_file(data, "melody cache")
    target = home() / "cache" / "corpus-melodies.npz" if data == "corpus" else out / "dataset.npz"
    if not target.is_file():
        Console(stderr=True).print(f"parsing {data} into {target} (once)")
        build_dataset(data, target)
    return target


@app.command("train")
def train_cmd(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run folder: checkpoint, metrics, model/.")
    ],
    data: Annotated[
        str,
        typer.Option(
            help='"corpus" (music21\'s folk tunes and chorales), a folder or file of MIDI, '
            "MusicXML and ABC, or a cache from `music dataset build`."
        ),
    ] = "corpus",
    bars: Annotated[
        int,
        typer.Option(
            help="Window length: 2 (a flat model) or 16 (a conductor over --segment-model)."
        ),
    ] = 2,
    segment_model: Annotated[
        str,
        typer.Option(
            help="--bars 16: the trained 2-bar model that plays each 2-bar segment (kept as is)."
        ),
    ] = "melody-2bar",
    steps: Annotated[
        int | None, typer.Option(min=1, help="Training steps (default: the model's recipe).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Windows per step.")] = None,
    lr: Annotated[float | None, typer.Option(min=0.0, help="Peak learning rate.")] = None,
    seed: SeedOpt = 0,
    init: Annotated[
        str | None,
        typer.Option(help="Fine-tune from this shipped model or model folder (transfer learning)."),
    ] = None,
    freeze_encoder: Annotated[
        bool, typer.Option(help="With --init: train the decoder only, keep the encoder as it is.")
    ] = False,
    resume: Annotated[
        bool, typer.Option(help="Continue the run in --out from its last checkpoint.")
    ] = False,
    checkpoint_every: Annotated[
        int | None, typer.Option(min=1, help="Steps between checkpoints (default: the recipe's).")
    ] = None,
    keep: KeepOpt = 3,
    skip_nonfinite: SkipNonfiniteOpt = 0,
    force: ForceOpt = False,
    allow_config_change: AllowChangeOpt = False,
    freeze: FreezeOpt = None,
    lr_scale: LrScaleOpt = None,
    adapt_from: AdaptFromOpt = None,
    domain_adversarial: DomainAdversarialOpt = None,
) -> None:
    """Train a melody VAE (MusicVAE-style) on tunes; Ctrl-C saves a checkpoint, --resume goes on.

    Under torchrun every process runs this command: rank 0 parses the tunes and writes the
    files, the others share its cache and the work.
    """
    from dataclasses import replace

    from museforge import cli
    from museforge.core.checkpoints import resolve_model_dir
    from museforge.core.distributed import is_main_process, main_process_first
    from museforge.core.transfer import parse_scales
    from museforge.music.train import (
        StackedTrainConfig,
        TransferOptions,
        default_config,
        train_melody_vae,
        train_stacked_vae,
    )

    if bars not in DEFAULT_MODELS:
        raise typer.BadParameter("must be 2 or 16", param_hint="--bars")
    if freeze_encoder and init is None:
        raise typer.BadParameter(
            "needs --init (a trained model to keep the encoder of)", param_hint="--freeze-encoder"
        )
    if data != "corpus" and not Path(data).expanduser().exists():
        raise MissingFile(data, "file or folder of tunes")
    if bars == 16 and init is None:
        resolve_model_dir(segment_model)  # a wrong name fails before the tunes are read
    options = run_options(keep, skip_nonfinite, force, allow_config_change)
    changes = {
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "checkpoint_every": checkpoint_every,
    }
    changes = {"seed": seed} | {k: v for k, v in changes.items() if v is not None}
    transferring = bool(freeze or lr_scale or adapt_from)
    domain_adversarial = domain_weight(adapt_from, domain_adversarial)
    if bars == 16 and transferring:
        raise typer.BadParameter(
            "--freeze, --lr-scale and --adapt-from train a 2-bar model", param_hint="--bars"
        )
    if (freeze or adapt_from) and init is None:
        raise typer.BadParameter(
            "needs --init (the trained model to carry over)", param_hint="--init"
        )
    if (
        adapt_from is not None
        and adapt_from != "corpus"
        and not Path(adapt_from).expanduser().exists()
    ):
        raise MissingFile(adapt_from, "file or folder of source tunes")
    if bars == 16:
        run, config = train_stacked_vae, StackedTrainConfig(segment_model=segment_model)
    else:
        run, config = train_melody_vae, default_config(bars)
    extra = {}
    with run_folder(out, options) as folder:
        with main_process_first():
            cache = _dataset_for(data, folder)
            if adapt_from is not None:
                source = _dataset_for(adapt_from, folder / "source")
        if transferring:
            extra["transfer"] = TransferOptions(
                tuple(freeze or ()),
                parse_scales(lr_scale),
                source if adapt_from is not None else None,
                domain_adversarial,
            )
        result = run(
            cache,
            folder,
            replace(config, **changes),
            resume=resume,
            init=init,
            freeze_encoder=freeze_encoder,
            command=cli.invoked,
            options=options,
            **extra,
        )
    keep_trained_model(result.model_dir, data=[cache], init=init)
    if not is_main_process():
        return
    Console().print(
        f"[green]trained[/green] {result.steps} steps, loss {result.final_loss:.3f}, "
        f"{result.wall_time:.0f} s; model in {result.model_dir}"
    )


@app.command("evaluate")
def evaluate_cmd(
    model: ModelOpt = None,
    data: Annotated[
        str,
        typer.Option(
            help='Held-out tunes: "corpus", a cache from `music dataset build`, or a folder.'
        ),
    ] = "corpus",
    samples: Annotated[
        int, typer.Option(min=2, max=100_000, help="Melodies to sample for the style measures.")
    ] = 1000,
    windows: Annotated[
        int, typer.Option(min=1, help="Held-out windows to rebuild for the accuracy figures.")
    ] = 2000,
    temperature: TemperatureOpt = SAMPLE_TEMPERATURE,
    top_p: TopPOpt = SAMPLE_TOP_P,
    seed: SeedOpt = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Measure a model on held-out tunes: reconstruction accuracy, style overlap, copying."""
    import numpy as np

    from museforge.core.checkpoints import model_id
    from museforge.music.data import load_dataset
    from museforge.music.evaluate import reconstruction_accuracy
    from museforge.music.generate import sample
    from museforge.music.key_share import mean_key_share
    from museforge.music.metrics import evaluate_samples

    vae, mid = _load(model)
    with tempfile.TemporaryDirectory() as scratch:  # where a folder of tunes is parsed
        cache = load_dataset(_dataset_for(data, Path(scratch)))
    bars = vae.config.bars
    heldout, train_windows = cache.windows(bars, "eval"), cache.windows(bars, "train")
    if len(heldout) == 0:
        raise typer.BadParameter(f"{data} has no held-out {bars}-bar windows", param_hint="--data")
    started = time.perf_counter()
    report = {
        "model": model_id(mid),
        "bars": bars,
        "heldout_windows": min(windows, len(heldout)),
        "held_out_near_duplicates": len(cache.near_duplicate_tunes),
    }
    report |= reconstruction_accuracy(vae, heldout[:windows], seed=seed)
    made = sample(vae, samples, seed=seed, temperature=temperature, top_p=top_p)
    report |= evaluate_samples(made, heldout, train_windows, seed=seed)
    spread = np.linspace(0, len(heldout) - 1, min(KEY_SHARE_MELODIES, len(heldout))).astype(int)
    report["in_key_share"] = mean_key_share(made[:KEY_SHARE_MELODIES])
    report["in_key_share_heldout"] = mean_key_share(heldout[spread])
    report["temperature"] = temperature
    report["top_p"] = top_p
    report["seconds"] = round(time.perf_counter() - started, 2)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    _print_evaluation(report, Console())


def _print_evaluation(report: dict, console: Console) -> None:
    console.print(f"[bold]{report['model']}[/bold] on {report['heldout_windows']} held-out windows")
    console.print(
        f"reconstruction accuracy: teacher-forced {report['recon_acc_teacher_forced']:.3f}, "
        f"greedy {report['recon_acc_greedy']:.3f}, sampled {report['recon_acc_sampled']:.3f}"
    )
    if "seam_ties_held" in report:
        console.print(
            f"notes tied over a 2-bar seam held in the rebuilt melodies: "
            f"{_share(report['seam_ties_held'])}; other seams held: "
            f"{_share(report['seam_ties_false'])}"
        )
    table = Table(title=f"{report['samples']} samples against {report['heldout']} held-out windows")
    for column in ("feature", "generated mean", "held-out mean", "overlap"):
        table.add_column(column)
    for name, f in report["features"].items():
        table.add_row(
            name, f"{f['generated_mean']:.3f}", f"{f['heldout_mean']:.3f}", f"{f['overlap']:.3f}"
        )
    console.print(table)
    console.print(
        f"mean overlap {report['overlap_mean']:.3f}; "
        f"found verbatim in the training set: {report['verbatim_share']:.1%}"
    )
    console.print(
        f"notes in the key music21 finds: samples {_share(report['in_key_share'])}, "
        f"held-out {_share(report['in_key_share_heldout'])}; held-out tunes left out as "
        f"near-duplicates of training tunes: {report['held_out_near_duplicates']}"
    )


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@app.command("embed")
def embed_cmd(
    source: Annotated[
        str,
        typer.Argument(
            help='"corpus" (music21\'s folk tunes and chorales), a folder or file of MIDI, '
            "MusicXML and ABC, or a cache from `music dataset build`."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for features.safetensors and items.csv.")
    ],
    model: ModelOpt = None,
    probe: Annotated[
        bool,
        typer.Option(help="Probe the features for the tunes' origins (when they have one)."),
    ] = True,
    seed: SeedOpt = 0,
) -> None:
    """Write each tune's features (its mean latent code) for `museforge map` and your tools,
    and say how well a linear probe reads the tunes' origins from them."""
    from museforge.core.feature_map import probe_line, write_features, write_probe
    from museforge.music.data import load_dataset
    from museforge.music.embed import embed_tunes

    if source not in ("corpus",) and not Path(source).expanduser().exists():
        raise MissingFile(source, "file or folder of tunes")
    vae, _ = _load(model)
    with tempfile.TemporaryDirectory() as scratch:
        dataset = load_dataset(_dataset_for(source, Path(scratch)))
    features, items = embed_tunes(vae, dataset)
    write_features(out, features, items)
    console = Console()
    console.print(f"{len(items)} tunes -> {out} (features of {features.shape[1]} numbers)")
    report = write_probe(out, features, items, seed) if probe else None
    if report is not None:
        console.print(probe_line(report, "origins"))
