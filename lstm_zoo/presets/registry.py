"""The bundled presets: the preset directories shipped inside this package, by name."""

from __future__ import annotations

import json
from pathlib import Path

BUNDLED_ROOT = Path(__file__).resolve().parent
CONFIG_FILE = "config.json"


def available_presets():
    """Names of the bundled presets, sorted."""
    return sorted(
        p.name for p in BUNDLED_ROOT.iterdir() if p.is_dir() and (p / CONFIG_FILE).is_file()
    )


def preset_path(name_or_path):
    """The directory of a bundled preset name, or `name_or_path` itself when it is a
    directory; ValueError listing the bundled names otherwise."""
    if isinstance(name_or_path, str) and name_or_path in available_presets():
        return BUNDLED_ROOT / name_or_path
    path = Path(name_or_path)
    if path.is_dir():
        return path
    known = ", ".join(available_presets()) or "(none bundled)"
    raise ValueError(f"{name_or_path}: neither a bundled preset ({known}) nor a preset directory")


def directory_size(path):
    """Bytes of the files under `path`."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def preset_lines():
    """One line per bundled preset: name, task, test metric, size on disk."""
    lines = []
    for name in available_presets():
        path = BUNDLED_ROOT / name
        try:
            metadata = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            metadata = {}
        task = metadata.get("task", "?")
        metrics = metadata.get("metrics", {})
        metric = ", ".join(f"{k} {_format(v)}" for k, v in metrics.items()) or "no metric"
        size = directory_size(path) / 1e6
        lines.append(f"{name}  {task}  {metric}  {size:.1f} MB")
    return lines


def _format(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)
