"""``torchrun --nproc-per-node K -m lewm_agents.train DATA ...``: the ``lewm train`` command (entry.py), in one of K
processes. This file only calls it, so no module of the package runs twice."""

import sys

from lewm_agents.train.entry import main

raise SystemExit(main(sys.argv[1:]))
