"""An environment for the settings modules' readers, made of given values."""

import environ
from environ.fileaware_mapping import FileAwareMapping


def env_of(**values: str) -> environ.FileAwareEnv:
    """An env reading exactly ``values`` (and *_FILE files), not os.environ."""
    env = environ.FileAwareEnv()
    env.ENVIRON = FileAwareMapping(env=values, cache=False)
    return env
