"""`python -m lewm_agents` is the `lewm` command."""

from lewm_agents.cli import main

raise SystemExit(main())
