#!/usr/bin/env python3
"""Runs a peer script with time.perf_counter replaced by time.process_time.

Usage: cpu_clock.py SCRIPT [ARGS...]

The peers' scripts time their loops with time.perf_counter() (wall time). On a
shared machine wall time grows with the load; the CPU time of the process does not.
With this wrapper every timing they print (their `wall=` field included) is CPU
seconds of the whole process (all its threads), which is what `run.sh --clock cpu`
compares with Kestrel's CPU time.
"""
import runpy
import sys
import time

if len(sys.argv) < 2:
    sys.exit(__doc__)
time.perf_counter = time.process_time
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
