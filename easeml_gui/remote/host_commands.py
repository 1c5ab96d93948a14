"""The one way the host-side modules (host_tasks, host_datasets, host_weights) answer: `python -m MODULE COMMAND`
with a JSON request on stdin and a JSON answer on stdout. Standard library only: it runs on the host."""

from __future__ import annotations

import json
import sys
from typing import Any, Callable, Mapping

Command = Callable[[Mapping[str, Any]], dict[str, Any]]


def serve(module: str, commands: Mapping[str, Command], argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in commands:
        print(f"usage: python -m {module} {{{','.join(commands)}}} < request.json", file=sys.stderr)
        return 2
    print(json.dumps(commands[argv[0]](json.load(sys.stdin))))
    return 0
