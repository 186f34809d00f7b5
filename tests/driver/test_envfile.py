"""Writing .env values that Compose reads back exactly: any printable password."""

import pytest

from driver import envfile
from driver.project import pgpass_escape

# Characters special to URLs, .pgpass files, JSON, .env files and shells.
PASSWORDS = [
    ("plain-Password_1.x", "plain-Password_1.x", r"plain-Password_1.x"),
    ("p@ss:w/rd", "p@ss:w/rd", r"p@ss\:w/rd"),
    ("#%?&=", '"#%?&="', "#%?&="),
    ("back\\slash", '"back\\\\slash"', "back\\\\slash"),
    ('it\'s "quoted"', '"it\'s \\"quoted\\""', 'it\'s "quoted"'),
    (" spaced out ", '" spaced out "', " spaced out "),
    ("dollar$HOME", '"dollar\\$HOME"', "dollar$HOME"),
    ('{"json": [1]}', '"{\\"json\\": [1]}"', '{"json"\\: [1]}'),
]


@pytest.mark.parametrize(("password", "quoted", "pgpass"), PASSWORDS)
def test_values_are_quoted_for_compose_and_escaped_for_pgpass(password, quoted, pgpass):
    assert envfile.quote(password) == quoted
    assert pgpass_escape(password) == pgpass


def test_a_line_break_is_refused():
    with pytest.raises(ValueError, match="line break"):
        envfile.quote("two\nlines")


def test_values_replace_live_lines_and_append_the_others():
    example = "# Key.\n#SECRET_KEY=\nSECRET_KEY=change-me\n# Port.\n#WEB_PORT=8000\n"
    written = envfile.with_values(example, {"SECRET_KEY": "new key", "WEB_PORT": "9000"})
    assert written == (
        '# Key.\n#SECRET_KEY=\nSECRET_KEY="new key"\n# Port.\n#WEB_PORT=8000\nWEB_PORT=9000\n'
    )
    assert envfile.setting_names(written) == ["SECRET_KEY", "WEB_PORT"]
    assert envfile.values(written) == {"SECRET_KEY": "new key", "WEB_PORT": "9000"}


def test_a_new_secret_key_passes_the_production_policy():
    from driver.policy import production_policy

    assert production_policy.secret_key_problem(envfile.new_secret_key()) is None
