"""face-expression-dataset: argument parsing and exit codes (the work is in face_expression.data)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from face_expression.data.building import SamplingOptions, build_from_media
from face_expression.data.review_sheets import review_sheet
from face_expression.data.spec import DataSetError, listing
from face_expression.data.splitting import SplitOptions, split_existing
from face_expression.data.writing import BuildReport


def parse_pair(text: str, what: str) -> tuple[str, Path]:
    """``CLASS=PATH`` -> (class, path)."""
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise DataSetError(f"{what} '{text}' must be CLASS=PATH, e.g. smile=videos/smile.mp4")
    return name.strip(), Path(path.strip()).expanduser()


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` -> (w, h)."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or int(m[1]) < 32 or int(m[2]) < 32:
        raise argparse.ArgumentTypeError(f"size '{text}' must be WIDTHxHEIGHT, at least 32x32 (e.g. 450x650)")
    return int(m[1]), int(m[2])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="face-expression-dataset",
        description="Build a labelled face-expression data set (Roboflow/YOLO layout) from videos or photos, "
        "or split an existing labelled folder. Offline: faces are found with CenterFace.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    src = p.add_argument_group("inputs (at least one)")
    src.add_argument(
        "--video",
        action="append",
        default=[],
        metavar="CLASS=PATH",
        help="a video showing one expression; repeat per video",
    )
    src.add_argument(
        "--images",
        action="append",
        default=[],
        metavar="CLASS=DIR",
        help="a folder of photos of one expression (subfolders = persons); repeat per folder",
    )
    src.add_argument(
        "--from-folder",
        type=Path,
        metavar="DIR",
        help="an existing labelled, unsplit YOLO folder (images/ + labels/) to split",
    )
    p.add_argument("-o", "--out", type=Path, required=True, help="output data set folder (created)")
    p.add_argument("--names", help="class names in id order, comma separated (default: sorted class names)")
    p.add_argument("--every", type=int, default=10, help="keep every N-th video frame")
    p.add_argument(
        "--fps", type=float, default=None, help="instead of --every: keep this many frames per second"
    )
    p.add_argument(
        "--min-score", type=float, default=0.5, help="CenterFace confidence needed to label a face"
    )
    add_split_arguments(p)
    p.add_argument(
        "--group-regex",
        default=None,
        help="regex on file names whose first group names the person/video, kept in one split",
    )
    p.add_argument(
        "--review", action="store_true", help="write review.png, a contact sheet of the labelled faces"
    )
    p.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def add_split_arguments(p: argparse.ArgumentParser) -> None:
    """--resize, --flip, --split, --seed: how labelled images become the train/valid/test folders
    (shared by face-expression-dataset and face-expression-label apply)."""
    p.add_argument(
        "--resize",
        type=parse_size,
        default=None,
        metavar="WxH",
        help="stretch images to this size (the method used 450x650)",
    )
    p.add_argument("--flip", action="store_true", help="add a horizontally flipped copy of every train image")
    p.add_argument(
        "--split",
        type=float,
        nargs=3,
        default=[60, 20, 20],
        metavar=("TRAIN", "VALID", "TEST"),
        help="split proportions",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the split")


def check_split(split: list[float]) -> None:
    """Raise DataSetError unless the --split proportions can make a train folder."""
    if min(split) < 0 or split[0] <= 0 or sum(split) <= 0:
        raise DataSetError(
            "--split needs non-negative proportions with a positive train share, e.g. 60 20 20"
        )


def split_options(args: argparse.Namespace, **more: object) -> SplitOptions:
    """The SplitOptions of ``add_split_arguments``' values and --force, plus ``more``."""
    return SplitOptions(
        resize=args.resize, flip=args.flip, fractions=args.split, seed=args.seed, force=args.force, **more
    )


def check_args(args: argparse.Namespace) -> None:
    """Raise DataSetError for argument values or combinations that cannot work."""
    if args.every < 1:
        raise DataSetError("--every must be at least 1")
    if args.fps is not None and args.fps <= 0:
        raise DataSetError("--fps must be positive")
    check_split(args.split)
    if args.group_regex:
        try:
            re.compile(args.group_regex)
        except re.error as exc:
            raise DataSetError(f"--group-regex is not a valid regular expression: {exc}") from exc
    if args.from_folder and (args.video or args.images):
        raise DataSetError("use either --from-folder or --video/--images, not both")
    if not (args.from_folder or args.video or args.images):
        raise DataSetError("give --video CLASS=PATH, --images CLASS=DIR or --from-folder DIR")


def build(args: argparse.Namespace) -> BuildReport:
    """Build (or split) the data set the arguments ask for."""
    names = [n.strip() for n in args.names.split(",") if n.strip()] if args.names else None
    options = split_options(args, group_regex=args.group_regex, progress=not args.quiet)
    if args.from_folder:
        return split_existing(args.from_folder.expanduser(), args.out, names, options)
    videos = [parse_pair(v, "--video") for v in args.video]
    folders = [parse_pair(v, "--images") for v in args.images]
    sampling = SamplingOptions(every=args.every, rate=args.fps, min_score=args.min_score)
    return build_from_media(args.out, videos, folders, names, sampling, options)


def print_summary(report: BuildReport, out: Path) -> None:
    if report.segmented_groups:
        print(
            "note: too few videos/persons per class to keep each in one split; these were cut into "
            "consecutive time segments (train | valid | test) instead:\n" + listing(report.segmented_groups),
            file=sys.stderr,
        )
    for split, counts in report.counts.items():
        per = ", ".join(f"{n}={counts.get(n, 0)}" for n in report.names)
        print(
            f"{split:>5}: {counts.get('images', 0)} images ({per} faces), groups: {len(report.groups[split])}"
        )
    print(f"data set written to {out} (data.yaml); train with: face-expression-train {out}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        check_args(args)
        report = build(args)
    except DataSetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out.expanduser().resolve()
    if args.review:
        print(f"review sheet: {review_sheet(out, report.names, out / 'review.png')}")
    print_summary(report, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
