"""Short product reviews labelled positive or negative, written for this example."""

from __future__ import annotations

REVIEWS: list[tuple[str, str]] = [
    ("The blender crushed ice in seconds and cleans up easily.", "positive"),
    ("Battery died after two days. Waste of money.", "negative"),
    ("Comfortable shoes, I walked all day without any pain.", "positive"),
    ("The lid cracked the first time I dropped it.", "negative"),
    ("Great sound for the price, the bass surprised me.", "positive"),
    ("Arrived late and the box was crushed.", "negative"),
    ("My kids love this game and ask to play it every night.", "positive"),
    ("The instructions were useless and two screws were missing.", "negative"),
    ("Soft, warm blanket. I bought a second one for my mother.", "positive"),
    ("It stopped charging after a week. Very disappointed.", "negative"),
    ("Fast delivery and the jacket fits perfectly.", "positive"),
    ("The paint peeled off within a month.", "negative"),
    ("This lamp makes my reading corner cozy. Love it.", "positive"),
    ("Terrible taste, I threw the whole bag away.", "negative"),
    ("Sturdy tent, it kept us dry through a night of rain.", "positive"),
    ("The app crashes every time I open it.", "negative"),
    ("Excellent knife, still sharp after months of use.", "positive"),
    ("Customer service never answered my emails.", "negative"),
    ("The coffee is rich and smooth, my new favourite.", "positive"),
    ("Cheap plastic that broke on the first day.", "negative"),
    ("Easy to set up, the printer worked right away.", "positive"),
    ("The chair wobbles and squeaks. Would not buy again.", "negative"),
    ("Beautiful colours, the photos do not do it justice.", "positive"),
    ("Too small, nothing like the size chart said.", "negative"),
]


def examples() -> list[dict[str, str]]:
    """Every review as ``{"text": ..., "label": ...}``."""
    return [{"text": text, "label": label} for text, label in REVIEWS]


def split(train_size: int = 8) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """A fixed train/dev split (the study tunes on dev; train holds few-shot material)."""
    data = examples()
    return data[:train_size], data[train_size:]
