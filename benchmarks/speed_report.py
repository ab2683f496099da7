"""Speed benchmark report: machine and load, the markdown tables, the goals, the plot."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import cv2
import numpy as np
from speed_inputs import CAMERA_H, CAMERA_W


def cpu_model() -> str:
    """The CPU's model name as lscpu prints it (the machine line of every results table)."""
    try:
        for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False
        ).stdout.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine_info() -> dict[str, str]:
    import onnxruntime
    import torch
    import ultralytics

    try:
        import openvino

        ov_version = openvino.__version__
    except ImportError:
        ov_version = "not installed"
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "bf16_hw": "yes" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "no",
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "ultralytics": ultralytics.__version__,
        "onnxruntime": onnxruntime.__version__,
        "openvino": ov_version,
        "opencv": cv2.__version__,
    }


def load() -> str:
    return "load average " + " / ".join(f"{v:.2f}" for v in os.getloadavg()) + " (1/5/15 min)"


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Speed: raw Ultralytics loop vs our engine vs the detector node over DDS",
        "",
        f"- Date: {report['date']}; command: `{report['command']}`",
        f"- Machine: {m['cpu']}, {m['cores']} cores (bf16 hardware: {m['bf16_hw']}); "
        f"GPU: {m.get('gpu', 'none')}; inference device: {report.get('device', 'cpu')}",
        f"- Versions: Python {m['python']}, torch {m['torch']}, ultralytics {m['ultralytics']}, "
        f"onnxruntime {m['onnxruntime']}, openvino {m['openvino']}, opencv {m['opencv']}",
        f"- Load: {report['load_start']} at start, {report['load_end']} at the end. The 2 cores are "
        "shared with other jobs: compare numbers within this table only.",
        f"- Model: {report['model']} (YOLOv5n, 2 classes); frames: {report['frames']} real photos/video "
        f"frames resized to {CAMERA_W}x{CAMERA_H}, sent as rgb8; "
        f"threads: {report['threads'] or 'auto (all cores; .pt: all but one)'}; node parallel_frames: "
        f"{report.get('parallel_frames') or 'auto (2 on the CPU)'}",
        f"- DDS: Fast DDS (rmw_fastrtps_cpp), best-effort camera topic, profile "
        f"`{Path(report['dds_profile']).name}` in both processes (a 16 MiB shared-memory segment: with "
        "the 512 KiB default most 900 KiB frames are lost)",
        f"- Exports at the camera's 4:3 shape (imgsz 320 -> 256x320, 416 -> 320x416, 640 -> 480x640); "
        f"each cell {report['seconds']} s.",
        "",
        "Raw = `YOLO(model).predict(frame)` (Ultralytics' loop, same backend and input shape); engine = "
        "`ExpressionDetector(frame)`; node = frames published over DDS to "
        "`face_expression.ros.detector_node`, detections received back. Latency = detections' arrival "
        "minus the frame's header stamp. `1.25x` = published a quarter faster than the raw loop measured "
        "right before, so a frame is always waiting: the node's throughput; `2x` = twice that rate "
        "(overload); "
        "`max` = published back to back (the publisher itself then takes a core). CPU % is of one "
        "core; the publisher (this benchmark process, standing in for the camera driver) runs on "
        "the same 2 cores.",
        "",
        "## Loops and node",
        "",
        "node/raw divides by the raw loop's rate measured right before and after that node rate (the "
        "node idle meanwhile; `raw FPS beside`), so slow drift of the shared machine cancels; the one "
        "before also sets that rate. Raw FPS is the first, interleaved measurement (beside the engine).",
        "",
        "| backend | imgsz | raw ms p50 | raw FPS | engine ms p50 | engine FPS | node FPS (1.25x) | "
        "raw FPS beside | node/raw | node FPS (2x) | raw FPS beside | node/raw (2x) | node p50 ms (15 Hz) "
        "| p50 - raw ms | node CPU % (2x) | node RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for cell in report["cells"]:
        raw, eng = cell["raw"], cell["engine"]
        by = {r["rate"]: r for r in cell["node"]["results"]}
        sat, ov, slow = by.get("1.25x"), by.get("2x"), by.get("15 Hz")
        lines.append(
            f"| {cell['backend']} | {cell['imgsz']} | {raw['p50']:.1f} | {raw['fps']:.1f} | "
            f"{eng['p50']:.1f} | {eng['fps']:.1f} | {sat['fps']:.1f} | {raw_beside(sat, raw):.1f} | "
            f"{sat['fps'] / raw_beside(sat, raw):.2f} | {ov['fps']:.1f} | {raw_beside(ov, raw):.1f} | "
            f"{ov['fps'] / raw_beside(ov, raw):.2f} | "
            f"{slow['latency']['p50']:.1f} | {slow['latency']['p50'] - raw['p50']:+.1f} | "
            f"{ov['cpu_percent']:.0f} | {ov['rss_mb']:.0f} |"
            if sat and ov and slow
            else f"| {cell['backend']} | {cell['imgsz']} | {raw['p50']:.1f} | {raw['fps']:.1f} | "
            f"{eng['p50']:.1f} | {eng['fps']:.1f} | - | - | - | - | - | - | - | - | - | - |"
        )
    lines += [
        "",
        "## Node end to end per publish rate",
        "",
        "| backend | imgsz | rate | sent | processed | FPS | dropped | latency p50 / p95 / p99 ms | "
        "CPU % | RSS MB | publisher CPU % |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for cell in report["cells"]:
        for r in cell["node"]["results"]:
            lat = r["latency"]
            rate = r["rate"] if not r["rate"].endswith("x") else f"{r['rate']} ({r['target_hz']:.0f} Hz)"
            lines.append(
                f"| {cell['backend']} | {cell['imgsz']} | {rate} | {r['sent']} | {r['received']} | "
                f"{r['fps']:.1f} | {r['dropped']} | {lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f} | "
                f"{r['cpu_percent']:.0f} | {r['rss_mb']:.0f} | {r.get('publisher_cpu_percent', 0.0):.0f} |"
            )
    ov = report.get("overload")
    if ov:
        lines += [
            "",
            f"## Overload: {ov['backend']} imgsz {ov['imgsz']} at {ov['hz']:.0f} Hz (2x raw) for "
            f"{ov['minutes']} min",
            "",
            f"- Latency p50 first fifth {ov['p50_first_ms']:.1f} ms, last fifth {ov['p50_last_ms']:.1f} ms "
            f"({ov['latency_growth_pct']:+.1f}%)",
            f"- Node RSS first fifth {ov['rss_first_mb']:.1f} MB, last fifth {ov['rss_last_mb']:.1f} MB "
            f"({ov['rss_growth_pct']:+.1f}%)",
        ]
    lines += ["", "## Goals", ""] + [f"- {g}" for g in report["goals"]] + [""]
    return "\n".join(lines)


def raw_beside(rate: dict, raw: dict) -> float:
    """The raw loop's rate next to a node rate (older reports: the first raw measurement)."""
    return rate.get("raw_fps_beside") or raw["fps"]


def _node_goals(cells: list[dict]) -> list[str]:
    """Node throughput (fed at 1.25x and at 2x) against the raw loop, and its latency at 15 Hz."""
    out = []
    ratios, overload_ratios, deltas = [], [], []
    for c in cells:
        by = {r["rate"]: r for r in c["node"]["results"]}
        for rate, found in (("1.25x", ratios), ("2x", overload_ratios)):
            if rate in by:
                found.append((by[rate]["fps"] / raw_beside(by[rate], c["raw"]), c["backend"], c["imgsz"]))
        if "15 Hz" in by and c["raw"]["fps"] > 15:
            deltas.append((by["15 Hz"]["latency"]["p50"] - c["raw"]["p50"], c["backend"], c["imgsz"]))
    throughput = "Node throughput >= 0.95 x raw loop"
    for found, label in (
        (ratios, f"{throughput} (fed at 1.25x)"),
        (overload_ratios, f"{throughput} at 2x overload (the publisher shares the cores)"),
    ):
        if found:
            worst = min(found)
            ok = sum(r >= 0.95 for r, _, _ in found)
            out.append(f"{label}: {ok}/{len(found)} cells; worst {worst[0]:.2f} ({worst[1]} {worst[2]})")
    if deltas:
        worst = max(deltas)
        ok = sum(d <= 5.0 for d, _, _ in deltas)
        out.append(
            f"Node p50 latency <= raw + 5 ms (15 Hz, below the model's rate): {ok}/{len(deltas)} cells; "
            f"worst {worst[0]:+.1f} ms ({worst[1]} {worst[2]})"
        )
    return out


def _fps_goals(cells: list[dict]) -> list[str]:
    """The best end-to-end rate at imgsz 640 and 320 against 30 and 90 FPS."""
    out = []
    for imgsz, target in ((640, 30.0), (320, 90.0)):
        best = None
        for c in cells:
            if c["imgsz"] != imgsz:
                continue
            fps = max(r["fps"] for r in c["node"]["results"])
            if best is None or fps > best[0]:
                best = (fps, c["backend"])
        if best:
            verdict = "met" if best[0] >= target else "NOT met"
            out.append(
                f">= {target:.0f} FPS end to end at imgsz {imgsz}: {verdict} "
                f"(best {best[0]:.1f} FPS, {best[1]})"
            )
    return out


def goals(report: dict) -> list[str]:
    """One line per goal, met or not, from the measured cells (and the overload run, if any)."""
    out = _node_goals(report["cells"]) + _fps_goals(report["cells"])
    ov = report.get("overload")
    if ov:
        flat = abs(ov["rss_growth_pct"]) <= 5.0 and ov["latency_growth_pct"] <= 20.0
        out.append(
            f"2x overload for {ov['minutes']} min: latency {ov['latency_growth_pct']:+.1f}%, memory "
            f"{ov['rss_growth_pct']:+.1f}% -> {'flat' if flat else 'NOT flat'}"
        )
    return out


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = report["cells"]
    ov = report.get("overload")
    fig, axes = plt.subplots(1, 3 if ov else 1, figsize=(16 if ov else 9, 4.5))
    axes = np.atleast_1d(axes)
    ax = axes[0]
    labels = [f"{c['backend']} {c['imgsz']}" for c in cells]
    x = np.arange(len(cells))
    raw = [c["raw"]["fps"] for c in cells]
    eng = [c["engine"]["fps"] for c in cells]

    def node_fps(c: dict, rate: str) -> float:
        return next((r["fps"] for r in c["node"]["results"] if r["rate"] == rate), 0.0)

    ax.bar(x - 0.3, raw, 0.2, label="raw Ultralytics loop")
    ax.bar(x - 0.1, eng, 0.2, label="engine loop")
    ax.bar(x + 0.1, [node_fps(c, "1.25x") for c in cells], 0.2, label="node over DDS (fed at 1.25x)")
    ax.bar(x + 0.3, [node_fps(c, "2x") for c in cells], 0.2, label="node over DDS (2x overload)")
    ax.axhline(30, color="grey", ls="--", lw=0.8)
    ax.axhline(90, color="grey", ls=":", lw=0.8)
    ax.set_xticks(x, labels, fontsize=7, rotation=40, ha="right")
    ax.set_ylabel("frames / s")
    ax.set_title(f"YOLOv5n, 640x480 frames, {report['machine']['cpu']} ({report['machine']['cores']} cores)")
    ax.legend(fontsize=8)
    if ov:
        t = [s["t_s"] for s in ov["series"]]
        axes[1].plot(t, [s["p50"] for s in ov["series"]], label="p50")
        axes[1].plot(t, [s["p95"] for s in ov["series"]], label="p95")
        axes[1].set_ylim(bottom=0)
        axes[1].set_xlabel("s")
        axes[1].set_ylabel("latency ms")
        axes[1].set_title(f"2x overload: {ov['backend']} {ov['imgsz']} at {ov['hz']:.0f} Hz")
        axes[1].legend()
        rss = [s["rss_mb"] for s in ov["series"]]
        axes[2].plot(t, rss)
        axes[2].set_ylim(0, 1.15 * max(rss))  # a flat line must not hide in the frame's top edge
        axes[2].set_xlabel("s")
        axes[2].set_ylabel("node RSS MB")
        axes[2].set_title("node memory under overload")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
