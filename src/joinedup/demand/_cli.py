"""``joinedup demand ...``: classify, review, train, evaluate, audit, build the model."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from joinedup._options import WorkspaceOpt
from joinedup.errors import JoinedupError

app = typer.Typer(
    name="demand",
    help="Value or failure demand: journey rules, a text model, review, training, audit.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

ModelOpt = Annotated[
    Path | None, typer.Option("--model", help="Model file (default: the shipped model).")
]
EmbeddingsOpt = Annotated[
    bool | None,
    typer.Option(
        "--embeddings/--no-embeddings",
        help=(
            "Without --model: use the shipped embedding model, or the default one "
            "(default: the embedding model when the embeddings extra is installed)."
        ),
    ),
]
SettingsOpt = Annotated[
    Path | None, typer.Option("--settings", help="YAML file of thresholds and rule settings.")
]


def _friendly(fn: F) -> F:
    """Print joinedup's own errors as one line and exit 1, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except JoinedupError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None
        except ValidationError as exc:
            err.print(f"[bold red]error:[/] invalid settings: {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _counts(title: str, counts: dict[str, int]) -> Table:
    total = sum(counts.values()) or 1
    t = Table(title, "contacts", "share")
    for k, v in sorted(counts.items(), key=lambda kv: -kv[1]):
        t.add_row(k, f"{v:,}", f"{v / total:.1%}")
    return t


@app.command("classify")
@_friendly
def classify_cmd(
    source: Annotated[
        Path | None,
        typer.Argument(help="A CSV of notes to label (omit to label the workspace)."),
    ] = None,
    text_col: Annotated[str, typer.Option(help="Column holding the note text.")] = "note",
    out: Annotated[Path | None, typer.Option(help="Output CSV (with SOURCE).")] = None,
    workspace: WorkspaceOpt = Path("workspace"),
    model: ModelOpt = None,
    embeddings: EmbeddingsOpt = None,
    settings: SettingsOpt = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes reading the workspace's notes: one per core pays from a few "
            "hundred thousand distinct notes.",
        ),
    ] = 1,
) -> None:
    """Label contacts as value or failure demand, with category and confidence.

    With SOURCE: copy the CSV's columns to --out and add demand_type, category,
    confidence and decided_by. Without: label every contact in the workspace (journey
    rules first, the text model for the rest) into its demand table.
    """
    from joinedup import demand

    s = demand.load_settings(settings)
    m = demand.load_model(model, embeddings=embeddings)
    if source is not None:
        target = out or source.with_name(source.stem + "-demand.csv")
        with _progress() as bar:
            task = bar.add_task("classifying", total=None)
            counts = demand.classify_file(
                source,
                target,
                text_col=text_col,
                model=m,
                settings=s,
                progress=lambda n: bar.update(task, completed=n),
            )
        console.print(_counts("category", counts))
        console.print(f"Wrote {target}")
        return
    from joinedup.workspace import Workspace

    with (
        Workspace(workspace, create=False) as ws,
        ws.run("demand classify", settings=s.model_dump()) as run,
        _progress() as bar,
    ):
        task = bar.add_task("classifying", total=None)
        summary = demand.classify(
            ws,
            model=m,
            settings=s,
            progress=lambda n, total: bar.update(task, completed=n, total=total),
            workers=workers,
        )
        run.outputs["demand"] = summary.as_dict()
    console.print(_counts("category", summary.by_category))
    console.print(_counts("decided by", summary.by_decider))
    if summary.by_cause:
        console.print(_counts("root cause", summary.by_cause))
    console.print(
        f"{summary.contacts:,} contacts. Rules and text disagreed on the type of "
        f"{summary.type_disagreements:,} and on the failure category of "
        f"{summary.category_disagreements:,} (the text's category kept for "
        f"{summary.refined_by_text:,}). {summary.caused_elsewhere:,} failure contacts "
        "were caused by another organisation."
    )


@app.command("build-model")
@_friendly
def build_model_cmd(
    out: Annotated[
        Path | None, typer.Option(help="Model file (default: the package's shipped model).")
    ] = None,
    per_category: Annotated[
        int | None,
        typer.Option(
            help="Generated notes per category (default 1500; 400 for the embedding model).",
            min=10,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the generated corpus.")] = 20261122,
    bits: Annotated[
        int, typer.Option(help="Hash bits per feature block (2^bits columns).", min=8, max=22)
    ] = 17,
    embeddings: Annotated[
        bool,
        typer.Option(
            "--embeddings",
            help="Build the embedding model (needs the embeddings extra) instead of the default.",
        ),
    ] = False,
) -> None:
    """Rebuild a shipped text model from generated notes plus hand-written examples.

    The same seed, size and bits give the same model file (for the embedding model: on
    the same versions of the encoder's libraries).
    """
    from joinedup.demand._build import build_model
    from joinedup.demand._embed import ENCODER
    from joinedup.demand._text import FeatureSettings, default_model_path, use_embeddings

    if embeddings:
        use_embeddings(True)  # a clear error when the extra is missing
    target = out or default_model_path(embeddings)
    start = time.perf_counter()
    m = build_model(
        target,
        per_category=per_category,
        seed=seed,
        settings=FeatureSettings(
            char_bits=bits, word_bits=bits, embeddings=ENCODER if embeddings else None
        ),
        progress=lambda msg: err.print(msg),
    )
    console.print(
        f"Wrote {target} ({target.stat().st_size / 1e6:.2f} MB, {len(m.classes)} categories, "
        f"temperature {m.temperature:.3f}) in {time.perf_counter() - start:.0f} s"
    )


@app.command()
@_friendly
def review(
    n: Annotated[int, typer.Option("--n", help="How many contacts to pick.", min=1)] = 50,
    out: Annotated[Path, typer.Option(help="CSV to write.")] = Path("review-sample.csv"),
    workspace: WorkspaceOpt = Path("workspace"),
    model: ModelOpt = None,
    embeddings: EmbeddingsOpt = None,
    settings: SettingsOpt = None,
) -> None:
    """Pick the contacts whose labels would teach the model most (uncertainty sampling).

    Fill in the empty category column, then run `joinedup demand train`.
    """
    from joinedup import demand
    from joinedup.workspace import Workspace

    with Workspace(workspace, create=False) as ws:
        k = demand.review_sample(
            ws,
            out,
            n=n,
            model=demand.load_model(model, embeddings=embeddings),
            settings=demand.load_settings(settings),
        )
    console.print(f"Wrote {k} contacts to {out}: fill in the category column.")


@app.command()
@_friendly
def train(
    labels: Annotated[
        Path | None,
        typer.Argument(help="CSV of labelled notes (omit to use only a workspace's corrections)."),
    ] = None,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Also learn from the labels analysts corrected in this workspace (the web "
            "service's review page).",
        ),
    ] = None,
    text_col: Annotated[str, typer.Option(help="Column holding the note text.")] = "note",
    label_col: Annotated[str, typer.Option(help="Column holding the category.")] = "category",
    out: Annotated[Path, typer.Option(help="Model file to write.")] = Path("demand-model.npz"),
    taxonomy: Annotated[Path | None, typer.Option(help="YAML file extending the taxonomy.")] = None,
    per_category: Annotated[
        int | None,
        typer.Option(
            help="Generated notes per category in the base corpus (default 1500; 400 with "
            "embeddings).",
            min=10,
        ),
    ] = None,
    embeddings: EmbeddingsOpt = None,
) -> None:
    """Retrain the text model with your labels on top of the shipped corpus.

    Labels come from a CSV, from the corrections analysts made on the web service's review
    page (--workspace; the latest correction of each contact stands), or both. Use the
    result with --model on classify, review and evaluate.
    """
    from contextlib import nullcontext

    from joinedup import demand
    from joinedup.workspace import Workspace

    tax = demand.load_taxonomy(taxonomy)
    with Workspace(workspace, create=False) if workspace is not None else nullcontext() as ws:
        m = demand.train(
            labels,
            out,
            text_col=text_col,
            label_col=label_col,
            taxonomy=tax,
            per_category=per_category,
            embeddings=embeddings,
            progress=lambda msg: err.print(msg),
            workspace=ws,
        )
    console.print(
        f"Wrote {out}: {m.meta.get('labels', 0):,} of your labels on top of "
        f"{m.meta.get('generated', 0):,} generated and {m.meta.get('hand_written', 0):,} "
        "hand-written notes."
    )


def _print_eval(ev: Any) -> None:
    t = Table("category", "precision", "recall", "F1", "support")
    for c, v in ev.per_category.items():
        t.add_row(
            c, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", str(v["support"])
        )
    console.print(t)
    # Five letters per code keep the matrix inside an 80-column terminal.
    cm = Table("true ↓ / predicted →", *[c[:5] for c in ev.labels])
    for c, row in zip(ev.labels, ev.confusion, strict=True):
        cm.add_row(c, *[str(x) for x in row])
    console.print(cm)
    console.print(
        f"{ev.n:,} contacts. value/failure accuracy {ev.binary_accuracy:.3f}; category "
        f"accuracy {ev.category_accuracy:.3f}; macro-F1 {ev.macro_f1:.3f}; sent for review "
        f"{ev.review_rate:.1%}"
        + (f", accuracy of the rest {ev.decided_accuracy:.3f}" if ev.decided_accuracy else "")
    )
    x = ev.extra
    if "caused_by_accuracy" in x:
        console.print(
            f"caused_by_org accuracy {x['caused_by_accuracy']} on {x['caused_by_n']:,} "
            f"failure contacts (received-by baseline {x['caused_by_baseline_received']}); "
            f"{x['caused_elsewhere_accuracy']} on the {x['caused_elsewhere_n']:,} caused elsewhere"
        )
        d = Table("decided by", "contacts", "type precision", "category precision")
        for k, v in x["by_decider"].items():
            d.add_row(
                k, f"{v['n']:,}", f"{v['type_precision']:.3f}", f"{v['category_precision']:.3f}"
            )
        console.print(d)
    root = x.get("root_cause")
    if root:
        r = Table("root cause", "precision", "recall", "support")
        for code, v in root["per_cause"].items():
            r.add_row(code, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['support']:,}")
        console.print(r)
        console.print(
            f"root cause accuracy {root['accuracy']} on {root['n']:,} failure contacts "
            f"({root['given']:,} given a root cause)"
        )


@app.command()
@_friendly
def evaluate(
    labels: Annotated[Path | None, typer.Argument(help="CSV of labelled notes.")] = None,
    text_col: Annotated[str, typer.Option(help="Column holding the note text.")] = "note",
    label_col: Annotated[str, typer.Option(help="Column holding the category.")] = "category",
    truth: Annotated[
        Path | None,
        typer.Option(help="A synthetic population's folder: score the workspace's labels."),
    ] = None,
    workspace: WorkspaceOpt = Path("workspace"),
    model: ModelOpt = None,
    embeddings: EmbeddingsOpt = None,
    settings: SettingsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per-category precision, recall, F1 and the confusion matrix.

    With LABELS: the text model on your labelled notes. With --truth: the workspace's
    demand table against the synthetic truth, with caused_by_org and root-cause accuracy.
    """
    from joinedup import demand

    if (labels is None) == (truth is None):
        raise demand.DemandError("give either a LABELS.csv or --truth FOLDER (not both)")
    if labels is not None:
        ev = demand.evaluate_labels(
            labels,
            text_col=text_col,
            label_col=label_col,
            model=demand.load_model(model, embeddings=embeddings),
            settings=demand.load_settings(settings),
        )
    else:
        from joinedup.workspace import Workspace

        assert truth is not None
        with Workspace(workspace, create=False) as ws:
            ev = demand.evaluate_truth(ws, truth)
    if as_json:
        console.print_json(json.dumps(ev.as_dict(), default=str))
    else:
        _print_eval(ev)


@app.command()
@_friendly
def audit(
    by: Annotated[
        str, typer.Option(help="Comma-separated attributes to group people by.")
    ] = "age_band,disability,digital",
    groups: Annotated[
        Path | None, typer.Option(help="Parquet/CSV with person_id and the attributes.")
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option(help="Synthetic population folder: true labels (and people) for errors."),
    ] = None,
    gap: Annotated[float, typer.Option(help="Flag gaps from the overall rate above this.")] = 0.05,
    confidence: Annotated[
        float, typer.Option(help="Confidence level of the intervals.", min=0.5, max=0.999)
    ] = 0.95,
    workspace: WorkspaceOpt = Path("workspace"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Failure-demand rate and classifier error rates by group, with intervals.

    A group is flagged when its rate is more than --gap from the overall rate and its
    interval excludes the overall rate.
    """
    from joinedup import demand
    from joinedup.workspace import Workspace

    attrs = [b.strip() for b in by.split(",") if b.strip()]
    with Workspace(workspace, create=False) as ws:
        a = demand.audit(ws, by=attrs, groups=groups, truth=truth, gap=gap, confidence=confidence)
    if as_json:
        console.print_json(json.dumps(a.as_dict(), default=str))
        return
    names = list(a.overall)
    t = Table("attribute", "group", "contacts", *names, "flag")
    for r in a.rows:
        cells = [f"{v:.1%} [{lo:.1%}–{hi:.1%}]" for v, lo, hi in (r.metrics[k] for k in names)]
        t.add_row(r.attribute, r.group, f"{r.contacts:,}", *cells, "; ".join(r.flags))
    console.print(t)
    console.print(
        "overall: "
        + ", ".join(f"{k} {v:.1%}" for k, v in a.overall.items())
        + f". {len(a.flagged)} group(s) flagged (gap > {a.gap:.0%}, interval excludes overall)."
    )
