"""The flow-matching ODE: fixed-step midpoint integration from noise (t=0) to data (t=1).

This reproduces torchdiffeq's ``odeint(f, x0, [0, 1], method="midpoint", step_size=1/steps)``
step for step (SPEC §3.7, §6), without the dependency.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

VectorField = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""f(time, state): time is a 0-dim float32 tensor, state (B, T, 2C); returns the velocity."""


def time_grid(steps: int) -> torch.Tensor:
    """(steps+1,) float32: k/steps, with the last point exactly 1.0 (as torchdiffeq builds it)."""
    if steps < 1:
        raise ValueError(f"the ODE needs at least 1 step, got steps={steps}")
    grid = torch.arange(steps + 1, dtype=torch.float32) * (1.0 / steps)
    grid[-1] = 1.0
    return grid


def integrate_midpoint(
    field: VectorField,
    start: torch.Tensor,
    steps: int,
    on_step: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Integrate ``field`` from ``start`` (the noise, any shape) over t ∈ [0, 1].

    Each step: f0 = f(t, y); y_mid = y + f0·(dt/2); y ← y + dt·f(t + dt/2, y_mid).
    ``on_step(k)`` is called after step k (1-based), for progress reporting.
    Returns the state at t = 1, same shape and dtype as ``start``.
    """
    grid = time_grid(steps).to(start.device)
    state = start
    for k in range(steps):
        t0, t1 = grid[k], grid[k + 1]
        dt = t1 - t0
        half_dt = 0.5 * dt
        f0 = field(t0, state)
        mid = state + f0 * half_dt
        state = state + dt * field(t0 + half_dt, mid)
        if on_step is not None:
            on_step(k + 1)
    return state
