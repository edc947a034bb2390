"""What training never sees, so evaluation measures generalisation: two layouts and some compositions."""

from __future__ import annotations

from indexing.world.truth import ActorKind, ActorLabel, Colour, Layout, Lighting

HELDOUT_LAYOUTS: frozenset[Layout] = frozenset({Layout.RIVERSIDE, Layout.PARKING})
TRAIN_LAYOUTS: tuple[Layout, ...] = tuple(layout for layout in Layout if layout not in HELDOUT_LAYOUTS)

# (vehicle kind, colour, lighting) triples absent from training: "red car at night", ...
HELDOUT_COMBOS: frozenset[tuple[ActorKind, Colour, Lighting]] = frozenset({
    (ActorKind.CAR, Colour.RED, Lighting.NIGHT),
    (ActorKind.MOTORBIKE, Colour.BLUE, Lighting.RAIN),
    (ActorKind.TRUCK, Colour.WHITE, Lighting.NIGHT),
    (ActorKind.BICYCLE, Colour.GREEN, Lighting.RAIN),
})


def is_heldout_combo(label: ActorLabel, lighting: Lighting) -> bool:
    return label.colour is not None and (label.kind, label.colour, lighting) in HELDOUT_COMBOS
