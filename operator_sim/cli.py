"""The `operator-sim` command line: a thin click layer over public functions.

Each command only parses arguments, calls the library and turns results into output and an
exit code; anything a test or a user script needs is importable without going through here.
"""

from __future__ import annotations

import click

from . import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="operator-sim")
def main() -> None:
    """Simulator of the @ctes chain: collectivité → operator → ministry → préfecture."""
