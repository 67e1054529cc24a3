"""Issue 19 (a quiet first run): ``mtlid config | head -2``, a reader that goes away before
the command has printed everything, ends the command quietly as any Unix tool does (exit
141, nothing on stderr), not with a BrokenPipeError traceback."""

from __future__ import annotations

import os
import subprocess
import sys


def test_a_reader_that_goes_away_ends_the_command_without_a_traceback(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)   # the reader is gone before the command writes
    try:
        done = subprocess.run([sys.executable, "-m", "services.cli", "config"], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60,
                              env={**{k: v for k, v in os.environ.items() if not k.startswith("MTLID_")},
                                   "MTLID_VAR_DIR": str(tmp_path)})
    finally:
        os.close(write_end)
    assert done.stderr == "" and done.returncode == 141, (done.returncode, done.stderr)
