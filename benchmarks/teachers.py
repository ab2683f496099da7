"""Teacher agreement: each teacher of face-expression-label, and their combination, against labels by eye.

Every face of ``models/starter/labels.csv`` labelled ``neutral`` or ``smile`` (train and test
splits; the images come from ``build_dataset.iter_sources``) is shown to every teacher that can
run here, with its hand-checked box, exactly as ``face-expression-label propose`` shows a face.
For each teacher and split: agreement per class, overall, and coverage (faces it answered).

The combination (face_expression.data.consensus) is tuned on the TRAIN split only: each
teacher's weight is the log-odds of its train agreement, and the default ``min_confidence`` is
the smallest threshold at which the combination of all teachers agrees with the labels on at
least ``--target`` of the train faces it keeps. The test split is reported with those choices,
for the combination of every teacher and with each teacher left out; a sweep shows how many faces
each threshold sets aside for review. Results: benchmarks/results/teachers.{md,json}.

Example (weights fetched once with `face-expression-label teachers --fetch all`)::

    .venv/bin/python benchmarks/teachers.py
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "models" / "starter"))

from face_expression.engine import offline  # noqa: E402

offline.prepare_environment()  # before a teacher imports torch

from face_expression.data import consensus, teachers  # noqa: E402

CLASSES = (consensus.NEUTRAL, consensus.SMILE)
SPLITS = ("train", "test", "all")
SWEEP = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def machine() -> dict[str, str]:
    from speed_report import cpu_model, load

    return {"cpu": cpu_model(), "cores": str(os.cpu_count()), "load": load()}


def collect(labels: Path, names: list[str]) -> tuple[list[dict], dict[str, float]]:
    """Every clear face with each teacher's P(smile), and each teacher's milliseconds per face."""
    import build_dataset

    rows = [r for r in csv.DictReader(labels.open()) if r["label"] in CLASSES]
    by_image: dict[str, list[dict]] = {}
    for r in rows:
        by_image.setdefault(r["image_id"], []).append(r)
    run = teachers.load(names)
    seconds = dict.fromkeys(names, 0.0)
    faces = []
    for src in build_dataset.iter_sources():
        wanted = by_image.pop(src.image_id, None)
        if not wanted:
            continue
        boxes = [tuple(float(r[k]) for k in ("x1", "y1", "x2", "y2")) for r in wanted]
        votes = {}
        for name, teacher in run.items():
            t0 = time.perf_counter()
            votes[name] = teacher(src.image, boxes)
            seconds[name] += time.perf_counter() - t0
        for k, r in enumerate(wanted):
            faces.append(
                {
                    "image_id": r["image_id"],
                    "face": int(r["face"]),
                    "label": r["label"],
                    "split": r["split"],
                    "votes": {n: votes[n][k] for n in names},
                }
            )
    if by_image:
        print(
            f"warning: {len(by_image)} labelled images not found: {sorted(by_image)[:5]} ...", file=sys.stderr
        )
    return faces, {n: round(1000 * s / max(1, len(faces)), 2) for n, s in seconds.items()}


def in_split(faces: list[dict], split: str) -> list[dict]:
    return faces if split == "all" else [f for f in faces if f["split"] == split]


def agreement(pairs: list[tuple[str, str | None]]) -> dict:
    """Agreement per class and overall over (label by eye, answer or None) pairs; None = no answer."""
    out: dict = {"faces": len(pairs)}
    answered = [(t, a) for t, a in pairs if a is not None]
    out["coverage"] = round(len(answered) / len(pairs), 3) if pairs else None
    for c in CLASSES:
        mine = [(t, a) for t, a in answered if t == c]
        out[c] = round(sum(t == a for t, a in mine) / len(mine), 3) if mine else None
        out[f"{c}_n"] = len(mine)
    out["overall"] = round(sum(t == a for t, a in answered) / len(answered), 3) if answered else None
    return out


def vote(p: float | None) -> str | None:
    return None if p is None else (consensus.SMILE if p >= 0.5 else consensus.NEUTRAL)


def combination(
    faces: list[dict], names: list[str], weights: dict[str, float], min_conf: float, unanimous: bool = False
) -> dict:
    """The combination's lean on every face, and its agreement on the faces it does not set aside."""
    props = [
        (f["label"], consensus.combine({n: f["votes"][n] for n in names}, weights, min_conf, unanimous))
        for f in faces
    ]
    every = agreement([(t, p.lean) for t, p in props])
    kept = [(t, p.label) for t, p in props if p.label != consensus.UNSURE]
    sure = agreement(kept) if kept else {"overall": None}
    return {
        **every,
        "kept": len(kept),
        "set_aside": len(faces) - len(kept),
        "set_aside_share": round((len(faces) - len(kept)) / len(faces), 3) if faces else None,
        "kept_overall": sure["overall"],
        "kept_neutral": sure.get("neutral"),
        "kept_smile": sure.get("smile"),
    }


def choose_threshold(faces: list[dict], names: list[str], weights: dict[str, float], target: float) -> float:
    """The smallest swept confidence at which the combination's kept train faces reach ``target``."""
    train = in_split(faces, "train")
    for c in SWEEP:
        r = combination(train, names, weights, c)
        if r["kept_overall"] is not None and r["kept_overall"] >= target:
            return c
    return SWEEP[-1]


def pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def markdown(report: dict) -> str:
    m, chosen = report["machine"], report["chosen"]
    lines = [
        "# Teachers: agreement with labels by eye (face-expression-label)",
        "",
        f"- Date: {report['date']}; command: `{report['command']}`",
        f"- Machine: {m['cpu']}, {m['cores']} cores; {m['load']} (shared with other "
        "developers and a training run: timings are noisy)",
        f"- Faces: every `neutral`/`smile` face of models/starter/labels.csv ({report['counts']}), "
        "shown with its hand-checked box",
        "- Agreement = share of the faces a teacher answered on which its vote (P(smile) >= 0.5) is the "
        "label by eye; coverage = share of faces it answered",
        f"- Not run here: {report['not_run'] or 'none'}",
        "",
        "## Each teacher",
        "",
        "| teacher | split | faces | coverage | neutral | smile | overall | ms / face |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, per in report["teachers"].items():
        for split in SPLITS:
            r = per[split]
            lines.append(
                f"| {name} | {split} | {r['faces']} | {pct(r['coverage'])} | {pct(r['neutral'])} | "
                f"{pct(r['smile'])} | {pct(r['overall'])} | {report['ms_per_face'][name]} |"
            )
    lines += [
        "",
        "## Combination (weights and threshold chosen on train)",
        "",
        "Weights (log-odds of train agreement): "
        + ", ".join(f"{n} {w:.2f}" for n, w in chosen["weights"].items())
        + f". Default min_confidence: {chosen['min_confidence']} (smallest with >= "
        f"{pct(report['target'])} agreement on the train faces kept).",
        "",
        "| teachers | split | faces | all faces: neutral | smile | overall | set aside for review | "
        "agreement on the rest | (neutral / smile) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, per in report["combinations"].items():
        for split in SPLITS:
            r = per[split]
            lines.append(
                f"| {label} | {split} | {r['faces']} | {pct(r['neutral'])} | {pct(r['smile'])} | "
                f"{pct(r['overall'])} | {r['set_aside']} ({pct(r['set_aside_share'])}) | "
                f"{pct(r['kept_overall'])} | {pct(r['kept_neutral'])} / {pct(r['kept_smile'])} |"
            )
    lines += [
        "",
        "## Threshold sweep (all teachers): faces set aside vs agreement on the rest",
        "",
        "| min_confidence | train: set aside | train: agreement on the rest | test: set aside | "
        "test: agreement on the rest | unanimous, test: set aside | agreement |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["sweep"]:
        tr, te, un = row["train"], row["test"], row["test_unanimous"]
        lines.append(
            f"| {row['min_confidence']} | {pct(tr['set_aside_share'])} | {pct(tr['kept_overall'])} | "
            f"{pct(te['set_aside_share'])} | {pct(te['kept_overall'])} | {pct(un['set_aside_share'])} | "
            f"{pct(un['kept_overall'])} |"
        )
    if report["defaults_differ"]:
        lines += ["", f"**Note:** {report['defaults_differ']}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=Path, default=ROOT / "models" / "starter" / "labels.csv")
    ap.add_argument("--target", type=float, default=0.95, help="agreement the default threshold must reach")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "teachers")
    args = ap.parse_args()

    names, not_run = teachers.available()
    faces, ms = collect(args.labels, names)
    per_teacher = {
        n: {s: agreement([(f["label"], vote(f["votes"][n])) for f in in_split(faces, s)]) for s in SPLITS}
        for n in names
    }
    weights = {
        n: round(consensus.weight_from_agreement(per_teacher[n]["train"]["overall"] or 0.5), 2) for n in names
    }
    min_conf = choose_threshold(faces, names, weights, args.target)
    subsets = {"all: " + ", ".join(names): names}
    if len(names) > 2:
        for left in names:
            subsets[f"all but {left}"] = [n for n in names if n != left]
    combos = {
        label: {s: combination(in_split(faces, s), subset, weights, min_conf) for s in SPLITS}
        for label, subset in subsets.items()
    }
    sweep = [
        {
            "min_confidence": c,
            "train": combination(in_split(faces, "train"), names, weights, c),
            "test": combination(in_split(faces, "test"), names, weights, c),
            "test_unanimous": combination(in_split(faces, "test"), names, weights, c, unanimous=True),
        }
        for c in SWEEP
    ]
    differ = ""
    code = {n: consensus.DEFAULT_WEIGHTS.get(n) for n in names}
    if code != weights or consensus.DEFAULT_MIN_CONFIDENCE != min_conf:
        differ = (
            f"consensus.py's defaults (weights {code}, min_confidence {consensus.DEFAULT_MIN_CONFIDENCE}) "
            f"differ from these (weights {weights}, min_confidence {min_conf}); update them."
        )
        print(differ, file=sys.stderr)
    counts = {s: len(in_split(faces, s)) for s in ("train", "test")}
    report = {
        "date": date.today().isoformat(),
        "command": " ".join(["python benchmarks/teachers.py", *sys.argv[1:]]),
        "machine": machine(),
        "counts": ", ".join(f"{s} {n}" for s, n in counts.items()),
        "target": args.target,
        "not_run": "; ".join(f"{n} ({why})" for n, why in not_run.items()),
        "teachers": per_teacher,
        "ms_per_face": ms,
        "chosen": {"weights": weights, "min_confidence": min_conf},
        "combinations": combos,
        "sweep": sweep,
        "defaults_differ": differ,
        "sources": {n: teachers.SPECS[n].requirement or f"opencv {teachers.cv2.__version__}" for n in names},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
