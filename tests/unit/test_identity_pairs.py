"""Identity pairs (`indexing.world.identity_pairs`): two pictures of one actor in two contexts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from indexing.world.crop_pairs import DECODE_H, DECODE_W, Identity
from indexing.world.identity_pairs import ACTIONS, look, render_identity_pair
from indexing.world.training_split import HELDOUT_LAYOUTS, is_heldout_combo
from indexing.world.truth import INCIDENT_KINDS, Action, ActorKind, ActorLabel, Colour, Gender


def test_both_views_show_the_same_actor_in_different_contexts() -> None:
    contexts_differ = 0
    for seed in range(12):
        pair = render_identity_pair(seed, photo=0.5)
        for view in (pair.a, pair.b):
            assert view.target.label == pair.identity.label  # same kind, action, colours, riders
            assert view.target.pose.style == pair.identity.style  # same trousers, hat, helmets
            assert view.scene.layout not in HELDOUT_LAYOUTS
            assert not is_heldout_combo(view.target.label, view.scene.lighting)
            assert view.image.width > 0 and view.image.height > 0
        assert pair.identity.label.kind not in INCIDENT_KINDS  # smoke or bins have no identity
        assert pair.b.kind == "wide"
        a, b = pair.a, pair.b
        contexts_differ += (a.scene != b.scene or a.target.pose.x != b.target.pose.x
                            or a.target.pose.scale != b.target.pose.scale)
        assert not (a.image.size == b.image.size
                    and np.array_equal(np.asarray(a.image), np.asarray(b.image)))
    assert contexts_differ == 12


def test_a_pair_is_a_function_of_its_seed_and_views_include_photos() -> None:
    first, again = render_identity_pair(3), render_identity_pair(3)
    assert first.identity == again.identity
    assert np.array_equal(np.asarray(first.a.image), np.asarray(again.a.image))
    assert np.array_equal(np.asarray(first.b.image), np.asarray(again.b.image))
    kinds = {render_identity_pair(s, photo=0.5).a.kind for s in range(12)}
    assert kinds == {"wide", "photo"}
    assert {render_identity_pair(s, photo=0.0).a.kind for s in range(6)} == {"wide"}
    # consecutive pairs share the actor's kind (hard negatives), identities differ
    for k in range(0, 8, 2):
        one, two = render_identity_pair(k), render_identity_pair(k + 1)
        assert one.identity.label.kind == two.identity.label.kind
        assert one.identity != two.identity


def test_close_keyframes_and_restaged_views_show_the_same_identity() -> None:
    """A close camera's view is its whole keyframe; a restaged view changes the action only (the
    thief carries the bicycle on one camera and pushes it on the next), and such identities share
    a look once any action counts as the same."""
    kinds, restaged = set(), 0
    for seed in range(24):
        pair = render_identity_pair(seed, photo=0.0, close=0.5, restage=1.0)
        for view in (pair.a, pair.b):
            kinds.add(view.kind)
            assert view.target.pose.style == pair.identity.style
            assert view.scene.layout not in HELDOUT_LAYOUTS
            assert not is_heldout_combo(view.target.label, view.scene.lighting)
            if view.kind == "close":
                assert view.image.size == (DECODE_W, DECODE_H)
        seen, label = pair.b.target.label, pair.identity.label
        assert pair.a.target.label == label
        assert replace(seen, action=label.action) == label  # colours, riders, gender kept
        if seen.action != label.action:
            restaged += 1
            assert label.action in ACTIONS[label.kind] and seen.action in ACTIONS[label.kind]
            assert look(pair.identity, any_action=True) == look(Identity(seen, pair.identity.style),
                                                               any_action=True)
    assert kinds == {"wide", "close"}
    assert restaged >= 6
    parked = ActorLabel(ActorKind.BICYCLE, Action.PARKED, colour=Colour.RED)  # no person to restage
    assert look(Identity(parked, 1), any_action=True) == look(Identity(parked, 1))


def test_the_training_batch_and_the_loss() -> None:
    from indexing.world.train import IdentityViews, identity_loss

    def preprocess(image: object) -> torch.Tensor:
        return torch.zeros(3, 96, 96)

    views = IdentityViews(seed=5, batch_size=4, steps=2, photo=0.25, preprocess=preprocess)
    assert len(views) == 8
    a, b = views[5]
    assert a.shape == b.shape == (3, 96, 96)
    batch = torch.utils.data.DataLoader(views, batch_size=4)
    va, vb = next(iter(batch))
    assert va.shape == vb.shape == (4, 3, 96, 96)
    e = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    matched = identity_loss(e, e, temperature=0.1)
    shuffled = identity_loss(e, e.roll(1, dims=0), temperature=0.1)
    assert matched.item() < shuffled.item()
    assert torch.isfinite(matched)


@pytest.mark.parametrize("label", [
    ActorLabel(ActorKind.CAR, Action.DRIVING, colour=Colour.RED),
    ActorLabel(ActorKind.TRUCK, Action.DRIVING, colour=Colour.RED),
    ActorLabel(ActorKind.DOG, Action.WALKING, colour=Colour.BROWN),
    ActorLabel(ActorKind.PERSON, Action.WALKING, colour=Colour.RED, gender=Gender.MAN),
    ActorLabel(ActorKind.BICYCLE, Action.PARKED, colour=Colour.RED),
    ActorLabel(ActorKind.BICYCLE, Action.PUSHED, colour=Colour.RED, person_colour=Colour.BLUE,
               gender=Gender.WOMAN),
], ids=lambda label: f"{label.kind}-{label.action}")
def test_same_coloured_subjects_differ_in_details_their_style_picks(label: ActorLabel) -> None:
    """Two red cars (brown dogs, men in red shirts, red bicycles) of different styles are rarely
    the same picture: a colour alone would make part of every appearance search unanswerable."""
    looks = [look(Identity(label=label, style=style)) for style in range(40)]
    assert len(set(looks)) >= 30
    assert look(Identity(label=label, style=7)) == looks[7]  # a function of label and style
