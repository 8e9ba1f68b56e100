"""Entry point of the `kcolors` console script; commands live in sibling modules."""

import click

from cli.quantize import quantize


@click.group()
@click.version_option(package_name="kcolors")
def main() -> None:
    """kcolors: k-means colour quantization, for one image or for thousands."""


main.add_command(quantize)
