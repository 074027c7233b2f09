"""A local AWS emulator (moto server) over real HTTP, for the local default and for tests.

The pipeline talks to it with the same boto3 calls it makes against AWS; only the endpoint URL
differs (``Settings.aws_endpoint_url``).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"moto server did not answer on {url} within {timeout_s}s")


@contextmanager
def moto_server(port: int | None = None, log_file: Path | None = None,
                command: Sequence[str] | None = None) -> Iterator[str]:
    """Run ``moto_server`` on 127.0.0.1 for the duration of the block; yields its endpoint URL.

    ``command`` replaces the server's command line (it gets the port as its last argument), for a
    test that needs a moto with a behaviour adjusted.
    """
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    argv = ([*command, str(port)] if command else
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)])
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(url, process, timeout_s=30)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log_file:
            log.close()  # type: ignore[union-attr]
