"""Job postings from job boards (job-board daily pipeline reference)."""

import dataclasses

import polars as pl

from .base import Field, Kind, RowRule
from . import resolution as _res
from .common import COMMON_FIELDS

EMPLOYMENT_TYPES = ("Full-time", "Part-time", "Contract", "Temporary", "Internship")

JOBS = Kind(
    name="jobs",
    fields=tuple(
        # A posting must have a title; vehicles derive theirs.
        Field("title", "text", required=True, max_len=300, quality_weight=1.0)
        if f.name == "title" else f
        for f in COMMON_FIELDS
    ) + (
        Field("company", "text", required=True, max_len=200),
        Field("salary_min", "money", min=0, max=10_000_000, quality_weight=1.5),
        Field("salary_max", "money", min=0, max=10_000_000, quality_weight=1.5),
        Field("employment_type", "enum", choices=EMPLOYMENT_TYPES, quality_weight=0.5),
    ),
    identity_keys=(("source", "source_listing_id"),),
    content_fields=(
        "source_listing_id", "source_url", "title", "description", "image_url",
        "city", "state", "posted_at", "company", "salary_min", "salary_max",
        "employment_type",
    ),
    market_keys=("title",),
    market_value="salary_max",
    row_rules=(
        RowRule(
            "salary_range",
            fails=lambda day: pl.col("salary_min") > pl.col("salary_max"),
            message=lambda: pl.format("salary: min {} above max {}",
                                      pl.col("salary_min"), pl.col("salary_max")),
        ),
        RowRule(
            "posted_in_future",
            fails=lambda day: pl.col("posted_at") > day,
            message=lambda: pl.format("posted_at: {} is after the collection day",
                                      pl.col("posted_at")),
        ),
    ),
)


# --- entity resolution ------------------------------------------------------
# Legal suffixes drop out of company names; title abbreviations expand.
COMPANY_WORDS = {"inc": "", "llc": "", "ltd": "", "corp": "", "corporation": "", "co": "", "company": "",
                 "gmbh": "", "plc": "", "the": "", "incorporated": "", "limited": "", "group": ""}
TITLE_SYNONYMS = {
    "sr": "senior", "snr": "senior", "jr": "junior", "jnr": "junior", "eng": "engineer", "engr": "engineer",
    "mgr": "manager", "mngr": "manager", "dev": "developer", "swe": "software engineer", "sw": "software",
    "assoc": "associate", "asst": "assistant", "admin": "administrator", "rep": "representative",
    "acct": "accountant", "tech": "technician", "coord": "coordinator", "dir": "director", "vp": "vice president",
    "ii": "2", "iii": "3", "iv": "4", "i": "1", "ft": "", "pt": "", "remote": "", "hybrid": "", "the": "",
    "of": "", "and": "", "a": "", "for": "", "f": "", "m": "", "d": "",
}
# Applicant-tracking systems put a stable posting id in the apply URL; the same
# posting mirrored on several boards keeps it.
# Workday ids end the path: .../job/R12345 or .../job/<place>/<title>_R12345
# (path only: a "_" in the query string, utm_source, is not an id).
ATS_ID = (r"(?i)(?:greenhouse\.io/[^/?#]+/jobs/|[?&]gh_jid=|lever\.co/[^/?#]+/|ashbyhq\.com/[^/?#]+/|"
          r"smartrecruiters\.com/[^/?#]+/|myworkdayjobs\.com/[^?#]*?/job/(?:[^?#/]*/)*(?:[^?#/]*_)?|"
          r"[?&](?:jobid|job_id|reqid|req_id)=)"
          r"([A-Za-z0-9][A-Za-z0-9-]{3,})")

def _title_rest() -> pl.Expr:
    """The role as the title states it, without the company or place some
    boards add ("Acme - Sr. Data Engineer (Austin, TX)"): those have
    comparisons of their own. Built from the columns prepared before it."""
    known = pl.concat_list(
        pl.col("company_t").fill_null("").str.split(" "),
        pl.col("city_n").fill_null("").str.split(" "),
        pl.col("state").str.to_lowercase().fill_null(""),
    )
    rest = pl.col("title_n").str.split(" ").list.set_difference(known).list.sort().list.join(" ")
    return rest.replace("", None)


JOBS_RESOLUTION = _res.Resolution(
    prepare=(
        ("company_t", lambda: _res.text_norm("company", COMPANY_WORDS)),
        ("company_n", lambda: pl.col("company_t").str.replace_all(" ", "")),
        ("title_n", lambda: _res.text_norm("title", TITLE_SYNONYMS, sort_tokens=True)),
        ("city_n", lambda: _res.text_norm("city")),
        ("title_rest", _title_rest),
        ("desc_n", lambda: _res.text_norm("description", fold_accents=False)),
        ("ats_id", lambda: pl.col("source_url").str.extract(ATS_ID, 1).str.to_lowercase()),
    ),
    blocking=(
        _res.BlockingKey("ats_id", "ats_id", max_block=30),
        _res.BlockingKey("company_title", "company_n || '|' || title_n", max_block=16, order_by="city_n", window=6),
        # A big employer in one city: neighbours by title.
        _res.BlockingKey("company_city", "company_n || '|' || city_n", max_block=16, order_by="title_rest",
                         window=6),
    ),
    minhash_column="desc_n",
    comparisons=(
        _res.Comparison("ats_id", "ats_id", "exact", m=(0.95, 0.05)),
        _res.Comparison("company", "company_n", "fuzzy", (100, 90), scorer="ratio", m=(0.93, 0.05, 0.02),
                        low_cardinality=True),
        # token_sort, not token_set: "HR Generalist" is a subset of "Senior HR
        # Generalist III", and seniority is what tells those postings apart.
        _res.Comparison("title", "title_rest", "fuzzy", (100, 85, 70), scorer="token_sort_ratio",
                        m=(0.6, 0.25, 0.1, 0.05)),
        _res.Comparison("location", "city_n", "exact", fallback="state", m=(0.9, 0.07, 0.03)),
        _res.Comparison("salary", "salary_max", "numeric", (0.01, 0.1), m=(0.7, 0.2, 0.1)),
        # Boilerplate ("equal opportunity employer") drops out as frequent tokens.
        _res.Comparison("description", "desc_n", "jaccard", (0.8, 0.5, 0.25), m=(0.6, 0.25, 0.1, 0.05)),
    ),
    m_from_rule="ats_id",
    # One requisition per location: the same role at the same company in two
    # cities is two postings (their descriptions are often word for word the
    # same, which would otherwise outweigh the location).
    cannot_link=("city_n",),
    # Postings at one employer share boilerplate, titles and often salary
    # bands: a stricter bar than vehicles, whose VINs settle most cases.
    match_probability=0.999,
    split_probability=0.9999,
    completeness=("salary_min", "salary_max", "description", "city", "state", "employment_type", "posted_at",
                  "image_url"),
    preview=("title", "company", "city", "salary_max"),
)

JOBS = dataclasses.replace(JOBS, resolution=JOBS_RESOLUTION)
