"""Phrase tables: every way the world says an actor, a colour, a place and a light, EN and VI."""

from __future__ import annotations

import random

from indexing.world.truth import Action, ActorKind, ActorLabel, Colour, Gender, Layout, Lighting

COLOUR_EN: dict[Colour, str] = {c: c.value for c in Colour}
COLOUR_VI: dict[Colour, str] = {
    Colour.RED: "đỏ", Colour.BLUE: "xanh dương", Colour.GREEN: "xanh lá", Colour.YELLOW: "vàng",
    Colour.WHITE: "trắng", Colour.BLACK: "đen", Colour.GREY: "xám", Colour.BROWN: "nâu"}
COUNT_EN = {0: "no", 1: "one", 2: "two", 3: "three"}
COUNT_VI = {0: "không", 1: "một", 2: "hai", 3: "ba"}

LIGHTING_EN: dict[Lighting, tuple[str, ...]] = {
    Lighting.DAY: ("during the day", "in daylight", "in the daytime"),
    Lighting.NIGHT: ("at night", "in the dark at night", "at nighttime"),
    Lighting.RAIN: ("in the rain", "on a rainy day", "while it is raining")}
LIGHTING_VI: dict[Lighting, tuple[str, ...]] = {
    Lighting.DAY: ("vào ban ngày", "ban ngày", "lúc trời sáng"),
    Lighting.NIGHT: ("vào ban đêm", "ban đêm", "lúc tối"),
    Lighting.RAIN: ("khi trời mưa", "dưới mưa", "trời mưa")}
LAYOUT_EN: dict[Layout, tuple[str, ...]] = {
    Layout.STREET: ("on a street", "on the road"), Layout.ALLEY: ("in a narrow alley", "in an alley"),
    Layout.INTERSECTION: ("at an intersection", "at a crossroads"),
    Layout.MARKET: ("in front of a market", "at the market"),
    Layout.RIVERSIDE: ("by the river", "on the riverside"),
    Layout.PARKING: ("in a parking lot", "in a car park")}
LAYOUT_VI: dict[Layout, tuple[str, ...]] = {
    Layout.STREET: ("trên phố", "trên đường"), Layout.ALLEY: ("trong hẻm", "trong con hẻm nhỏ"),
    Layout.INTERSECTION: ("ở ngã tư", "tại ngã tư"), Layout.MARKET: ("trước chợ", "ở chợ"),
    Layout.RIVERSIDE: ("bên bờ sông", "ven sông"), Layout.PARKING: ("trong bãi đỗ xe", "ở bãi xe")}


def _who_en(label: ActorLabel, rng: random.Random) -> str:
    noun = {Gender.MAN: "a man", Gender.WOMAN: "a woman"}.get(label.gender, "a person")  # type: ignore[arg-type]
    return "a person" if rng.random() < 0.3 else noun


def _who_vi(label: ActorLabel, rng: random.Random) -> str:
    noun = {Gender.MAN: "người đàn ông", Gender.WOMAN: "người phụ nữ"}.get(label.gender, "một người")  # type: ignore[arg-type]
    return "một người" if rng.random() < 0.3 else noun


OMIT_COLOUR = 0.2  # queries often name no colour ("a man carrying a bicycle")


def _tidy(text: str) -> str:
    return " ".join(text.split())


def actor_en(label: ActorLabel, rng: random.Random) -> str:
    return _tidy(_actor_en(label, rng))


def actor_vi(label: ActorLabel, rng: random.Random) -> str:
    return _tidy(_actor_vi(label, rng))


def _actor_en(label: ActorLabel, rng: random.Random) -> str:
    named = label.colour is not None and rng.random() >= OMIT_COLOUR
    c = COLOUR_EN[label.colour] if named else ""  # type: ignore[index]
    k, a = label.kind, label.action
    if k is ActorKind.PERSON:
        verb = {Action.WALKING: "walking", Action.RUNNING: "running", Action.STANDING: "standing"}[a]
        if not named:
            return f"{_who_en(label, rng)} {verb}"
        return rng.choice([f"{_who_en(label, rng)} in a {c} shirt {verb}",
                           f"{_who_en(label, rng)} wearing {c} {verb}"])
    if k is ActorKind.BICYCLE:
        bike = rng.choice(["bicycle", "bike"])
        forms = {Action.RIDDEN: [f"{_who_en(label, rng)} riding a {c} {bike}", f"a cyclist on a {c} {bike}"],
                 Action.PUSHED: [f"{_who_en(label, rng)} pushing a {c} {bike}",
                                 f"{_who_en(label, rng)} walking a {c} {bike}"],
                 Action.CARRIED: [f"{_who_en(label, rng)} carrying a {c} {bike}",
                                  f"{_who_en(label, rng)} walking off with a {c} {bike} on the shoulder"],
                 Action.PARKED: [f"a parked {c} {bike}", f"a {c} {bike} standing alone"]}
        return rng.choice(forms[a])
    if k is ActorKind.MOTORBIKE:
        moto = rng.choice(["motorbike", "motorcycle", "scooter"])
        if a is Action.PARKED:
            return f"a parked {c} {moto}"
        n = COUNT_EN[label.count]
        riders = "rider" if label.count == 1 else "riders"
        people = "person" if label.count == 1 else "people"
        text = rng.choice([f"a {c} {moto} with {n} {riders}", f"{n} {people} on a {c} {moto}"])
        return text + (rng.choice([" carrying cargo", " loaded with boxes"]) if label.cargo else "")
    if k in (ActorKind.CAR, ActorKind.TRUCK):
        noun = "car" if k is ActorKind.CAR else rng.choice(["truck", "lorry"])
        if a is Action.PARKED:
            return f"a parked {c} {noun}"
        return rng.choice([f"a {c} {noun}", f"a {c} {noun} driving past"])
    if k is ActorKind.DOG:
        verb = {Action.WALKING: "walking", Action.RUNNING: "running", Action.STANDING: "standing"}[a]
        return rng.choice([f"a {c} dog {verb}", f"a {c} dog"])
    if k is ActorKind.SMOKE:
        return rng.choice(["smoke rising", "thick grey smoke", "smoke"])
    if k is ActorKind.FIRE:
        return rng.choice(["a fire with flames and smoke", "flames burning", "a fire"])
    n = COUNT_EN[label.count]
    bins = "garbage bin" if label.count == 1 else "garbage bins"
    return rng.choice([f"{n} {bins} blocking the way", f"{bins} blocking the path"])


def _actor_vi(label: ActorLabel, rng: random.Random) -> str:
    named = label.colour is not None and rng.random() >= OMIT_COLOUR
    c = COLOUR_VI[label.colour] if named else ""  # type: ignore[index]
    mc = rng.choice([f"màu {c}", c]) if named else ""
    k, a = label.kind, label.action
    if k is ActorKind.PERSON:
        verb = {Action.WALKING: "đang đi bộ", Action.RUNNING: "đang chạy", Action.STANDING: "đứng"}[a]
        return f"{_who_vi(label, rng)} mặc áo {c} {verb}" if named else f"{_who_vi(label, rng)} {verb}"
    if k is ActorKind.BICYCLE:
        forms = {Action.RIDDEN: [f"{_who_vi(label, rng)} đạp xe đạp {mc}",
                                 f"{_who_vi(label, rng)} đi xe đạp {mc}"],
                 Action.PUSHED: [f"{_who_vi(label, rng)} dắt xe đạp {mc}",
                                 f"{_who_vi(label, rng)} dắt bộ xe đạp {mc}"],
                 Action.CARRIED: [f"{_who_vi(label, rng)} vác xe đạp {mc}",
                                  f"{_who_vi(label, rng)} vác xe đạp {mc} trên vai"],
                 Action.PARKED: [f"xe đạp {mc} đang đỗ", f"chiếc xe đạp {mc} dựng một mình"]}
        return rng.choice(forms[a])
    if k is ActorKind.MOTORBIKE:
        if a is Action.PARKED:
            return f"xe máy {mc} đang đỗ"
        n = COUNT_VI[label.count]
        text = rng.choice([f"xe máy {mc} chở {n} người", f"{n} người đi xe máy {mc}"])
        return text + (rng.choice([" chở hàng", " chở thùng hàng"]) if label.cargo else "")
    if k in (ActorKind.CAR, ActorKind.TRUCK):
        noun = rng.choice(["ô tô", "xe hơi"]) if k is ActorKind.CAR else "xe tải"
        if a is Action.PARKED:
            return f"{noun} {mc} đỗ bên đường"
        return rng.choice([f"{noun} {mc}", f"{noun} {mc} đang chạy"])
    if k is ActorKind.DOG:
        verb = {Action.WALKING: "đang đi", Action.RUNNING: "đang chạy", Action.STANDING: "đứng"}[a]
        return rng.choice([f"con chó {mc} {verb}", f"con chó {mc}"])
    if k is ActorKind.SMOKE:
        return rng.choice(["khói bốc lên", "khói dày đặc", "khói"])
    if k is ActorKind.FIRE:
        return rng.choice(["đám cháy có lửa và khói", "lửa đang cháy", "hỏa hoạn", "đám cháy"])
    n = COUNT_VI[label.count]
    return rng.choice([f"{n} thùng rác chắn lối đi", "thùng rác chắn đường"])
