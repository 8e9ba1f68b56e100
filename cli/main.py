"""Entry point of the `kcolors` console script; commands live in sibling modules."""

import click

from cli.client import status, submit
from cli.quantize import quantize
from cli.reconcile import reconcile
from cli.up import up
from cli.web import web
from cli.worker import worker


@click.group()
@click.version_option(package_name="kcolors")
def main() -> None:
    """kcolors: k-means colour quantization, for one image or for thousands."""


main.add_command(quantize)
main.add_command(up)
main.add_command(worker)
main.add_command(web)
main.add_command(submit)
main.add_command(status)
main.add_command(reconcile)

if __name__ == "__main__":
    main()
