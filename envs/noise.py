"""Coloured (1/f^beta) action noise: a temporally correlated random collection policy for any env.

Dimension letters: A action dim (n for a Discrete(n) space), T steps of one generated noise sequence.

White noise (beta = 0) makes a robot jitter in place; correlated noise makes it sweep through its workspace, which
gives a world model far more varied data per frame (Eberhard et al., "Pink Noise Is All You Need", ICLR 2023, used
pink noise, beta = 1, for exploration). beta = 2 is Brownian-like red noise. Sequences come from the
Timmer & Koenig (1995) spectral method: Gaussian Fourier coefficients scaled by f^(-beta/2), inverse FFT, normalised
to unit variance.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np

__all__ = ["ColoredNoisePolicy", "powerlaw_noise"]


def powerlaw_noise(beta: float, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with power spectral density proportional to 1/f^beta along the last axis, unit variance.

    Frequencies below 1/T (the longest period one sequence can hold) are cut off, as in ``colorednoise``.

    Args:
        beta: Spectral exponent: 0 white, 1 pink, 2 red/Brownian.
        shape: Output shape; the last axis is time T (>= 2).
        rng: Generator the Fourier coefficients are drawn from.

    Returns:
        float64 array of ``shape``, each sequence zero-mean with unit variance in expectation.

    Example:
        >>> x = powerlaw_noise(2.0, (3, 256), np.random.default_rng(0))
        >>> x.shape
        (3, 256)
    """
    steps = int(shape[-1])
    if steps < 2:
        raise ValueError(f"powerlaw_noise needs at least 2 time steps, got shape {shape}.")
    freqs = np.fft.rfftfreq(steps)  # (F,), F = T // 2 + 1
    freqs[0] = 1.0 / steps  # cut-off at the lowest representable frequency (also avoids 0 ** -beta)
    amplitude = freqs ** (-beta / 2.0)  # (F,)
    # Expected standard deviation of the resulting signal, used to normalise it to unit variance.
    weights = amplitude[1:].copy()
    weights[-1] *= (1 + steps % 2) / 2.0  # the Nyquist bin of an even-length signal is real and counts once
    sigma = 2.0 * np.sqrt(np.sum(weights**2)) / steps
    real = rng.normal(size=(*shape[:-1], len(freqs))) * amplitude  # (..., F)
    imag = rng.normal(size=(*shape[:-1], len(freqs))) * amplitude  # (..., F)
    if steps % 2 == 0:  # the Nyquist coefficient of a real signal is real
        imag[..., -1] = 0.0
        real[..., -1] *= np.sqrt(2.0)
    imag[..., 0] = 0.0  # the mean is real too
    real[..., 0] *= np.sqrt(2.0)
    return np.fft.irfft(real + 1j * imag, n=steps, axis=-1) / sigma  # (..., T)


class ColoredNoisePolicy:
    """Temporally correlated random actions: 1/f^beta noise mapped into a bounded Box (or argmax for Discrete).

    A Box action is ``center + half_range * clip(scale * noise, -1, 1)``: with the default ``scale=0.5`` the noise
    has half the half-range as standard deviation, so about 5% of the values are clipped at the bounds. A Discrete(n)
    action is the argmax of n independent noise sequences, so the chosen action persists for a while when beta > 0.

    The policy ignores observations (it reads neither ``obs`` nor ``info``), so it works with any env; env-specific
    policies can wrap it and post-process its actions. One noise sequence of ``horizon`` steps is drawn per
    ``reset`` and extended by a fresh one if an episode runs longer.

    Args:
        action_space: The env's action space: a Box with finite bounds, or Discrete.
        seed: Seed of the policy's own generator (``reset(seed=...)`` reseeds it).
        beta: Spectral exponent: 0 white, 1 pink (default), 2 red. Must lie in [0, 4].
        scale: Standard deviation of the noise in units of the half-range, before clipping (Box only).
        horizon: Length T of one generated noise sequence; correlations longer than T steps are cut off.

    Example:
        >>> policy = ColoredNoisePolicy(action_space=gymnasium.spaces.Box(-1.0, 1.0, (2,)), seed=0, beta=2.0)
        >>> policy.reset(seed=1)
        >>> policy(None, {}).shape
        (2,)
    """

    def __init__(
        self,
        *,
        action_space: gymnasium.Space,
        seed: int | None = None,
        beta: float = 1.0,
        scale: float = 0.5,
        horizon: int = 1000,
    ) -> None:
        if not 0.0 <= beta <= 4.0:
            raise ValueError(f"ColoredNoisePolicy beta must lie in [0, 4] (0 white, 1 pink, 2 red), got {beta}.")
        if scale <= 0 or horizon < 2:
            raise ValueError(f"ColoredNoisePolicy needs scale > 0 and horizon >= 2, got {scale} and {horizon}.")
        if isinstance(action_space, gymnasium.spaces.Box):
            low, high = action_space.low.astype(np.float64), action_space.high.astype(np.float64)
            if not (np.isfinite(low).all() and np.isfinite(high).all()):
                raise ValueError(
                    f"ColoredNoisePolicy maps noise into the action bounds, so they must be finite; got "
                    f"{action_space}. Wrap the env in gymnasium.wrappers.RescaleAction or write an env-specific policy."
                )
            self._center, self._half = (low + high) / 2.0, (high - low) / 2.0  # (*shape,) each
            dims = int(np.prod(action_space.shape, dtype=np.int64))
        elif isinstance(action_space, gymnasium.spaces.Discrete):
            dims = int(action_space.n)
        else:
            raise TypeError(f"ColoredNoisePolicy supports Box and Discrete action spaces, got {action_space}.")
        self.action_space = action_space
        self.beta, self.scale, self.horizon = float(beta), float(scale), int(horizon)
        self._dims = dims
        self._rng = np.random.default_rng(seed)
        self._noise = np.zeros((dims, 0))  # (A, T) the current sequence
        self._t = 0

    def reset(self, seed: int | None = None) -> None:
        """Start a new noise sequence; a seed makes it reproducible (otherwise the current stream continues)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._noise, self._t = np.zeros((self._dims, 0)), 0

    def __call__(self, obs: Any, info: dict[str, Any]) -> Any:
        """The next action of the sequence: a float Box array of the space's shape, or an int for Discrete."""
        if self._t >= self._noise.shape[1]:
            self._noise = powerlaw_noise(self.beta, (self._dims, self.horizon), self._rng)  # (A, T)
            self._t = 0
        x = self._noise[:, self._t]  # (A,)
        self._t += 1
        space = self.action_space
        if isinstance(space, gymnasium.spaces.Discrete):
            return int(np.argmax(x)) + int(space.start)
        unit = np.clip(self.scale * x.reshape(space.shape), -1.0, 1.0)  # (*shape,)
        return np.clip(self._center + self._half * unit, space.low, space.high).astype(space.dtype)
