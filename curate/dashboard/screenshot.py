"""A headless-Chromium screenshot of the HTML report: proof that it opens and shows its plots."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from curate.errors import CurateError

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0"]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


def console_errors(stderr: str) -> list[str]:
    """Console / page errors Chromium logged for the page (not its own start-up noise)."""
    out = []
    for line in stderr.splitlines():
        if ":CONSOLE" in line or "Uncaught" in line or "Failed to load resource" in line:
            out.append(line.strip())
    return out


def screenshot(page: str | Path, png: str | Path, exe: str | None = None, width: int = 1400,
               height: int = 3000, timeout: float = 90) -> Path:
    """Render `page` in headless Chromium into `png`; raise if it fails or logs page errors."""
    exe = exe or find_chromium()
    if exe is None:
        raise CurateError("chromium not found (Debian: apt-get install -y chromium)")
    page, png = Path(page).resolve(), Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="curate-chromium-") as profile:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={png}", page.as_uri()]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CurateError(f"chromium did not finish within {timeout:.0f}s") from None
    if p.returncode != 0 or not png.is_file():
        tail = (p.stderr or "").strip().splitlines()[-1:] or [""]
        raise CurateError(f"chromium failed (exit {p.returncode}): {tail[0]}")
    errors = console_errors(p.stderr)
    if errors:
        raise CurateError(f"the page logged errors in chromium: {errors[0]}")
    return png


def dump_dom(page: str | Path, exe: str | None = None, timeout: float = 90,
             width: int = 1400, height: int = 1000) -> str:
    """The DOM of `page` after Chromium has rendered it (`--dump-dom`) in a `width` x `height`
    window: what a reader sees, for checks on the rendered tables (and on layout, by a script
    the page runs); raises if Chromium fails or the page logs errors."""
    exe = exe or find_chromium()
    if exe is None:
        raise CurateError("chromium not found (Debian: apt-get install -y chromium)")
    page = Path(page).resolve()
    with tempfile.TemporaryDirectory(prefix="curate-chromium-") as profile:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
               "--dump-dom", page.as_uri()]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CurateError(f"chromium did not finish within {timeout:.0f}s") from None
    if p.returncode != 0:
        tail = (p.stderr or "").strip().splitlines()[-1:] or [""]
        raise CurateError(f"chromium failed (exit {p.returncode}): {tail[0]}")
    errors = console_errors(p.stderr)
    if errors:
        raise CurateError(f"the page logged errors in chromium: {errors[0]}")
    return p.stdout
