"""A national organisation tree at real scale, generated deterministically from a seed.

What is published and what is made up:
- Published and honoured exactly: the national total of 10,48,202 polling stations (Election
  Commission, 2024); the 2024 booth counts of Uttar Pradesh 162,069, Maharashtra 98,140, West
  Bengal 80,530, Bihar 77,462, Tamil Nadu 68,321 and Karnataka 58,871; the organisation's own
  figures for Madhya Pradesh (65,015, used instead of the Commission's 64,879) and Himachal
  Pradesh (7,773 booths, 17 districts, 68 assembly constituencies, 68 mandals); Uttar Pradesh's
  92 organisational districts, one of them Sultanpur with 5 assembly seats and 2,172 booths.
- Apportioned: every other state's booths. Their approximate 2024 polling-station counts are
  only weights; the national remainder is shared out by largest remainder, so the states sum to
  the national total exactly.
- Generated: everything below the state (districts ≈ booths / 1,500, 5–6 assembly seats per
  district, ~4 mandals per seat, sectors of ~5 booths), with seeded variation, apportioned so
  every level sums exactly to its parent's booths.

Each state draws from its own `random.Random`, so a state's tree is the same whether it is
generated alone or as part of the nation. Units stream out depth-first, parents before
children; the nation is never held in memory.
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

from shared.orgtree.levels import BY_NAME, NATIONAL_ID, Level, Unit, child_id

# Bump when the generator's output changes, so a registry loaded by an older one is reloaded.
GENERATOR_VERSION = 1
DEFAULT_SEED = 2024
NATIONAL_BOOTHS = 1_048_202

BOOTHS_PER_DISTRICT = 1_500
ASSEMBLIES_PER_DISTRICT = 5.5
MANDALS_PER_ASSEMBLY = 4
BOOTHS_PER_SECTOR = 5
VARIATION = (70, 130)  # integer weights: each sibling gets 70–130 % of an even share


@dataclass(frozen=True)
class PinnedDistrict:
    number: int
    name: str
    name_hi: str
    assemblies: int
    booths: int


@dataclass(frozen=True)
class StatePlan:
    code: str
    name: str
    name_hi: str
    booths: int | None = None  # published: used exactly
    weight: int | None = None  # approximate: only a share of the national remainder
    districts: int | None = None
    assemblies: int | None = None
    mandals: int | None = None
    pinned: tuple[PinnedDistrict, ...] = field(default=())


SULTANPUR = PinnedDistrict(80, "Sultanpur", "सुल्तानपुर", assemblies=5, booths=2_172)

STATES = (
    StatePlan(
        "UP", "Uttar Pradesh", "उत्तर प्रदेश", booths=162_069, districts=92, pinned=(SULTANPUR,)
    ),
    StatePlan("MH", "Maharashtra", "महाराष्ट्र", booths=98_140),
    StatePlan("WB", "West Bengal", "पश्चिम बंगाल", booths=80_530),
    StatePlan("BR", "Bihar", "बिहार", booths=77_462),
    StatePlan("TN", "Tamil Nadu", "तमिलनाडु", booths=68_321),
    StatePlan("MP", "Madhya Pradesh", "मध्य प्रदेश", booths=65_015),
    StatePlan("KA", "Karnataka", "कर्नाटक", booths=58_871),
    StatePlan("RJ", "Rajasthan", "राजस्थान", weight=52_700),
    StatePlan("GJ", "Gujarat", "गुजरात", weight=50_700),
    StatePlan("AP", "Andhra Pradesh", "आंध्र प्रदेश", weight=46_200),
    StatePlan("OD", "Odisha", "ओडिशा", weight=37_800),
    StatePlan("TG", "Telangana", "तेलंगाना", weight=35_800),
    StatePlan("JH", "Jharkhand", "झारखंड", weight=29_500),
    StatePlan("KL", "Kerala", "केरल", weight=25_200),
    StatePlan("AS", "Assam", "असम", weight=24_900),
    StatePlan("PB", "Punjab", "पंजाब", weight=24_400),
    StatePlan("CG", "Chhattisgarh", "छत्तीसगढ़", weight=24_100),
    StatePlan("HR", "Haryana", "हरियाणा", weight=20_000),
    StatePlan("DL", "Delhi", "दिल्ली", weight=13_600),
    StatePlan("JK", "Jammu and Kashmir", "जम्मू और कश्मीर", weight=11_800),
    StatePlan("UK", "Uttarakhand", "उत्तराखंड", weight=11_700),
    StatePlan(
        "HP",
        "Himachal Pradesh",
        "हिमाचल प्रदेश",
        booths=7_773,
        districts=17,
        assemblies=68,
        mandals=68,
    ),
    StatePlan("ML", "Meghalaya", "मेघालय", weight=3_500),
    StatePlan("TR", "Tripura", "त्रिपुरा", weight=3_300),
    StatePlan("MN", "Manipur", "मणिपुर", weight=2_900),
    StatePlan("NL", "Nagaland", "नागालैंड", weight=2_300),
    StatePlan("AR", "Arunachal Pradesh", "अरुणाचल प्रदेश", weight=2_200),
    StatePlan("GA", "Goa", "गोवा", weight=1_700),
    StatePlan("MZ", "Mizoram", "मिज़ोरम", weight=1_300),
    StatePlan("PY", "Puducherry", "पुडुचेरी", weight=1_000),
    StatePlan("CH", "Chandigarh", "चंडीगढ़", weight=600),
    StatePlan(
        "DH",
        "Dadra and Nagar Haveli and Daman and Diu",
        "दादरा और नगर हवेली और दमन और दीव",
        weight=600,
    ),
    StatePlan("LA", "Ladakh", "लद्दाख", weight=580),
    StatePlan("SK", "Sikkim", "सिक्किम", weight=580),
    StatePlan("AN", "Andaman and Nicobar Islands", "अंडमान और निकोबार द्वीपसमूह", weight=410),
    StatePlan("LD", "Lakshadweep", "लक्षद्वीप", weight=55),
)
STATE_PLANS = {plan.code: plan for plan in STATES}


def apportion(total: int, weights: list[int], minimum: int | list[int] = 1) -> list[int]:
    """Share `total` by integer `weights` (largest remainder), each part at least its minimum."""
    minimums = minimum if isinstance(minimum, list) else [minimum] * len(weights)
    spare = total - sum(minimums)
    if spare < 0:
        raise ValueError(f"cannot share {total} into parts of at least {minimums}")
    whole = sum(weights)
    parts = [spare * w // whole for w in weights]
    # Ties go to the earlier part, so the result depends on nothing but the inputs.
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(spare * weights[i] % whole), i))
    for i in by_remainder[: spare - sum(parts)]:
        parts[i] += 1
    return [m + p for m, p in zip(minimums, parts)]


@cache  # pure, and asked once per state while the nation is generated
def state_booths() -> dict[str, int]:
    """Every state's booths: published ones as they are, the rest apportioned to the total."""
    published = {p.code: p.booths for p in STATES if p.booths is not None}
    weighted = [p for p in STATES if p.booths is None]
    shares = apportion(NATIONAL_BOOTHS - sum(published.values()), [p.weight for p in weighted], 0)
    shares_by_code = dict(zip((p.code for p in weighted), shares))
    return {p.code: published.get(p.code) or shares_by_code[p.code] for p in STATES}


def national_unit() -> Unit:
    return Unit(
        id=NATIONAL_ID,
        level="national",
        parent=None,
        ancestors=[],
        state=None,
        name="India",
        name_hi="भारत",
        booths=NATIONAL_BOOTHS,
    )


def generate_national(seed: int = DEFAULT_SEED) -> Iterator[Unit]:
    yield national_unit()
    for plan in STATES:
        yield from generate_state(plan.code, seed)


def generate_state(code: str, seed: int = DEFAULT_SEED) -> Iterator[Unit]:
    """One state's subtree (the state unit first); its parent, the national unit, is not
    included."""
    plan = STATE_PLANS[code]
    rng = random.Random(f"{seed}:{code}")  # str seeds hash stably, unlike hash()
    booths = state_booths()[code]
    state = Unit(
        id=f"{NATIONAL_ID}-{code}",
        level="state",
        parent=NATIONAL_ID,
        ancestors=[NATIONAL_ID],
        state=code,
        name=plan.name,
        name_hi=plan.name_hi,
        booths=booths,
    )
    yield state

    n_districts = plan.districts or max(1, round(booths / BOOTHS_PER_DISTRICT))
    n_assemblies = min(plan.assemblies or round(n_districts * ASSEMBLIES_PER_DISTRICT), booths)
    n_mandals = min(plan.mandals or n_assemblies * MANDALS_PER_ASSEMBLY, booths)

    pins = {pin.number: pin for pin in plan.pinned}
    free = [n for n in range(1, n_districts + 1) if n not in pins]
    assemblies = _with_pins(pins, free, "assemblies", n_assemblies, _vary(rng, len(free)))
    mandals = iter(apportion(n_mandals, _vary(rng, n_assemblies)))
    mandals_by_district = {n: [next(mandals) for _ in range(assemblies[n])] for n in assemblies}
    district_booths = _with_pins(
        pins,
        free,
        "booths",
        booths,
        _vary(rng, len(free)),
        [sum(mandals_by_district[n]) for n in free],
    )

    for number in range(1, n_districts + 1):
        pin = pins.get(number)
        district = _child(
            state,
            BY_NAME["district"],
            number,
            district_booths[number],
            (pin.name, pin.name_hi) if pin else None,
        )
        yield district
        yield from _district(rng, district, mandals_by_district[number])


def _district(
    rng: random.Random, district: Unit, mandals_per_assembly: list[int]
) -> Iterator[Unit]:
    shares = apportion(
        district["booths"], _vary(rng, len(mandals_per_assembly)), mandals_per_assembly
    )
    for number, (n_mandals, booths) in enumerate(zip(mandals_per_assembly, shares), 1):
        assembly = _child(district, BY_NAME["assembly"], number, booths)
        yield assembly
        part_numbers = iter(range(1, booths + 1))
        for m, mandal_booths in enumerate(apportion(booths, _vary(rng, n_mandals)), 1):
            mandal = _child(assembly, BY_NAME["mandal"], m, mandal_booths)
            yield mandal
            n_sectors = max(1, round(mandal_booths / BOOTHS_PER_SECTOR))
            for s, sector_booths in enumerate(apportion(mandal_booths, _vary(rng, n_sectors)), 1):
                sector = _child(mandal, BY_NAME["sector"], s, sector_booths)
                yield sector
                # A booth's number is its part number within the assembly seat, as the
                # Election Commission numbers polling stations.
                for _ in range(sector_booths):
                    yield _child(sector, BY_NAME["booth"], next(part_numbers), 1)


def _with_pins(
    pins: dict[int, PinnedDistrict],
    free: list[int],
    attr: str,
    total: int,
    weights: list[int],
    minimum: int | list[int] = 1,
) -> dict[int, int]:
    """Pinned districts keep their published figure; the free ones share the rest."""
    pinned = {n: getattr(pin, attr) for n, pin in pins.items()}
    shares = apportion(total - sum(pinned.values()), weights, minimum)
    return dict(sorted({**pinned, **dict(zip(free, shares))}.items()))


def _vary(rng: random.Random, n: int) -> list[int]:
    return [rng.randint(*VARIATION) for _ in range(n)]


def _child(
    parent: Unit, level: Level, number: int, booths: int, names: tuple[str, str] | None = None
) -> Unit:
    name, name_hi = names or (f"{level.label} {number}", f"{level.name_hi} {number}")
    return Unit(
        id=child_id(parent["id"], level, number),
        level=level.name,
        parent=parent["id"],
        ancestors=[*parent["ancestors"], parent["id"]],
        state=parent["state"],
        name=name,
        name_hi=name_hi,
        booths=booths,
    )
