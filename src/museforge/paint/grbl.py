"""Stream G-code to a GRBL machine over a serial port, with GRBL's flow control.

GRBL reads commands into a 128-byte receive buffer and answers each line with ``ok`` or
``error:N``. The character-counting protocol (GRBL's own streaming guide) keeps the bytes
sent but not yet answered under that size: a line goes out only when it fits, and every
answer frees the oldest line's bytes. Comments and blank lines are never sent. The port is
opened as a plain file in raw mode (termios), so no serial library is needed; a pseudo
terminal stands in for the machine in the tests.
"""

from __future__ import annotations

import os
import select
import termios
import time
import tty
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from museforge.errors import UserError

RX_BUFFER = 128  # bytes in GRBL's serial receive buffer


class GrblError(UserError):
    """The machine refused a line or stopped answering."""


def program_lines(text: str) -> list[str]:
    """The lines GRBL should receive: comments (``;`` and ``(...)``) and blanks dropped."""
    out = []
    for raw in text.splitlines():
        line = raw.split(";")[0].strip()
        while "(" in line and ")" in line:
            line = (line[: line.index("(")] + line[line.index(")") + 1 :]).strip()
        if line:
            out.append(line)
    return out


def stream(
    port: str | Path,
    lines: Iterable[str],
    *,
    timeout: float = 30.0,
    on_line: Callable[[int], None] | None = None,
) -> int:
    """Send ``lines`` to the machine on ``port``; returns how many were acknowledged."""
    try:
        fd = os.open(str(port), os.O_RDWR | os.O_NOCTTY)
    except OSError as err:
        raise UserError(f"{port}: cannot open the serial port ({err.strerror or err})") from None
    try:
        if os.isatty(fd):
            tty.setraw(fd, termios.TCSANOW)
        return _stream(fd, list(lines), timeout, on_line)
    finally:
        os.close(fd)


def _stream(
    fd: int, lines: list[str], timeout: float, on_line: Callable[[int], None] | None
) -> int:
    pending: deque[int] = deque()  # byte counts of lines sent and not yet answered
    received = b""
    sent = done = 0
    last_answer = time.monotonic()
    while done < len(lines):
        while sent < len(lines):
            data = (lines[sent] + "\n").encode("ascii")
            if len(data) > RX_BUFFER:
                raise GrblError(f"line {sent + 1} is longer than GRBL's {RX_BUFFER}-byte buffer")
            if sum(pending) + len(data) > RX_BUFFER:
                break
            os.write(fd, data)
            pending.append(len(data))
            sent += 1
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            if time.monotonic() - last_answer > timeout:
                raise GrblError(f"the machine did not answer for {timeout:g} s (line {done + 1})")
            continue
        received += os.read(fd, 1024)
        while b"\n" in received:
            answer, received = received.split(b"\n", 1)
            text = answer.decode("ascii", "replace").strip()
            if text == "ok" or text.startswith("error"):
                if text.startswith("error"):
                    raise GrblError(f"the machine refused line {done + 1} ({lines[done]}): {text}")
                pending.popleft()
                done += 1
                last_answer = time.monotonic()
                if on_line is not None:
                    on_line(done)
    return done
