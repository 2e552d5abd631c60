"""The vocabulary of an entity-resolution declaration (part of a kind).

Everything a user tunes lives here as data: how fields are normalized, the
blocking keys with their block-size caps, the comparisons with their
agreement levels, the seed m-probabilities, thresholds and cannot-link
columns. Changing any of them is an edit of the kind's module followed by a
backfill of `listing_entities`; the resolver in `transforms/entities/` has no
per-kind code paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import polars as pl

# Comparison methods understood by transforms.entities.compare:
#   exact     equal / different
#   fuzzy     rapidfuzz score (0-100) >= each threshold, best first
#   numeric   relative difference |a-b| / max(|a|,|b|) <= each threshold
#   absdiff   absolute difference <= each threshold (years)
#   minhash   share of equal MinHash slots (an estimate of Jaccard) >= each threshold
#   jaccard   exact Jaccard similarity of the two word-token sets >= each threshold;
#             tokens in more than `max_token_share` of the day's records (boilerplate,
#             "financing available") are dropped first, so what is compared is what
#             tells listings apart
METHODS = ("exact", "fuzzy", "numeric", "absdiff", "minhash", "jaccard")
SCORERS = ("ratio", "token_sort_ratio", "token_set_ratio", "partial_ratio", "WRatio")


@dataclass(frozen=True)
class BlockingKey:
    """Records sharing a non-null key value are compared pairwise.

    `sql` is a DuckDB expression over the prepared columns. A block larger
    than `max_block` is never compared all against all (a key like "Ford
    F-150 2018" would cost n^2 comparisons): with a `window`, its records
    are sorted by `order_by` and each is compared with the next `window - 1`
    (a sorted neighbourhood: duplicates sort next to each other on price or
    mileage); without one, the block is skipped and the other keys cover it.
    Either way the work per record is bounded, whatever the size of the day.
    """
    name: str
    sql: str
    max_block: int = 40
    order_by: str | None = None
    window: int = 0


@dataclass(frozen=True)
class Comparison:
    """One field's agreement levels. Level 0 is the strongest agreement, the
    last level is "disagree"; a null on either side is its own level with
    weight 0 (missing evidence is not negative evidence)."""
    name: str
    column: str
    method: str
    thresholds: tuple[float, ...] = ()
    scorer: str = "token_sort_ratio"
    # Seed m-probabilities, one per level (agreement levels then disagree):
    # P(level | same entity). Rule pairs replace them when there are enough
    # (Resolution.m_from_rule).
    m: tuple[float, ...] = ()
    # Few distinct values (make, company): score each distinct pair once.
    low_cardinality: bool = False
    # exact only: a coarser column that gives an intermediate level when the
    # main one differs or is missing (city, then state: same city / same
    # state / elsewhere).
    fallback: str | None = None
    # jaccard only: tokens found in more than this share of the day's records
    # are ignored.
    max_token_share: float = 0.15

    @property
    def n_levels(self) -> int:
        return (1 + (self.fallback is not None) if self.method == "exact" else len(self.thresholds)) + 1

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"comparison {self.name}: unknown method {self.method!r}; one of {METHODS}")
        if self.method == "fuzzy" and self.scorer not in SCORERS:
            raise ValueError(f"comparison {self.name}: unknown scorer {self.scorer!r}; one of {SCORERS}")
        if self.method != "exact" and not self.thresholds:
            raise ValueError(f"comparison {self.name}: method {self.method} needs thresholds")
        if self.fallback and self.method != "exact":
            raise ValueError(f"comparison {self.name}: a fallback column needs method exact")
        if self.m and len(self.m) != self.n_levels:
            raise ValueError(f"comparison {self.name}: {len(self.m)} m values for {self.n_levels} levels")


@dataclass(frozen=True)
class Resolution:
    # Derived columns (name -> Polars expression) used by blocking keys and
    # comparisons, evaluated in order: an entry may use the canonical columns
    # and the entries before it (normalise a title once, then derive from it).
    prepare: tuple[tuple[str, Callable[[], pl.Expr]], ...]
    blocking: tuple[BlockingKey, ...]
    comparisons: tuple[Comparison, ...]
    # Column whose tokens feed MinHash (signature columns mh_0..mh_{n-1});
    # bands of `minhash_band` slots become the blocking keys `lsh_<i>`.
    minhash_column: str | None = None
    minhash_slots: int = 12
    minhash_band: int = 3
    minhash_max_block: int = 16
    # Tokens in more than this share of the day's records ("for sale", the
    # year, a dealer's boilerplate) are left out of the signatures: they would
    # make every band of every record collide in a few giant blocks.
    minhash_max_token_share: float = 0.15
    # Two records whose values differ in any of these columns (both non-null)
    # never end up in one entity (e.g. two different VINs).
    cannot_link: tuple[str, ...] = ()
    # Comparisons whose exact agreement links two records whatever the other
    # fields say (a VIN identifies one car; its price and description may
    # have changed). Same-source-same-day and cannot-link rules still apply.
    must_link: tuple[str, ...] = ()
    # Edges at or above this match probability join records; components that
    # break a cannot-link rule, or grow past max_cluster_size, are rebuilt
    # greedily from their strongest edges, at split_probability or above.
    match_probability: float = 0.99
    split_probability: float = 0.999
    max_cluster_size: int = 12
    # m from rule pairs: candidate pairs agreeing exactly (level 0) on this
    # comparison are treated as known matches, and the other comparisons' m
    # are their level frequencies among them (when at least `min_rule_pairs`
    # such pairs fill the comparison), smoothed toward the seeds with the
    # weight of `rule_smoothing` pairs.
    m_from_rule: str | None = None
    min_rule_pairs: int = 200
    rule_smoothing: float = 20.0
    # Prior P(match) among candidate pairs: the starting point, then fitted by
    # EM with m and u fixed (one parameter; see transforms/entities/model.py).
    prior: float = 0.05
    fit_prior: bool = True
    em_iterations: int = 50
    u_sample_pairs: int = 300_000
    # Entities last seen this many days ago or less are candidates for a repost.
    repost_window_days: int = 30
    # Columns whose non-null count ranks records for survivorship (canonical record).
    completeness: tuple[str, ...] = field(default=())
    # Columns shown in the borderline-pairs preview.
    preview: tuple[str, ...] = ("title",)

    def __post_init__(self) -> None:
        names = [c.name for c in self.comparisons]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate comparison names in {names}")
        if unknown := [n for n in self.must_link if n not in names]:
            raise ValueError(f"must_link {unknown} are not comparisons {names}")
        if self.m_from_rule is not None and self.m_from_rule not in names:
            raise ValueError(f"m_from_rule {self.m_from_rule!r} is not one of the comparisons {names}")


def text_norm(col: str, synonyms: dict[str, str] | None = None, *, sort_tokens: bool = False,
              squash: bool = False, fold_accents: bool = True) -> pl.Expr:
    """Lower-case ASCII words: accents folded, punctuation to spaces, then
    token synonyms (chevy -> chevrolet; a synonym may map to "" to drop a
    token such as "inc"), optionally sorted (word order ignored) or squashed
    (spaces removed: "F-150" == "F150"). `fold_accents=False` skips the
    Unicode decomposition (the costliest step) for long free text, where an
    accented word then splits the same way on both sides of a comparison."""
    e = pl.col(col)
    if fold_accents:
        e = e.str.normalize("NFKD").str.replace_all(r"\p{M}", "")
    e = e.str.to_lowercase().str.replace_all(r"[^a-z0-9]+", " ").str.strip_chars()
    if synonyms or sort_tokens:
        tokens = e.str.split(" ")
        if synonyms:
            tokens = tokens.list.eval(pl.element().replace(synonyms)).list.eval(
                pl.element().filter(pl.element() != ""))
        if sort_tokens:
            tokens = tokens.list.sort()
        e = tokens.list.join(" ").str.replace_all(r"\s+", " ").str.strip_chars()
    if squash:
        e = e.str.replace_all(" ", "")
    # replace, not when/then: the expression appears once, so it is computed
    # once even where no common-subexpression elimination runs.
    return e.replace("", None)
