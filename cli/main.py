"""Entry point of the `kcolors` console script; commands live in sibling modules.

Each command's module is imported only when that command runs (or help lists it): `kcolors
quantize` is timed against pngquant as a whole process, and must not pay for `requests`, the
service or the other commands.
"""

import gc
import importlib
from typing import Any

import click

# command name -> "module:attribute", in the order `kcolors --help` lists them
COMMANDS = {
    "quantize": "cli.quantize:quantize",
    "up": "cli.up:up",
    "worker": "cli.worker:worker",
    "web": "cli.web:web",
    "submit": "cli.client:submit",
    "status": "cli.client:status",
    "cancel": "cli.client:cancel",
    "reconcile": "cli.reconcile:reconcile",
}
# Commands that run the service: their metrics are added up over the processes they start.
SERVICE_COMMANDS = ("up", "worker", "web")


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a configuration error is one line naming the variable, exit 2."""
        from kcolors.errors import InvalidConfiguration

        try:
            return super().invoke(ctx)
        except InvalidConfiguration as exc:
            click.echo(f"kcolors: configuration error: {exc.message}", err=True)
            ctx.exit(2)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name].split(":")
        if cmd_name in SERVICE_COMMANDS:
            from kcolors.jobs.metrics_dir import use_a_multiprocess_dir

            use_a_multiprocess_dir()  # before prometheus-client is imported below
        # A command's imports make some 100,000 objects and no garbage: the collector would only
        # walk them, again and again (15 ms of `kcolors quantize`'s start). Frozen afterwards,
        # later collections skip them too.
        gc.disable()
        try:
            command: Any = getattr(importlib.import_module(module), attribute)
        finally:
            gc.enable()
            gc.freeze()
        return command if isinstance(command, click.Command) else None


@click.group(cls=LazyGroup)
@click.version_option(package_name="kcolors")
def main() -> None:
    """kcolors: k-means colour quantization, for one image or for thousands."""


if __name__ == "__main__":
    main()
