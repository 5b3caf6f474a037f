"""Fish Audio's speech models: which are current, which Fish retires and what it does then.

One table, so the next retirement is one more row. Sources: Fish's model list in
openapi.json / asyncapi.yml (2026-08 snapshot) and Fish's announcements quoted in
the project's issue 21.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Model:
    """One model name and its status at Fish."""

    name: str
    # USD per million UTF-8 bytes of text, where Fish publishes a price.
    price_per_million_bytes: float | None = None
    retired_on: str | None = None  # ISO date; from this day Fish serves it as `served_as`
    served_as: str | None = None
    source: str = ""

    @property
    def retired(self) -> bool:
        """Retired or re-routed (now or on a known date): not offered for new voices."""
        return self.served_as is not None


MODEL_TABLE: tuple[Model, ...] = (
    Model("s2.1-pro", 15.0, source="Fish pricing page: $15 / M UTF-8 bytes"),
    Model("s2.1-pro-free", 0.0, source="Fish: free under fair use"),
    Model("s2-pro", 15.0, source="Fish pricing page: $15 / M UTF-8 bytes"),
    Model(
        "s1",
        15.0,
        retired_on="2026-12-31",
        served_as="s2.1-pro",
        source="Fish: s1 retired on 2026-12-31, then served and billed as s2.1-pro",
    ),
    Model(
        "speech-1.6",
        15.0,
        retired_on="2026-02-28",
        served_as="s2.1-pro",
        source="Fish: deprecated on 2026-02-28 and re-routed",
    ),
    Model(
        "speech-1.5",
        15.0,
        retired_on="2026-02-28",
        served_as="s2.1-pro",
        source="Fish: deprecated on 2026-02-28 and re-routed",
    ),
    Model(
        "s1-mini",
        served_as="s2.1-pro",
        source="In no current Fish model list; unknown names fall back to s2.1-pro",
    ),
)

BY_NAME: dict[str, Model] = {model.name: model for model in MODEL_TABLE}
CURRENT_MODELS: tuple[str, ...] = tuple(m.name for m in MODEL_TABLE if not m.retired)
RETIRED_MODELS: tuple[str, ...] = tuple(m.name for m in MODEL_TABLE if m.retired)


def retirement(name: str) -> Model | None:
    """The table row of a retired or re-routed model, None for current or unknown ones."""
    model = BY_NAME.get(name)
    return model if model is not None and model.retired else None
