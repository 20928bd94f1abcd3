"""The class catalogue of the synthetic set: real SSv2 templates, their groups and reversal pairs.

Everything that says which classes exist and how they relate lives here: ``CLASSES`` (template,
group, reversal partner, and how a video of the class is drawn, in words), the label file's
indices (:func:`label_index`), which class is rendered as another one played backwards
(``REVERSED``, derived from the partners) and the class ids of each group in a label list
(:func:`class_groups`, for per-group accuracy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BY_TEMPLATE",
    "CLASSES",
    "REVERSED",
    "SyntheticClass",
    "class_groups",
    "label_index",
    "reversal_sources",
]


@dataclass(frozen=True)
class SyntheticClass:
    """One action class: a real SSv2 template, its group and, for reversal pairs, its partner.

    ``group`` is ``"temporal_reversal"`` (the class is its ``partner`` played backwards),
    ``"relational"`` (what tells it apart is which object moves relative to which, or whether the
    object follows the hand) or ``"other"``. ``rendering`` says how a video of the class is drawn.
    """

    template: str
    group: str
    partner: str | None
    rendering: str

    @property
    def num_placeholders(self) -> int:
        """How many ``[something]`` the template has (the cover of "Uncovering" is not one)."""
        return self.template.count("[something]")

    @property
    def name(self) -> str:
        """The template without brackets: the key of ``something-something-v2-labels.json``."""
        return self.template.replace("[", "").replace("]", "")


# Templates are spelled exactly as in the real something-something-v2 label list. The issue's
# "Putting something on top of something" is not an SSv2 class; the real one is "...onto...".
CLASSES: tuple[SyntheticClass, ...] = (
    SyntheticClass(
        "Pushing [something] from left to right",
        "temporal_reversal",
        "Pushing [something] from right to left",
        "The hand comes in from its entry edge, grips object 0 from above and slides it "
        "horizontally to the right by 30-50% of the frame width, lets go and leaves the way it "
        "came.",
    ),
    SyntheticClass(
        "Pushing [something] from right to left",
        "temporal_reversal",
        "Pushing [something] from left to right",
        "A 'Pushing [something] from left to right' video played backwards.",
    ),
    SyntheticClass(
        "Moving [something] up",
        "temporal_reversal",
        "Moving [something] down",
        "The hand grips object 0 and raises it by 30-45% of the frame height (with a small "
        "sideways drift), lets go, leaves; the object stays up.",
    ),
    SyntheticClass(
        "Moving [something] down",
        "temporal_reversal",
        "Moving [something] up",
        "A 'Moving [something] up' video played backwards.",
    ),
    SyntheticClass(
        "Moving [something] closer to [something]",
        "temporal_reversal",
        "Moving [something] away from [something]",
        "Object 1 stays put; the hand carries object 0 towards it, along a direction within 30 "
        "degrees of horizontal, over 30-45% of the frame width, to a small gap (3-12% of the "
        "frame's short side) from object 1.",
    ),
    SyntheticClass(
        "Moving [something] away from [something]",
        "temporal_reversal",
        "Moving [something] closer to [something]",
        "A 'Moving [something] closer to [something]' video played backwards.",
    ),
    SyntheticClass(
        "Covering [something] with [something]",
        "temporal_reversal",
        "Uncovering [something]",
        "Object 1 (the larger of the two, 1.3-1.6x) is carried from 30-45% of the frame width away "
        "onto object 0 and left there, drawn in front: object 0 is hidden, its box stays.",
    ),
    SyntheticClass(
        "Uncovering [something]",
        "temporal_reversal",
        "Covering [something] with [something]",
        "A 'Covering [something] with [something]' video played backwards. The cover is not a "
        "placeholder of this template but keeps its box as 'object 1', so that both classes of "
        "the pair have the same boxes.",
    ),
    SyntheticClass(
        "Putting [something] next to [something]",
        "relational",
        None,
        "Object 1 stays put; the hand brings object 0 in from off-screen and sets it down beside "
        "object 1 (left or right, bottoms aligned, small gap), lets go and leaves.",
    ),
    SyntheticClass(
        "Putting [something] onto [something]",
        "relational",
        None,
        "Object 1 stays put; the hand brings object 0 in from off-screen and sets it down resting "
        "on the top edge of object 1, drawn in front of it, lets go and leaves.",
    ),
    SyntheticClass(
        "Putting [something] behind [something]",
        "relational",
        None,
        "Object 1 stays put; the hand brings object 0 in from off-screen and sets it down behind "
        "object 1: drawn behind it and higher, its lower part (30-60% of the smaller object's "
        "height) hidden by object 1.",
    ),
    SyntheticClass(
        "Moving [something] and [something] closer to each other",
        "relational",
        None,
        "The hand moves object 0 part of the way (40-60%) towards object 1, lets go, moves over to "
        "object 1 and moves it the rest of the way towards object 0; both end a small gap apart.",
    ),
    SyntheticClass(
        "Pretending to pick [something] up",
        "relational",
        None,
        "The hand comes in, grips object 0, rises by 30-45% of the frame height without it (the "
        "object does not move) and leaves.",
    ),
    SyntheticClass(
        "Picking [something] up",
        "other",
        None,
        "The hand comes in, grips object 0 and lifts it by 30-45% of the frame height; hand and "
        "object stay up together, swaying slightly, to the end of the video.",
    ),
)


BY_TEMPLATE = {c.template: c for c in CLASSES}


def reversal_sources(classes: Sequence[SyntheticClass] = CLASSES) -> dict[str, str]:
    """Reversed template -> the template whose video it is, played backwards.

    Of the two classes of a ``temporal_reversal`` pair, the one listed first in ``classes`` is
    rendered forwards and its partner is that video reversed. Raises ValueError when a partner is
    missing from ``classes`` or does not name the class back.
    """
    position = {c.template: i for i, c in enumerate(classes)}
    out: dict[str, str] = {}
    for i, c in enumerate(classes):
        if c.group != "temporal_reversal":
            continue
        if c.partner not in position or classes[position[c.partner]].partner != c.template:
            raise ValueError(f"class {c.template!r}: partner {c.partner!r} does not pair back")
        if position[c.partner] < i:
            out[c.template] = c.partner
    return out


# the second class of each reversal pair is rendered as the first one played backwards
REVERSED = reversal_sources(CLASSES)


def label_index(classes: Sequence[SyntheticClass] = CLASSES) -> dict[str, str]:
    """The content of ``something-something-v2-labels.json``: bracket-free template -> index.

    Indices are strings, assigned in alphabetical order of the bracket-free templates, as in the
    real file.
    """
    names = sorted(c.name for c in classes)
    return {name: str(i) for i, name in enumerate(names)}


def class_groups(class_names: Sequence[str]) -> dict[str, list[int]]:
    """Class ids by group: ``{"temporal_reversal": [...], "relational": [...]}``.

    ``class_names`` are bracket-free templates in label order (index ``i`` is label ``i``), as in
    ``something-something-v2-labels.json`` of the synthetic set or of real SSv2. A name that is not
    a template of ``CLASSES`` belongs to no group; a group without any of the names is left out.
    The ``"other"`` group is not listed.
    """
    group = {c.name: c.group for c in CLASSES}
    out: dict[str, list[int]] = {"temporal_reversal": [], "relational": []}
    for i, name in enumerate(class_names):
        if group.get(name) in out:
            out[group[name]].append(i)
    return {k: v for k, v in out.items() if v}
