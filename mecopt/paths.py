"""Where the bundled data lives (``models/`` and ``instances/`` at the repository root).

``MECOPT_MODELS`` overrides the models folder.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def models_dir() -> Path:
    return Path(os.environ.get("MECOPT_MODELS", REPO_ROOT / "models"))


def dnn_dir() -> Path:
    return models_dir() / "dnn"


def delay_dir() -> Path:
    return models_dir() / "delay"


def instances_dir() -> Path:
    return REPO_ROOT / "instances"
