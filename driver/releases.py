"""Releases: every production deploy keeps its web image under a tag of its
own, ``<project>-web:<UTC time>``, so ``rollback`` can go back to one.

``:latest`` is always the image the web service runs (compose.yml); a
rollback points it at an older release. The newest RELEASES_KEEP releases
are kept, and the one in service always. The builders are pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from driver.console import Refused
from driver.runner import Argv

RELEASE_TAG = re.compile(r"^\d{8}T\d{6}Z$")


@dataclass(frozen=True)
class Release:
    tag: str  # 20261129T042300Z: when it was deployed first
    image_id: str


def repository(project: str) -> str:
    return f"{project}-web"


def latest(project: str) -> str:
    """The image the web slots run (compose.yml's ``image:``)."""
    return f"{repository(project)}:latest"


def new_tag(when: datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%SZ")


def list_argv(project: str) -> Argv:
    return [
        "docker",
        "image",
        "ls",
        "--no-trunc",
        "--format",
        "{{.Tag}} {{.ID}}",
        repository(project),
    ]


def tag_argv(project: str, source: str, target: str) -> Argv:
    return ["docker", "tag", f"{repository(project)}:{source}", f"{repository(project)}:{target}"]


def untag_argv(project: str, tags: list[str]) -> Argv:
    """Remove tags; an image goes only when no tag and no container keeps it."""
    return ["docker", "image", "rm", *(f"{repository(project)}:{tag}" for tag in tags)]


def parse(listing: str) -> list[Release]:
    """Releases from ``list_argv``'s output, oldest first (``latest`` and
    other tags are not releases)."""
    found = []
    for line in listing.splitlines():
        tag, _, image_id = line.strip().partition(" ")
        if RELEASE_TAG.match(tag):
            found.append(Release(tag, image_id.strip()))
    return sorted(found, key=lambda release: release.tag)


def latest_id(listing: str) -> str:
    for line in listing.splitlines():
        tag, _, image_id = line.strip().partition(" ")
        if tag == "latest":
            return image_id.strip()
    return ""


def of_image(releases: list[Release], image_id: str) -> Release | None:
    """The newest release of an image (a rebuild can give an image already tagged)."""
    matching = [release for release in releases if release.image_id == image_id]
    return matching[-1] if matching else None


def to_prune(releases: list[Release], keep: int, in_service: str) -> list[str]:
    """Tags beyond the newest ``keep``, except those of the image in service."""
    old = releases[: max(len(releases) - keep, 0)]
    return [release.tag for release in old if release.image_id != in_service]


def rollback_target(releases: list[Release], in_service: str, wanted: str = "") -> Release:
    """The release to go back to: ``wanted``, or the newest one older than
    the release in service."""
    if wanted:
        for release in releases:
            if release.tag == wanted:
                if release.image_id == in_service:
                    raise Refused(f"release {wanted} is already in service")
                return release
        known = ", ".join(r.tag for r in releases) or "none"
        raise Refused(f"no release {wanted} (releases kept: {known}; see sh run.sh -0 releases)")
    current = of_image(releases, in_service)
    older = [r for r in releases if current is None or r.tag < current.tag]
    older = [r for r in older if r.image_id != in_service]
    if not older:
        raise Refused(
            "no earlier release to roll back to (sh run.sh -0 releases lists those kept; "
            "RELEASES_KEEP sets how many)"
        )
    return older[-1]


def keep_count(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise Refused(f"RELEASES_KEEP must be a whole number of at least 1; it is '{value}'")
    return int(value)


def lines(releases: list[Release], in_service: str) -> list[str]:
    """``releases``' table, newest first, the one in service marked."""
    table = []
    for release in reversed(releases):
        mark = "*" if release.image_id == in_service else " "
        note = "  in service" if mark == "*" else ""
        table.append(f"{mark} {release.tag}  {release.image_id.split(':')[-1][:12]}{note}")
    return table
