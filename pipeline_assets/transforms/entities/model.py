"""Fellegi-Sunter match weights.

u (P(level | two unrelated records)) comes from random pairs of the day's
records. m (P(level | same entity)) comes, per comparison, from the first
source that has enough evidence:
1. the day's *rule pairs*: candidate pairs that agree exactly on the kind's
   high-precision comparison (`m_from_rule`: a VIN, an applicant-tracking
   id). Those are matches by construction, so the level frequencies of every
   other comparison among them estimate its m directly, with no labels and no
   EM (which drifts to degenerate solutions on blocked pairs, where
   look-alikes dominate). Comparisons the rule pairs rarely fill keep seeds;
2. the kind's seeds.
The prior P(match) among candidate pairs is then fitted by EM with m and u
held fixed: one parameter, a concave likelihood, always converges. The EM
runs on the table of distinct agreement patterns (a few thousand rows at
most), not on the pairs, so it costs nothing at 10M pairs. A null level
carries no evidence (weight 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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
    m_origin: dict[str, str] = field(default_factory=dict)

    def weight(self, name: str, level: int) -> float:
        return math.log2(self.m[name][level] / self.u[name][level])

    def table(self) -> pl.DataFrame:
        rows = [{"comparison": n, "level": i, "m": round(self.m[n][i], 5), "u": round(self.u[n][i], 6),
                 "weight": round(self.weight(n, i), 2), "m_from": self.m_origin.get(n, "seed")}
                for n in self.m for i in range(len(self.m[n]))]
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


def _m_from_rule(patterns: pl.DataFrame, res: Resolution, m: dict) -> dict[str, str]:
    """Overwrite m in place from the rule pairs; returns comparison -> source of its m."""
    origin = {c.name: "seed" for c in res.comparisons}
    if not res.m_from_rule or not patterns.height:
        return origin
    rule = patterns.filter(pl.col(f"g_{res.m_from_rule}") == 0)
    for c in res.comparisons:
        if c.name == res.m_from_rule:
            continue
        g = rule.filter(pl.col(f"g_{c.name}") >= 0)
        n = float(g["n"].sum()) if g.height else 0.0
        if n < res.min_rule_pairs:
            continue
        counts = np.zeros(c.n_levels)
        for lvl, k in g.group_by(f"g_{c.name}").agg(pl.col("n").sum()).iter_rows():
            counts[lvl] += k
        # Smoothing toward the seeds, worth `rule_smoothing` pairs: a level the
        # rule pairs never show (a match whose prices disagree) stays possible.
        seed = np.asarray(m[c.name])
        m[c.name] = list((counts + res.rule_smoothing * seed) / (n + res.rule_smoothing))
        origin[c.name] = f"rule pairs ({int(n)})"
    return origin


def _fit_prior(patterns: pl.DataFrame, res: Resolution, m: dict, u: dict) -> tuple[float, int]:
    counts = patterns["n"].to_numpy().astype(float)
    lr = _log_ratio(patterns, res, m, u)
    prior, it = res.prior, 0
    for it in range(1, res.em_iterations + 1):
        p = 1.0 / (1.0 + np.exp2(-np.clip(lr + math.log2(prior / (1 - prior)), -60, 60)))
        new = min(max(float((counts * p).sum() / counts.sum()), 1e-6), 0.999)
        if abs(new - prior) < 1e-6:
            prior = new
            break
        prior = new
    return prior, it


def estimate(patterns: pl.DataFrame, u: dict[str, list[float]], res: Resolution) -> Weights:
    """`patterns`: distinct g_* level combinations with a `n` count column."""
    m = _seed_m(res)
    origin = _m_from_rule(patterns, res, m)
    prior, iterations = res.prior, 0
    if res.fit_prior and patterns.height:
        prior, iterations = _fit_prior(patterns, res, m, u)
    return Weights(prior=prior, m=m, u=u, em_iterations=iterations, em_used=res.fit_prior, m_origin=origin)


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
