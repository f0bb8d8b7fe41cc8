"""py-spy, from outside the process: what a service spends its time on while it drains a topic.

`record --format raw` writes collapsed stacks ("frame;frame;… count"); we keep a short text summary (the
functions with the most samples, inclusive and self) next to the results, not the raw dump.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path


class Profiler:
    def __init__(self, pid: int, raw_path: Path, seconds: int = 60) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.raw_path = raw_path
        self.popen = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--rate",
                "200",
                "--duration",
                str(seconds),
                "--format",
                "raw",
                "--output",
                str(raw_path),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)  # py-spy writes what it has on Ctrl-C
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()


def summarize(raw_path: Path, top: int = 25) -> str:
    if not raw_path.exists():
        return "(no profile: py-spy produced nothing — is ptrace allowed?)\n"
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    if not total:
        return "(empty profile)\n"
    lines = [f"{total} samples at 200 Hz", "", "inclusive (our code and libraries, top):"]
    for frame, count in inclusive.most_common(top * 3):
        if "site-packages/" in frame or "/work/" in frame or "services/" in frame or "shared/" in frame:
            lines.append(f"  {100 * count / total:5.1f} %  {frame}")
        if len(lines) > top + 3:
            break
    lines += ["", "self (where the CPU is):"]
    for frame, count in own.most_common(top):
        lines.append(f"  {100 * count / total:5.1f} %  {frame}")
    return "\n".join(lines) + "\n"
