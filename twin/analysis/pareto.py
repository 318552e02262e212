"""The Pareto front of a table of objectives."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pareto_mask(points: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """Mask of the non-dominated rows of ``points``.

    A row is dominated when another row is at least as good in every column and strictly better
    in one (Pareto dominance). Equal rows do not dominate each other. Rows with a NaN are never
    on the front (and dominate nothing). The pairwise comparison costs O(n^2 k), fine for the
    hundreds of configurations of a study.

    Parameters
    ----------
    points : array of shape (n, k)
        One row per candidate, one column per objective.
    maximise : sequence of bool, length k
        Per column: ``True`` if higher is better, ``False`` if lower is better.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
        ``True`` for the Pareto-optimal rows.

    Raises
    ------
    ValueError
        If ``points`` is not two-dimensional with one column per entry of ``maximise``.

    References
    ----------
    K. Deb, *Multi-Objective Optimization Using Evolutionary Algorithms*, Wiley, 2001, 2.4.

    Examples
    --------
    Maximise both columns: ``(2, 2)`` is dominated by ``(2, 4)`` and ``(3, 3)``.

    >>> pareto_mask(np.array([[1, 5], [2, 4], [3, 3], [2, 2]]), [True, True]).tolist()
    [True, True, True, False]
    """
    pts = np.asarray(points, dtype=float)
    if pts.size == 0 and pts.ndim < 2:
        return np.zeros(0, dtype=bool)
    if pts.ndim != 2 or pts.shape[1] != len(maximise):
        raise ValueError(f"points must have shape (n, {len(maximise)}), got {tuple(pts.shape)}")
    # Flip the minimised columns so that "higher is better" everywhere.
    q = pts * np.where(np.asarray(maximise, dtype=bool), 1.0, -1.0)
    valid = ~np.isnan(q).any(axis=1)
    mask = valid.copy()
    cand = q[valid]
    for k, i in enumerate(np.flatnonzero(valid)):
        dominates = (cand >= cand[k]).all(axis=1) & (cand > cand[k]).any(axis=1)
        if dominates.any():
            mask[i] = False
    return mask
