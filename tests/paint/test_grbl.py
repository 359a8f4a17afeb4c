"""GRBL streaming against a simulated machine on a pseudo terminal: the 128-byte receive
buffer never overflows, every line arrives in order, a refusal stops the stream."""

from __future__ import annotations

import os
import threading
import time
import tty

import numpy as np
import pytest

from museforge.errors import UserError
from museforge.paint.gcode import GcodeProfile, gcode_text
from museforge.paint.grbl import RX_BUFFER, GrblError, program_lines, stream


class FakeGrbl(threading.Thread):
    """Reads the master side of a pty like GRBL's serial buffer: it takes one line at a time
    (slowly, like a moving machine) and answers ok, or error:20 for a refused line."""

    def __init__(self, fd: int, slave: int, refuse: str | None = None) -> None:
        super().__init__(daemon=True)
        self.fd, self.slave, self.refuse = fd, slave, refuse
        self.lines: list[str] = []
        self.most_buffered = 0
        self.stop = False

    def run(self) -> None:
        buffered = b""
        while not self.stop:
            try:
                buffered += os.read(self.fd, 4096)
            except OSError:
                return
            self.most_buffered = max(self.most_buffered, len(buffered))
            while b"\n" in buffered:
                line, buffered = buffered.split(b"\n", 1)
                time.sleep(0.0005)
                text = line.decode()
                self.lines.append(text)
                answer = b"error:20\n" if text == self.refuse else b"ok\n"
                os.write(self.fd, answer)


def _machine(refuse: str | None = None) -> tuple[FakeGrbl, str]:
    """A simulated machine and the port to open; the pty's slave end stays open (held by
    the machine) so that the master never reads end-of-file between two openings."""
    master, slave = os.openpty()
    tty.setraw(slave)
    machine = FakeGrbl(master, slave, refuse)
    machine.start()
    return machine, os.ttyname(slave)


def test_streaming_keeps_under_the_buffer_and_sends_every_line_in_order() -> None:
    lines = [np.array([10 + i + 10j, 20 + i + 15j, 30 + 20j]) for i in range(40)]
    program = program_lines(gcode_text(lines, 297.0, GcodeProfile()))
    assert all(";" not in line for line in program)
    machine, port = _machine()
    done = stream(port, program, timeout=10)
    machine.stop = True
    assert done == len(program)
    assert machine.lines == program
    assert machine.most_buffered <= RX_BUFFER
    assert machine.most_buffered > RX_BUFFER // 2  # it did stream ahead, not line by line


def test_a_refused_line_stops_the_stream_with_its_number() -> None:
    machine, port = _machine(refuse="G1 X5.000 Y5.000")
    with pytest.raises(GrblError, match="refused line 3"):
        stream(port, ["G21", "G90", "G1 X5.000 Y5.000", "G1 X6.000 Y6.000"], timeout=5)
    machine.stop = True


def test_a_missing_port_is_a_user_error() -> None:
    with pytest.raises(UserError, match="cannot open the serial port"):
        stream("/nonexistent/ttyUSB9", ["G21"])


def test_draw_streams_its_plot_to_the_machine(tmp_path, home) -> None:
    from museforge.cli import run

    machine, port = _machine()
    out = tmp_path / "out"
    args = ["paint", "draw", "skimage:coffee", "--method", "painterly", "--strokes", "20"]
    args += ["--size", "32", "--out-size", "64", "--plotter", "a4", "--serial", port]
    assert run([*args, "--out", str(out)]) == 0
    machine.stop = True
    assert machine.lines == program_lines((out / "plot.gcode").read_text())
    assert machine.most_buffered <= RX_BUFFER
