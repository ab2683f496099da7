"""A model's JSON card (written beside it by face-expression-train) and the checksum it carries.

A ``.pt`` is a pickle, so a file swapped on disk runs whatever it was made to run as it loads.
The card records the SHA-256 of the weights it describes; where a card is present, the file is
hashed and compared *before* anything unpickles it, and a mismatch is refused.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from face_expression.engine.config import ModelError

#: Key of the weights' SHA-256 (hex) in a model card.
SHA256_KEY = "sha256"


def card_path(model: Path) -> Path:
    """``best.pt`` -> ``best.json``; an OpenVINO folder ``x_openvino_model`` -> ``x_openvino_model.json``."""
    return model.with_name(model.name + ".json") if model.is_dir() else model.with_suffix(".json")


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a model file, or of an OpenVINO folder's files in name order."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        with file.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _read_card(model: Path) -> dict:
    """The card beside ``model`` as a dict ({} when there is none); an unreadable card is refused."""
    card = card_path(model)
    if not card.is_file():
        return {}
    try:
        data = json.loads(card.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(
            f"cannot read the model card {card} ({exc}); fix or remove it (it holds the checksum that "
            f"{model.name} is checked against)"
        ) from exc
    return data if isinstance(data, dict) else {}


def check_card(model: Path) -> str | None:
    """Refuse ``model`` when a card beside it names another SHA-256; returns the checked hash, if any.

    No card, or a card without a checksum (older cards): nothing to compare, None.
    """
    expected = _read_card(model).get(SHA256_KEY)
    if not expected:
        return None
    found = file_sha256(model)
    if found != str(expected).lower():
        raise ModelError(
            f"refusing {model}: its SHA-256 {found} differs from {expected} in its card {card_path(model)}. "
            "The file was changed or replaced after the card was written; restore the original, or, if you "
            "trust the new file, write its SHA-256 into the card (sha256sum) or remove the card."
        )
    return found


#: Key of the inference size a card recommends (a multiple of 32), where it differs from training.
IMGSZ_KEY = "imgsz"


def card_imgsz(model: Path) -> int | None:
    """The inference size the model's card recommends, if it names a valid one.

    A model can be trained at one size and meant to run at another: the starter model is trained
    at 416 for its small faces, and runs at the size that keeps it within its CPU budget. No card,
    no key, or a value that is not a multiple of 32: None (the training size applies). Call it after
    ``check_card``, which has refused an unreadable card already.
    """
    imgsz = _read_card(model).get(IMGSZ_KEY)
    return imgsz if isinstance(imgsz, int) and imgsz >= 32 and imgsz % 32 == 0 else None
