"""backup --verify's pure parts (driver/verify.py), without Docker: reading a
dump's rows, the restored copy's, and what differs."""

from pathlib import Path

from driver import verify

SCRIPT = """--
-- Data for Name: catalog_item; Type: TABLE DATA; Schema: public; Owner: app
--

COPY public.catalog_item (id, name, description) FROM stdin;
2\titem 2\t\\N
1\titem 1\tline\\nbreak
\\.

COPY public."Odd Name" (id) FROM stdin;
\\.
"""


def test_a_dumps_tables_are_read_with_their_columns_and_rows():
    tables = verify.dump_tables(SCRIPT)
    assert list(tables) == ["public.catalog_item", 'public."Odd Name"']
    columns, items = tables["public.catalog_item"]
    assert columns == "id, name, description" and items.rows == 2
    assert tables['public."Odd Name"'] == ("id", verify.checksum([]))
    assert verify.copy_sql("public.catalog_item", columns) == (
        "COPY public.catalog_item (id, name, description) TO STDOUT"
    )


def test_the_order_rows_come_back_in_does_not_matter_but_their_contents_do():
    assert verify.checksum(["a", "b"]) == verify.checksum(["b", "a"])
    assert verify.checksum(["a", "b"]) != verify.checksum(["a", "c"])


def test_the_restored_rows_are_split_at_the_marker_and_compared():
    output = "1\titem 1\tline\\nbreak\n2\titem 2\t\\N\nMARK\nMARK\n"
    restored = verify.split_output(output, "MARK", ["public.catalog_item", 'public."Odd Name"'])
    expected = {name: table for name, (_, table) in verify.dump_tables(SCRIPT).items()}
    assert verify.differences(expected, restored) == []
    restored["public.catalog_item"] = verify.checksum(["1\titem 1\tchanged", "2\titem 2\t\\N"])
    del restored['public."Odd Name"']
    assert verify.differences(expected, restored) == [
        "public.catalog_item: the rows' contents differ from the dump's",
        'public."Odd Name": not in the restored copy',
    ]
    restored["public.catalog_item"] = verify.checksum(["x"])
    assert verify.differences(expected, restored)[0] == (
        "public.catalog_item: 1 rows restored, 2 in the dump"
    )


def test_the_latest_backup_is_the_newest_of_this_mode_and_database(tmp_path: Path):
    for name in (
        "prod-app-20261101T030000Z.dump",
        "prod-app-20261102T030000Z-scheduled.dump",
        "prod-app-20261102T030000Z-scheduled.media.tar",
        "prod-app-20261103T030000Z.dump.partial",
        "dev-app-20261104T030000Z.dump",
    ):
        (tmp_path / name).write_text("x")
    found = verify.latest(tmp_path, "prod-app-")
    assert found is not None and found.name == "prod-app-20261102T030000Z-scheduled.dump"
    assert verify.latest(tmp_path, "prod-other-") is None
