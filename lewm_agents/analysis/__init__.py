"""What the latent space knows, for any registered method (reference/lewm.md §6.4-6.7): physical probes
(`probe`), violation of expectation (`surprise`), temporal straightness (`straightness`) and latent maps
(`latent_map`); `cell` runs them all on a benchmark cell. Every analysis uses a model only through
`lewm_agents.protocols.WorldModel` (``encode``; ``rollout`` for surprise), so a new method is analysed unchanged.

Commands: ``lewm probe RUN [RUN ...]``, ``lewm surprise RUN``, ``lewm straightness RUN [RUN ...]``, ``lewm latent-map
RUN``, ``lewm analyses CELL`` (``make analyses ENV=x SCALE=y``).
"""

from lewm_agents.analysis.latent_map import latent_map
from lewm_agents.analysis.probe import ProbeRecipe, probe_latents, probe_run, probe_table
from lewm_agents.analysis.straightness import StraightnessProbe, checkpoint_straightness, straightness
from lewm_agents.analysis.surprise import paired_t_test, surprise, surprise_test

__all__ = [
    "ProbeRecipe",
    "StraightnessProbe",
    "checkpoint_straightness",
    "latent_map",
    "paired_t_test",
    "probe_latents",
    "probe_run",
    "probe_table",
    "straightness",
    "surprise",
    "surprise_test",
]
