"""Size of the web image, and of the layers the project adds to its base."""

import re
import subprocess
from pathlib import Path


def base_image(dockerfile: Path) -> str:
    """The image the final stage is built FROM."""
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile.read_text(), re.MULTILINE)
    if not bases:
        raise RuntimeError(f"{dockerfile}: no FROM line")
    return bases[-1]


def _size(image: str) -> int:
    output = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Size}}", image],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(output.stdout.strip())


def _history(image: str) -> list[tuple[int, str]]:
    output = subprocess.run(
        [
            "docker",
            "history",
            "--human=false",
            "--no-trunc",
            "--format",
            "{{.Size}}\t{{.CreatedBy}}",
            image,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = []
    for line in output.splitlines():
        size, _, created_by = line.partition("\t")
        rows.append((int(size), created_by))
    return rows


def sizes(image: str, dockerfile: Path) -> dict:
    base = base_image(dockerfile)
    total, base_total = _size(image), _size(base)
    history = _history(image)
    added = history[: len(history) - len(_history(base))]
    layers = [
        {"bytes": size, "step": re.sub(r"\s+", " ", created_by)[:120]}
        for size, created_by in added
        if size
    ]
    return {
        "image_bytes": total,
        "base": base,
        "base_bytes": base_total,
        "added_bytes": total - base_total,
        "added_layers": sorted(layers, key=lambda layer: -layer["bytes"]),
    }
