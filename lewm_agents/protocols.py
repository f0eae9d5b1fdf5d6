"""The seams between a method and the rest of the toolkit: what agents, planners, the training loop and evaluation
may use of a method's model and objective, and nothing more.

* `WorldModel`: a model the planners search through (LeWM, PLDM-style, ...). `MPCAgent` and `planning.
  world_model_cost` use only these members.
* `Policy`: a goal-conditioned model that acts without a planner (GCBC, an amortized policy ...); `PolicyAgent`
  uses only these members.
* `Objective`: an ``nn.Module`` whose ``forward(batch)`` returns the loss and a dict of metrics. The training loop,
  DDP, validation, BatchNorm recalibration, monitoring and checkpointing use nothing else.
* `MethodConfig`: what every method's config dataclass carries for the data pipeline and the checkpoints.

A method (lewm_agents/methods/) bundles a config, a model builder and an objective builder; see
`lewm_agents.methods.Method` for how to add one.

Dimension letters: B batch, T frames, T0 context frames, S candidate action sequences, H horizon in action blocks,
H' policy action blocks, D latent, F = frameskip * A action block width (z-scored), h / w frame side.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from lewm_agents.data.batch import Batch


@runtime_checkable
class WorldModel(Protocol):
    """A latent world model the planners can search through.

    Actions are action blocks in the dataset's z-scored units: F = frameskip x A, the ``frameskip`` env actions
    executed between two predicted frames. The model is used in eval mode under ``torch.no_grad`` (except by the
    gradient planner, which differentiates ``rollout`` and ``goal_cost`` w.r.t. the actions).
    """

    @property
    def action_dim(self) -> int:
        """A, the env's action dimension."""
        ...

    @property
    def frameskip(self) -> int:
        """Env steps per action block."""
        ...

    @property
    def image_size(self) -> int:
        """Side of the square uint8 RGB frames ``encode`` takes."""
        ...

    @property
    def history(self) -> int:
        """Frames of context the model conditions on (the planner passes one: the current frame)."""
        ...

    @property
    def latent_dim(self) -> int:
        """D."""
        ...

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, T, h, w, 3)`` uint8 -> latents ``(B, T, D)``."""
        ...

    def rollout(
        self, z: torch.Tensor, actions: torch.Tensor, context_actions: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Predict the latents of S candidate action sequences from a shared context.

        Args:
            z: context latents ``(B, T0, D)``, the last one the current frame.
            actions: candidate action blocks ``(B, S, H, F)``, the first applied at the current frame.
            context_actions: the blocks applied between the context frames ``(B, T0 - 1, F)`` (when T0 > 1).

        Returns:
            Predicted latents ``(B, S, H, D)`` of the H frames after the current one.
        """
        ...

    def goal_cost(self, z_hat: torch.Tensor, z_goal: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The cost the planner minimises: rolled-out latents ``(B, S, H, D)``, goal latents ``(B, D)`` and the
        candidates ``(B, S, H, F)`` -> ``(B, S)``, lower is better. LeWM: the squared L2 distance of the last
        predicted latent to the goal; a value-based model: -(predicted return + terminal value)."""
        ...


@runtime_checkable
class Policy(Protocol):
    """A goal-conditioned policy: the next action blocks from the current frame's latent and the goal's latent.

    Actions are in the dataset's z-scored units (the agent un-normalises and clips them to the action space).
    """

    @property
    def action_dim(self) -> int:
        """A, the env's action dimension."""
        ...

    @property
    def frameskip(self) -> int:
        """Env steps per action block."""
        ...

    @property
    def image_size(self) -> int:
        """Side of the square uint8 RGB frames ``encode`` takes."""
        ...

    @property
    def latent_dim(self) -> int:
        """D."""
        ...

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, T, h, w, 3)`` uint8 -> latents ``(B, T, D)`` (current frames and goals alike)."""
        ...

    def act(self, z: torch.Tensor, z_goal: torch.Tensor) -> torch.Tensor:
        """Latents of the current frames ``(B, D)`` and of the goals ``(B, D)`` -> action blocks ``(B, H', F)``,
        the first to execute now."""
        ...


class Objective(Protocol):
    """A method's training objective: an ``nn.Module`` (DDP wraps it) holding the model as a submodule.

    Rules the loop relies on:

    * ``forward`` returns ``(loss, metrics)``: the scalar loss to minimise and scalar, detached metric tensors on the
      device, ``"loss"`` among them, with the same keys at every call (the loop logs whatever it gets: metrics.jsonl,
      TensorBoard, validation as ``val_<key>``). With ``with_stats`` it may add costlier diagnostics; the loop asks
      on log steps only. Latent statistics named ``emb_std`` (mean per-dimension std of the latents) and
      ``eff_rank`` (their effective rank) switch on the collapse warning, judged by the method's own criterion
      (`lewm_agents.methods.Method.collapse_std` / ``collapse_rank``); without them it is skipped.
    * Every trainable parameter lives in the model (the checkpoint saves the model); the objective holds the model,
      hyper-parameters and the random generator it was built with, nothing trainable.
    * Statistics over the batch (SIGReg, variance, covariance) must be those of the global batch under
      torch.distributed, so K processes train like one (see lewm_agents/distributed.py and tests/test_distributed.py).
    * Running ``forward`` under ``torch.no_grad`` with BatchNorm in training mode must pass every BatchNorm the
      inputs it sees in training: that is how the loop recalibrates BatchNorm statistics at the end of a run.
    """

    def __call__(self, batch: Batch, with_stats: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss and metrics of one batch (see the class docstring)."""
        ...


class MethodConfig(Protocol):
    """What every method's config (a frozen dataclass: architecture + loss weights) carries.

    ``action_dim`` is filled in from the dataset by the trainer; ``image_size`` must match the dataset's frames;
    ``frameskip`` sets the action blocks the data loader cuts.
    """

    image_size: int
    action_dim: int
    frameskip: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, saved in checkpoints."""
        ...
