"""What any local user can read about the host's processes (for tests that look for leaked secrets)."""

from __future__ import annotations

import os
from pathlib import Path


def command_lines() -> list[str]:
    """Every process's command line, as `ps` shows it to any local user."""
    lines = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        lines.append(raw.replace(b"\0", b" ").decode(errors="replace"))
    return lines
