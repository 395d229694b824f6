"""Model management commands: list, ps, show, stop, rm, cp, pull, create.

Each takes a connected `Client` and the parsed arguments, prints, and returns an exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn

from ollama_toolkit.api.types import ProgressResponse
from ollama_toolkit.cli import render
from ollama_toolkit.cli.values import parse_value
from ollama_toolkit.client import Client


def list_models(client: Client, args: argparse.Namespace) -> int:
    rows = [
        (
            m.name,
            m.digest.removeprefix("sha256:")[:12],
            render.human_bytes(m.size),
            render.ago(m.modified_at),
        )
        for m in client.list().models
    ]
    print(render.columns(("NAME", "ID", "SIZE", "MODIFIED"), rows))
    return 0


def ps(client: Client, args: argparse.Namespace) -> int:
    rows = []
    for m in client.ps().models:
        on_gpu = m.size_vram / m.size if m.size else 0
        processor = "100% CPU" if on_gpu == 0 else f"{on_gpu:.0%} GPU"
        rows.append(
            (
                m.name,
                m.digest.removeprefix("sha256:")[:12],
                render.human_bytes(m.size),
                processor,
                str(m.context_length or ""),
                render.until(m.expires_at),
            )
        )
    print(render.columns(("NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"), rows))
    return 0


SHOW_FIELDS = ("modelfile", "parameters", "template", "system", "license")


def show(client: Client, args: argparse.Namespace) -> int:
    info = client.show(args.model)
    chosen = [f for f in SHOW_FIELDS if getattr(args, f)]
    if len(chosen) > 1:
        render.error("only one of " + ", ".join(f"--{f}" for f in SHOW_FIELDS) + " may be given")
        return 2
    if chosen:
        text = info.get(chosen[0]) or ""
        print(text, end="" if text.endswith("\n") else "\n")
    else:
        print(render.model_info(info))
    return 0


def stop(client: Client, args: argparse.Namespace) -> int:
    client.generate(args.model, keep_alive=0)
    return 0


def rm(client: Client, args: argparse.Namespace) -> int:
    for name in args.models:
        client.delete(name)
        print(f"deleted '{name}'")
    return 0


def cp(client: Client, args: argparse.Namespace) -> int:
    client.copy(args.source, args.destination)
    print(f"copied '{args.source}' to '{args.destination}'")
    return 0


def pull(client: Client, args: argparse.Namespace) -> int:
    show_progress(client.pull(args.model, insecure=args.insecure, stream=True))
    return 0


def show_progress(lines: Iterable[ProgressResponse]) -> None:
    """Progress lines from pull or create: a bar per blob on a terminal, status lines otherwise."""
    interactive = sys.stderr.isatty()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        console=render.stderr(),
        disable=not interactive,
    )
    tasks: dict[str, TaskID] = {}
    last_status = None
    with progress:
        for line in lines:
            if line.digest and line.total:
                if line.digest not in tasks:
                    label = f"{line.status} {line.digest.removeprefix('sha256:')[:12]}"
                    tasks[line.digest] = progress.add_task(label, total=line.total)
                progress.update(tasks[line.digest], completed=line.completed or 0)
                if interactive:
                    continue
            if line.status != last_status:
                last_status = line.status
                if interactive:
                    progress.console.print(line.status)
                else:
                    print(line.status, file=sys.stderr, flush=True)


def create(client: Client, args: argparse.Namespace) -> int:
    """Parse the Modelfile, upload the files it names as blobs, and ask the server to create."""
    from ollama_toolkit.store import modelfile
    from ollama_toolkit.store.convert.source import ConvertError, model_files

    path = Path(args.file)
    fields: dict[str, Any] = {"files": {}, "adapters": {}, "parameters": {}, "messages": []}
    for command in modelfile.parse(path.read_text()):
        name, value = command.name.lower(), command.args
        if name in ("model", "from", "adapter"):
            local = (path.parent / value).expanduser()
            if not local.exists():
                fields["from_"] = value
                continue
            # A directory: its GGUF files, or a safetensors checkpoint's files (by relative name).
            try:
                files = model_files(local) if local.is_dir() else {local.name: local}
            except ConvertError as e:
                render.error(str(e))
                return 1
            target = fields["adapters" if name == "adapter" else "files"]
            for file_name, file in files.items():
                target[file_name] = client.create_blob(file)
        elif name in ("template", "system", "renderer", "parser"):
            fields[name] = value
        elif name == "license":
            fields.setdefault("license", []).append(value)
        elif name == "message":
            role, _, content = value.partition(": ")
            fields["messages"].append({"role": role, "content": content})
        elif name == "stop":
            fields["parameters"].setdefault("stop", []).append(value)
        else:
            fields["parameters"][name] = parse_value(value)
    request = {k: v for k, v in fields.items() if v}
    show_progress(client.create(args.model, quantize=args.quantize, stream=True, **request))
    return 0
