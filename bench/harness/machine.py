"""What the run ran on: cores, CPU model, memory, load at the start (a shared machine)."""

from __future__ import annotations

import os
import platform
import subprocess


def describe_machine() -> dict:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    cores = os.cpu_count()
    summary = (f"{cores} cores ({model}), {memory_gib:.0f} GiB, Python {platform.python_version()}, "
               f"Node {node}, load average at start {load[0]:.2f}")
    return {"cores": cores, "cpu": model, "memory_gib": round(memory_gib, 1), "python": platform.python_version(),
            "node": node, "loadavg": load, "summary": summary}
