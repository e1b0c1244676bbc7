"""Command line: parse options, call the library, render. No arithmetic lives here."""
from __future__ import annotations

import importlib
import os
import sys

import click

from .errors import UsageError, VramrulesError

# command name -> (module in vramrules.commands, function): a run imports only the one it invokes
COMMANDS = {
    "eval": ("evaluate", "eval_cmd"),
    "fit": ("inverse", "fit_cmd"),
    "sweep": ("inverse", "sweep_cmd"),
    "list": ("catalog_views", "list_cmd"),
    "show": ("catalog_views", "show_cmd"),
    "assumptions": ("catalog_views", "assumptions_cmd"),
    "validate": ("catalog_views", "validate_cmd"),
    "diff": ("policy", "diff_cmd"),
    "report": ("policy", "report_cmd"),
    "check-measurements": ("measure", "check_measurements_cmd"),
    "calibrate": ("measure", "calibrate_cmd"),
    "import": ("files", "import_cmd"),
    "record": ("files", "record_cmd"),
    "serve": ("service", "serve_cmd"),
    "mcp": ("service", "mcp_cmd"),
    "ingest": ("ingest", "ingest_cmd"),
    "web": ("web", "web_cmd"),
}


def tolerant_streams() -> None:
    """Standard output and error keep their encoding but write a character it lacks as an
    escape (\\u2192) instead of raising UnicodeEncodeError: no command's output on a latin-1 or
    cp1252 terminal ends in exit 70. (The renderers choose ASCII stand-ins before this.)"""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None:
            continue
        try:
            reconfigure(errors="backslashreplace")
        except (ValueError, OSError):  # a closed or detached stream: leave it as it is
            pass


def _human(exc: VramrulesError) -> str:
    """The error as a person reads it, with what the data or the arguments put in it inert:
    each problem one line (an argument's newline or ESC is shown, not obeyed)."""
    from .render.terminal import for_stream, inert

    problems = getattr(exc, "problems", None) or []
    text = "\n".join(inert(p) for p in problems) if problems else f"error: {inert(exc)}"
    return for_stream(text, sys.stderr)


def _fail(exc: VramrulesError, as_json: bool = False):
    if as_json:  # the error objects on stdout, where the JSON answer would have been
        from .commands.output import echo_json

        echo_json(exc.objects(), indent=2)
        sys.exit(exc.exit_code)
    problems = getattr(exc, "problems", None) or []
    click.echo(_human(exc), err=True)
    if len(problems) > 1:
        click.echo(f"{len(problems)} problems", err=True)
    sys.exit(exc.exit_code)


def wants_json(args) -> bool:
    """`--format json` among a command's arguments: its errors are JSON objects too."""
    args = list(args)
    for i, a in enumerate(args):
        if a == "--":
            break
        if a == "--format=json" or (a == "--format" and i + 1 < len(args) and args[i + 1] == "json"):
            return True
    return False


class Guarded(click.Group):
    """Every VramrulesError becomes a message and an exit code, never a traceback. Subcommands
    are loaded on demand from vramrules.commands."""

    def main(self, *args, **kwargs):
        tolerant_streams()
        return super().main(*args, **kwargs)

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        spec = COMMANDS.get(name)
        if spec is None:
            return None
        return getattr(importlib.import_module(f"vramrules.commands.{spec[0]}"), spec[1])

    def invoke(self, ctx):
        as_json = wants_json([*ctx._protected_args, *ctx.args])
        try:
            return super().invoke(ctx)
        except VramrulesError as exc:
            _fail(exc, as_json)
        except click.UsageError as exc:  # click's own (no such option, bad value): exit 2 either way
            if not as_json:
                raise
            _fail(UsageError(exc.format_message()), True)
        except (KeyboardInterrupt, BrokenPipeError):
            sys.exit(130)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as exc:  # a bug: say so plainly; the traceback only on request
            if os.environ.get("VRAMRULES_DEBUG"):
                raise
            from .render.terminal import inert

            click.echo(f"internal error: {type(exc).__name__}: {inert(exc)}\nthis is a bug in vramrules; "
                       "rerun with VRAMRULES_DEBUG=1 for the traceback and report it", err=True)
            sys.exit(70)


@click.group(cls=Guarded, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="vramrules")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the catalog cache (also VRAMRULES_NO_CACHE=1).")
def main(no_cache):
    """How much GPU memory will this LLM need, and will it fit?

    Every fact is sourced YAML (vramrules list ...), every formula a rule (--explain shows them).
    """
    if no_cache:
        os.environ["VRAMRULES_NO_CACHE"] = "1"


if __name__ == "__main__":  # pragma: no cover
    main()
