"""What the processes of a Vigil node listen on, read from /proc (Linux).

`node_processes` finds the `vigil serve` processes that run on a data folder and every process
they started (SeaweedFS, the local Ray cluster's GCS, raylet, agents, workers, ffmpeg);
`process_listeners` lists their listening TCP sockets and bound, unconnected UDP ones, from
the socket inodes in /proc/<pid>/fd and the tables in /proc/net/{tcp,tcp6,udp,udp6}.
Processes of other users, or gone meanwhile, are skipped: run it as the server's user.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TCP_LISTEN, UDP_UNCONNECTED = "0A", "07"  # socket states in /proc/net/{tcp,udp}[6]


@dataclass(frozen=True)
class Listener:
    """A listening TCP socket, or a bound unconnected UDP one, of a process."""
    pid: int
    process: str
    proto: str  # "tcp" or "udp"
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.proto} {host}:{self.port} ({self.process}, pid {self.pid})"


def is_loopback(host: str) -> bool:
    """'localhost', 127.0.0.0/8, ::1 and ::ffff:127.x.y.z; a unix socket counts too."""
    host = host.strip("[]")
    if host == "localhost" or host.startswith("unix:"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # another name may resolve anywhere
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def parse_proc_net(text: str, proto: str) -> dict[int, tuple[str, int]]:
    """Socket inode → (host, port) of the listening sockets in one /proc/net/{tcp,udp}[6] table."""
    listening = TCP_LISTEN if proto.startswith("tcp") else UDP_UNCONNECTED
    found = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 9 and fields[3] == listening:
            found[int(fields[9])] = _address(fields[1])
    return found


def _address(field: str) -> tuple[str, int]:
    """'0100007F:1F90' → ('127.0.0.1', 8080): 32-bit words in host (little-endian) order."""
    hexaddr, hexport = field.split(":")
    raw = bytes.fromhex(hexaddr)
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw), int(hexport, 16)


def listening_sockets(proc: Path = PROC) -> dict[int, tuple[str, str, int]]:
    """Socket inode → (proto, host, port) for every listening socket this network namespace has."""
    table: dict[int, tuple[str, str, int]] = {}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            text = (proc / "net" / proto).read_text()
        except OSError:
            continue
        for inode, (host, port) in parse_proc_net(text, proto).items():
            table[inode] = (proto.rstrip("6"), host, port)
    return table


def process_listeners(pids: Iterable[int], proc: Path = PROC) -> list[Listener]:
    """The listening sockets the processes `pids` hold (processes that are gone are skipped)."""
    sockets = listening_sockets(proc)
    found = []
    for pid in sorted(set(pids)):
        name = _read(proc / str(pid) / "comm").strip() or "?"
        for link in _fd_links(proc, pid):
            if link.startswith("socket:[") and (entry := sockets.get(int(link[8:-1]))):
                found.append(Listener(pid, name, *entry))
    return found


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    argv: tuple[str, ...]


def processes(proc: Path = PROC) -> dict[int, Process]:
    table = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        stat = _read(entry / "stat")
        if not stat:
            continue
        pid, ppid = int(entry.name), int(stat.rsplit(")", 1)[1].split()[1])
        table[pid] = Process(pid, ppid, tuple(process_argv(pid, proc)))
    return table


def is_vigil_serve(argv: Sequence[str]) -> bool:
    """`vigil serve` or `python -m services.cli serve`."""
    return "serve" in argv and any(a == "services.cli" or a.endswith("/vigil") or a == "vigil" for a in argv)


def node_processes(data_dir: Path, proc: Path = PROC, me: int | None = None) -> tuple[set[int], set[int]]:
    """(the `vigil serve` processes, every process of theirs) running on `data_dir`.

    A process belongs to the node when its command line names the data folder (SeaweedFS does),
    it holds a file there open, or it is a `vigil serve` whose VIGIL_DATA_DIR is that folder;
    with the `vigil serve` parent of such a process and every descendant (the Ray processes a
    local cluster starts).
    """
    me = os.getpid() if me is None else me
    table = processes(proc)
    data = str(data_dir.resolve())
    inside = re.compile(re.escape(data) + r"(?=/|$)")
    roots = {pid for pid, p in table.items() if pid != me and _uses(proc, p, inside, data)}
    roots |= {table[pid].ppid for pid in roots if table[pid].ppid in table
              and is_vigil_serve(table[table[pid].ppid].argv)}
    serve = {pid for pid in roots if is_vigil_serve(table[pid].argv)}
    return serve, _with_descendants(roots, table)


def _uses(proc: Path, p: Process, inside: re.Pattern[str], data: str) -> bool:
    if any(inside.search(arg) for arg in p.argv) or any(inside.match(x) for x in _fd_links(proc, p.pid)):
        return True
    return is_vigil_serve(p.argv) and _serve_data_dir(proc, p.pid) == data


def _serve_data_dir(proc: Path, pid: int) -> str | None:
    """The data folder a `vigil serve` process uses by its environment (None if unreadable)."""
    env, cwd = process_environ(pid, proc), _readlink(proc / str(pid) / "cwd")
    if not env or not cwd:
        return None
    return os.path.normpath(os.path.join(cwd, env.get("VIGIL_DATA_DIR", ".vigil")))


def process_environ(pid: int, proc: Path = PROC) -> dict[str, str]:
    """The environment `pid` was started with ({} when unreadable)."""
    raw = _read(proc / str(pid) / "environ")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def process_argv(pid: int, proc: Path = PROC) -> list[str]:
    return _read(proc / str(pid) / "cmdline").split("\0")[:-1]


def _with_descendants(roots: set[int], table: Mapping[int, Process]) -> set[int]:
    children: dict[int, list[int]] = {}
    for p in table.values():
        children.setdefault(p.ppid, []).append(p.pid)
    found, todo = set(roots), list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _readlink(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _fd_links(proc: Path, pid: int) -> list[str]:
    folder = proc / str(pid) / "fd"
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [link for name in names if (link := _readlink(folder / name))]
