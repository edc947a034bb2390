"""ffmpeg's input for a URL that passed `storage.url_policy`: nothing secret on the command line,
nothing reached that the policy does not allow.

- The URL (with any user:password) and its input options go to ffmpeg on its
  standard input, as a one-entry ffconcat script read with
  `-f concat -safe 0 -i pipe:0`. The command line (`ps`, /proc/*/cmdline) shows
  only `pipe:0`; nothing is written to disk. (`-/i file` does not work for
  `-i`, and a script file would need the `file` protocol whitelisted.)
- `-protocol_whitelist` per scheme: the concat demuxer copies it to the input it
  opens, and every nested open (HLS segments and keys, redirects) inherits it.
  `file`, `fd`, `data`, `subfile`, `concat` and the rest are never on it; `pipe`
  is (for the script itself), but the only readable pipe, stdin, is closed
  once the script is written.
- HTTP(S) and RTSPS inputs run with a `FetchProxy` in ffmpeg's environment
  (`http_proxy`; ffmpeg's HTTP and TLS both honour it), which checks the host
  of every connection they make.

`GuardedInput` is a context manager: the proxy lives until it exits.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import TracebackType

from storage.fetch_proxy import FetchProxy
from storage.url_policy import CheckedUrl, UrlPolicy

PROTOCOLS: dict[str, str] = {  # ffmpeg protocols each scheme may use, nested opens included
    "http": "pipe,http,https,tcp,tls,httpproxy,crypto",
    "https": "pipe,http,https,tcp,tls,httpproxy,crypto",
    "rtsp": "pipe,tcp",  # the RTSP demuxer opens tcp:// itself (interleaved RTP: -rtsp_transport tcp)
    "rtsps": "pipe,tcp,tls,httpproxy",  # TLS through the FetchProxy (CONNECT)
    "udp": "pipe,udp",
    "rtp": "pipe,rtp,udp",
}
_PROXY_VARS = ("http_proxy", "https_proxy", "no_proxy", "all_proxy")


@dataclass(frozen=True)
class FfmpegInput:
    args: tuple[str, ...]  # input options and `-i pipe:0`, in place of `-i URL`
    script: bytes = field(repr=False)  # write to ffmpeg's stdin, then close it
    env: dict[str, str] = field(repr=False)


def concat_script(url: str, options: Mapping[str, str]) -> bytes:
    """The ffconcat script naming `url`, with `options` for opening it."""
    lines = ["ffconcat version 1.0", f"file {_quoted(url)}",
             *(f"option {_option_name(k)} {_quoted(v)}" for k, v in options.items())]
    return ("\n".join(lines) + "\n").encode()


def _quoted(value: str) -> str:
    if any(c in value for c in "\n\r\0"):
        raise ValueError("ffconcat values cannot hold line breaks")
    return "'" + value.replace("'", "'\\''") + "'"


def _option_name(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"bad ffmpeg option name {name!r}")
    return name


class GuardedInput(AbstractContextManager["GuardedInput"]):
    """`with GuardedInput(checked, policy, options) as guarded:` run ffmpeg with `guarded.input`."""

    def __init__(self, checked: CheckedUrl, policy: UrlPolicy, options: Mapping[str, str]) -> None:
        self._checked = checked
        self._proxy = (FetchProxy(policy, checked.purpose, {(checked.host, checked.port): checked.ip})
                       if checked.proxied else None)
        env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
        self.input = FfmpegInput(
            ("-protocol_whitelist", PROTOCOLS[checked.scheme], "-f", "concat", "-safe", "0",
             "-auto_convert", "0", "-i", "pipe:0"),
            concat_script(checked.url, options),
            self._proxy.environment(env) if self._proxy else env)

    @property
    def refusals(self) -> list[str]:
        """Why the proxy refused connections ffmpeg tried (redirects, segments), in order."""
        return list(self._proxy.refusals) if self._proxy else []

    def __enter__(self) -> GuardedInput:
        if self._proxy is not None:
            self._proxy.start()
        return self

    def close(self) -> None:
        if self._proxy is not None:
            self._proxy.close()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
