"""Fellegi-Sunter match weights.

u (P(level | two unrelated records)) comes from random pairs of the day's
records; m (P(level | same entity)) starts from the kind's seeds and is
refined by expectation-maximisation over the candidate pairs' distinct
agreement patterns, with u held fixed (as Splink does). The EM runs on a
table of patterns (a few thousand rows at most), not on the pairs, so it
costs nothing at 10M pairs. A null level carries no evidence (weight 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from ..kinds.resolution import Resolution

U_FLOOR = 1e-6


@dataclass
class Weights:
    prior: float
    m: dict[str, list[float]]
    u: dict[str, list[float]]
    em_iterations: int
    em_used: bool

    def weight(self, name: str, level: int) -> float:
        return math.log2(self.m[name][level] / self.u[name][level])

    def table(self) -> pl.DataFrame:
        rows = [{"comparison": n, "level": i, "m": round(self.m[n][i], 5), "u": round(self.u[n][i], 6),
                 "weight": round(self.weight(n, i), 2)} for n in self.m for i in range(len(self.m[n]))]
        return pl.DataFrame(rows)


def u_probabilities(gamma_u: pl.DataFrame, res: Resolution) -> dict[str, list[float]]:
    u = {}
    for c in res.comparisons:
        counts = np.bincount(gamma_u[f"g_{c.name}"].filter(gamma_u[f"g_{c.name}"] >= 0).to_numpy().astype(np.int64),
                             minlength=c.n_levels)[:c.n_levels].astype(float)
        # Additive smoothing: a level never seen among random pairs (exact VIN
        # agreement) is rare, not impossible.
        probs = (counts + 0.5) / (counts.sum() + 0.5 * c.n_levels)
        u[c.name] = [max(float(p), U_FLOOR) for p in probs]
    return u


def _seed_m(res: Resolution) -> dict[str, list[float]]:
    m = {}
    for c in res.comparisons:
        if c.m:
            m[c.name] = list(c.m)
        else:  # agreement levels decreasingly likely among matches
            raw = [2.0 ** -i for i in range(c.n_levels)]
            m[c.name] = [x / sum(raw) for x in raw]
    return m


def _log_ratio(patterns: pl.DataFrame, res: Resolution, m: dict, u: dict) -> np.ndarray:
    total = np.zeros(patterns.height)
    for c in res.comparisons:
        g = patterns[f"g_{c.name}"].to_numpy()
        w = np.log2(np.asarray(m[c.name]) / np.asarray(u[c.name]))
        total += np.where(g >= 0, w[np.clip(g, 0, None)], 0.0)
    return total


def estimate(patterns: pl.DataFrame, u: dict[str, list[float]], res: Resolution) -> Weights:
    """`patterns`: distinct g_* level combinations with a `n` count column."""
    m = _seed_m(res)
    prior = res.prior
    iterations = 0
    if res.estimate_m and patterns.height:
        counts = patterns["n"].to_numpy().astype(float)
        for iterations in range(1, res.em_iterations + 1):
            lr = _log_ratio(patterns, res, m, u) + math.log2(prior / (1 - prior))
            p = 1.0 / (1.0 + np.exp2(-np.clip(lr, -60, 60)))
            w = counts * p
            new_prior = float(w.sum() / counts.sum())
            new_m = {}
            for c in res.comparisons:
                g = patterns[f"g_{c.name}"].to_numpy()
                num = np.array([w[g == lvl].sum() for lvl in range(c.n_levels)])
                new_m[c.name] = list((num + 0.5) / (num.sum() + 0.5 * c.n_levels)) if num.sum() > 0 else m[c.name]
            delta = max(abs(new_prior - prior), *(abs(a - b) for n in m for a, b in zip(m[n], new_m[n])))
            m, prior = new_m, min(max(new_prior, 1e-6), 0.999)
            if delta < 1e-5:
                break
        # EM must not turn exact agreement into evidence against a match; if
        # it does for a field, that field's seeds are kept.
        seeds = _seed_m(res)
        for c in res.comparisons:
            if m[c.name][0] <= u[c.name][0]:
                m[c.name] = seeds[c.name]
    return Weights(prior=prior, m=m, u=u, em_iterations=iterations, em_used=res.estimate_m)


def score_expr(weights: Weights, res: Resolution) -> tuple[pl.Expr, pl.Expr]:
    """(match weight, match probability) expressions over g_* columns. A
    when-chain per comparison rather than a lookup join, so it streams."""
    total = pl.lit(math.log2(weights.prior / (1 - weights.prior)))
    for c in res.comparisons:
        g = pl.col(f"g_{c.name}")
        w = pl.lit(0.0)
        for lvl in range(c.n_levels):
            w = pl.when(g == lvl).then(pl.lit(weights.weight(c.name, lvl))).otherwise(w)
        total = total + w
    return total, 1.0 / (1.0 + (2.0 ** (-total.clip(-60, 60))))


def reason_expr(res: Resolution) -> pl.Expr:
    """Which fields agreed, and how: "vin=, title~1, price~2" (level 0 is
    written `=`, weaker agreement `~<level>`; disagreements and nulls omitted)."""
    parts = []
    for c in res.comparisons:
        g = pl.col(f"g_{c.name}")
        last = c.n_levels - 1
        parts.append(pl.when(g == 0).then(pl.lit(f"{c.name}="))
                     .when((g > 0) & (g < last)).then(pl.lit(f"{c.name}~") + g.cast(pl.String))
                     .otherwise(None))
    return pl.concat_str(parts, separator=", ", ignore_nulls=True)
