"""Ray's token authentication as Vigil uses it: where the token lives and how a node finds it.

Ray 2.60 checks a shared token on every gRPC call between its processes (GCS, raylets,
workers, agents) when `RAY_AUTH_MODE=token`. A process finds the token, in this order, in
`RAY_AUTH_TOKEN` (the token itself), in the file `RAY_AUTH_TOKEN_PATH` names, or in
`~/.ray/auth_token`, which Ray creates world-readable (0644) and shares between every
cluster the user starts.

- Local mode (no `ray.address`): each `vigil serve` writes a fresh token into
  `{data_dir}/ray-auth-token` (0600) and points `RAY_AUTH_TOKEN_PATH` at it; Ray's
  processes inherit the variable, so the token never appears on a command line and dies
  with the cluster.
- Cluster mode (`ray.address`): Vigil joins with the cluster's token, taken from
  `RAY_AUTH_TOKEN`/`RAY_AUTH_TOKEN_PATH` when set, else `{data_dir}/ray-auth-token`, else
  `~/.ray/auth_token` (see `cluster_token`; the README's Security section says how the token
  reaches every node).

No `ray` import here: `vigil doctor` uses these functions without starting Ray.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

AUTH_MODE_VAR = "RAY_AUTH_MODE"
TOKEN_VAR = "RAY_AUTH_TOKEN"
TOKEN_PATH_VAR = "RAY_AUTH_TOKEN_PATH"
TOKEN_FILE = "ray-auth-token"  # in Vigil's data folder


class RayAuthError(RuntimeError):
    """Ray's token authentication cannot be set up as Vigil requires; the message says what to do."""


@dataclass(frozen=True)
class TokenSource:
    """Where a Ray process will read the cluster's token: a variable, or a file."""
    variable: str  # TOKEN_VAR or TOKEN_PATH_VAR, or "" for Ray's default file
    path: Path | None  # the token file (None when the token is in TOKEN_VAR itself)

    def describe(self) -> str:
        if self.path is None:
            return f"${self.variable}"
        return f"{self.path} (${self.variable})" if self.variable else str(self.path)


def ray_default_token_path(home: Path) -> Path:
    """The file Ray reads when neither variable is set (and creates 0644 for a new cluster)."""
    return home / ".ray" / "auth_token"


def write_local_token(data_dir: Path) -> Path:
    """A fresh token in `{data_dir}/ray-auth-token`, mode 0600, replaced atomically."""
    path = data_dir / TOKEN_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))  # what `ray get-auth-token --generate` writes: 256 bits
    os.replace(tmp, path)
    return path


def cluster_token(env: Mapping[str, str], data_dir: Path | None, home: Path) -> TokenSource | None:
    """Where `vigil serve --ray-address …` takes the cluster's token from; None if nowhere."""
    if env.get(TOKEN_VAR):
        return TokenSource(TOKEN_VAR, None)
    if env.get(TOKEN_PATH_VAR):
        return TokenSource(TOKEN_PATH_VAR, Path(env[TOKEN_PATH_VAR]))
    candidates = ([data_dir / TOKEN_FILE] if data_dir is not None else []) + [ray_default_token_path(home)]
    for path in candidates:
        if path.is_file():
            return TokenSource("", path)
    return None


def is_private(path: Path) -> bool:
    """True when neither the group nor other users have any access to `path`."""
    return path.stat().st_mode & 0o077 == 0
