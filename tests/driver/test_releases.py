"""Releases: tags, the ones kept, the one a rollback goes back to."""

from datetime import UTC, datetime

import pytest

from driver import releases
from driver.console import Refused
from driver.releases import Release

LISTING = (
    "latest sha256:ccc\n"
    "20261129T040000Z sha256:aaa\n"
    "20261129T050000Z sha256:bbb\n"
    "20261129T060000Z sha256:ccc\n"
    "<none> sha256:zzz\n"
)
A, B, C = (
    Release("20261129T040000Z", "sha256:aaa"),
    Release("20261129T050000Z", "sha256:bbb"),
    Release("20261129T060000Z", "sha256:ccc"),
)


def test_the_listing_gives_the_releases_oldest_first_and_latest_apart():
    assert releases.parse(LISTING) == [A, B, C]
    assert releases.latest_id(LISTING) == "sha256:ccc"


def test_a_release_is_named_by_its_utc_time():
    when = datetime(2026, 11, 29, 4, 23, 0, tzinfo=UTC)
    assert releases.new_tag(when) == "20261129T042300Z"
    assert releases.RELEASE_TAG.match(releases.new_tag(when))


def test_an_image_already_released_keeps_its_release():
    assert releases.of_image([A, B, C], "sha256:bbb") == B
    assert releases.of_image([A, B, C], "sha256:new") is None


def test_pruning_keeps_the_newest_and_the_one_in_service():
    assert releases.to_prune([A, B, C], keep=1, in_service="sha256:ccc") == [A.tag, B.tag]
    assert releases.to_prune([A, B, C], keep=1, in_service="sha256:aaa") == [B.tag]
    assert releases.to_prune([A, B, C], keep=3, in_service="sha256:ccc") == []


def test_rollback_goes_to_the_release_before_the_one_in_service():
    assert releases.rollback_target([A, B, C], "sha256:ccc") == B
    assert releases.rollback_target([A, B, C], "sha256:bbb") == A
    assert releases.rollback_target([A, B, C], "sha256:ccc", wanted=A.tag) == A


@pytest.mark.parametrize(
    ("kept", "in_service", "wanted", "message"),
    [
        ([A], "sha256:aaa", "", "no earlier release to roll back to"),
        ([A, B], "sha256:bbb", "20990101T000000Z", "no release 20990101T000000Z"),
        ([A, B], "sha256:bbb", B.tag, f"release {B.tag} is already in service"),
    ],
)
def test_a_rollback_with_nowhere_to_go_is_refused(kept, in_service, wanted, message):
    with pytest.raises(Refused, match=message):
        releases.rollback_target(kept, in_service, wanted)


def test_the_table_marks_the_release_in_service():
    lines = releases.lines([A, B, C], "sha256:bbb")
    assert lines[0].startswith("  20261129T060000Z")
    assert lines[1].startswith("* 20261129T050000Z") and lines[1].endswith("in service")


@pytest.mark.parametrize("value", ["0", "-1", "three", ""])
def test_releases_keep_must_be_a_positive_number(value):
    with pytest.raises(Refused, match="RELEASES_KEEP must be a whole number of at least 1"):
        releases.keep_count(value)


def test_tags_are_made_and_removed_in_the_projects_repository():
    assert releases.tag_argv("p", "latest", A.tag) == [
        "docker",
        "tag",
        "p-web:latest",
        f"p-web:{A.tag}",
    ]
    assert releases.untag_argv("p", [A.tag]) == ["docker", "image", "rm", f"p-web:{A.tag}"]
