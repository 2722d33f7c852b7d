"""The live stack the browser tests open: ``moesaic serve`` and ``moesaic ui`` as real processes.

The API runs on a free loopback port with its own home (embedded SQLite and Chroma), no generative
model (the offline extractive one), an empty datasets folder (customer_service seeds its demo store)
and a bootstrap key; the console runs against it with that key. Nothing here drives a browser.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

API_KEY = "msk-browser-smoke-0000"
START_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(log: Path, num_chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-num_chars:] if log.exists() else "(no log)"


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before it was up:\n{_tail(log)}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{what} was not up at {url} after {START_TIMEOUT_S:.0f} s:\n{_tail(log)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Interrupt the process's own group (``moesaic ui`` runs Streamlit as a child), then kill it."""
    for sig, wait_s in ((signal.SIGINT, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass(frozen=True)
class Stack:
    api_url: str
    console_url: str
    api_key: str
    logs: Path


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOESAIC_")}  # nothing of the caller's set-up
    datasets = home / "datasets"
    datasets.mkdir(parents=True, exist_ok=True)
    env.update(MOESAIC_HOME=str(home / "home"), MOESAIC_DATASETS_DIR=str(datasets), MOESAIC_BOOTSTRAP_API_KEY=API_KEY,
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    return env


@contextmanager
def live_stack(root: Path, extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """Start the API, then the console against it; stop both on exit. ``extra_env``: settings for both
    (e.g. ``MOESAIC_PUBMED_BASE_URL`` of a fake E-utilities server)."""
    env = {**_environment(root), **(extra_env or {})}
    api_port, console_port = free_port(), free_port()
    api_url, console_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{console_port}"
    cli = [sys.executable, "-m", "moesaic.cli"]
    api_log, console_log = root / "api.log", root / "console.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with api_log.open("wb") as out:
            processes.append(subprocess.Popen([*cli, "serve", "--host", "127.0.0.1", "--port", str(api_port)],
                                              env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
        wait_until_up(f"{api_url}/readyz", processes[0], api_log, "the API")
        console_env = {**env, "MOESAIC_API_URL": api_url, "MOESAIC_UI_API_KEY": API_KEY}
        with console_log.open("wb") as out:
            processes.append(subprocess.Popen([*cli, "ui", "--host", "127.0.0.1", "--port", str(console_port)],
                                              env=console_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
        wait_until_up(f"{console_url}/_stcore/health", processes[1], console_log, "the console")
        yield Stack(api_url=api_url, console_url=console_url, api_key=API_KEY, logs=root)
    finally:
        for process in reversed(processes):
            stop(process)
