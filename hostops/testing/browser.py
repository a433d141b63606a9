"""Headless Chromium, for the report's tests and benchmark: a page's DOM after its
script ran, and a screenshot. Chromium is kept off every network: no background
services, every host name unresolvable, any connection sent to a closed loopback port.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome")
_OFFLINE = (
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
)


def chromium() -> str | None:
    """The Chromium executable on PATH, if any."""
    return next((p for p in map(shutil.which, NAMES) if p), None)


def _run(page: Path, *flags: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="hostops-chromium-") as profile:
        argv = [exe, *_OFFLINE, f"--user-data-dir={profile}", *flags]
        if os.geteuid() == 0:  # Chromium refuses to run as root with its sandbox
            argv.append("--no-sandbox")
        argv.append(page.resolve().as_uri())
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=True)


def dump_dom(page: Path) -> str:
    """The page's DOM, serialized once it loaded and its scripts ran."""
    return _run(page, "--dump-dom").stdout


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 2000) -> None:
    """A PNG of the page's first ``width`` x ``height`` pixels."""
    _run(page, f"--screenshot={png.resolve()}", f"--window-size={width},{height}")
