"""Fields every listing kind shares (source tracking and location)."""

from .base import Field

US_STATES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO "
    "MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY"
).split()

COMMON_FIELDS = (
    Field("source_listing_id", "text", max_len=200, quality_weight=0.5),
    Field("source_url", "url", required=True, max_len=2000),
    Field("title", "text", max_len=300, quality_weight=1.0),
    Field("description", "text", max_len=5000, quality_weight=1.0),
    Field("image_url", "url", max_len=2000, quality_weight=1.0),
    Field("city", "text", max_len=100, quality_weight=0.5),
    Field("state", "state", quality_weight=0.5),
    Field("posted_at", "date", quality_weight=0.5),
)
