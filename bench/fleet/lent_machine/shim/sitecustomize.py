"""On the lent machine only: `AF_SWITCH_INTERVAL=0.001` sets every interpreter's GIL
switch interval (the face workers' forkserver included), to measure whether threads
of a multi-session face worker wait on the GIL's 5 ms hand-over."""

import os
import sys

if os.environ.get("AF_SWITCH_INTERVAL"):
    sys.setswitchinterval(float(os.environ["AF_SWITCH_INTERVAL"]))
