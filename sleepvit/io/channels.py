"""Channel mapping: which channel of a recording feeds which canonical slot, and why.

Clinical systems spell the same derivation many ways (``C4-M1``, ``EEG C4-A1``, ``C4:M1``,
``C4A1``), store referential electrodes separately (``C4`` and ``M1``, the derivation being
their difference), and name mastoids ``A1/A2`` or ``M1/M2``. Matching ignores case, spaces and
punctuation, and treats ``A1 ≡ M1``, ``A2 ≡ M2``, ``LOC ≡ E1``, ``ROC ≡ E2``.

Preference order when several channels fit one slot (first wins):

1. contralateral mastoid reference named ``M`` on a standard electrode
   (EEG_F: F4-M1 > F3-M2, EEG_C: C4-M1 > C3-M2, EEG_O: O2-M1 > O1-M2, EOG: E1-M2 / E2-M1);
2. the same with ``A`` naming (C4-A1 > C3-A2);
3. the standard Sleep-EDF bipolar derivations Fpz-Cz (EEG_F) and Pz-Oz (EEG_O);
4. any other mastoid reference (C3-A1, Cz-M1, Fp1-M2, E1-M1 …);
5. any other reference (C4-Cz, ``EOG horizontal``, SHHS ``EEG`` / ``EEG(sec)`` …);
6. a single electrode against the amplifier reference (bare ``C4``).

Within a rank the electrode order decides (C4 > C3 > Cz; F4 > F3 > Fz > Fpz > Fp2 > Fp1;
O2 > O1 > Oz > Pz), then a stored channel beats the same derivation computed from two
electrodes, then the earlier channel. Derivations are computed only from two channels sampled
at the same rate. Non-EEG slots rank their aliases (e.g. ECG II > ECG > EKG > ECG I; nasal
pressure / flow > airflow > thermistor). Leg EMG, snore, position, pleth, pulse and sums are
never mapped.

Several signals may carry one label (a montage exported twice, a spare electrode): each is
then shown as ``label#N``, N its signal number (``C4-M1#1``, ``C4-M1#3``). Channels that are
the same derivation (duplicates, or two spellings of one) are *equivalent* candidates: which
of them feeds the slot is decided by signal quality when the night is read
(:func:`sleepvit.io.load_study`), as is a fallback to the next candidate when the preferred
channel cannot be read for most of the night.

Channel map (``--channel-map``), a JSON object from slot name to a choice::

    {"EEG_C": "C3-M2", "EEG_F": ["F3", "M2"], "EOG_R": null, "EOG_L": "#7"}

- a string uses the channel with that label (case, spaces and punctuation ignored if the
  exact label is absent); ``C4-M1#3`` or ``#3`` names signal 3 itself, and a label several
  signals carry lets signal quality choose among them;
- a list of two labels derives ``first - second``;
- ``null`` leaves the slot empty.

Slots the map does not name are mapped automatically, never reusing a channel the map chose.

Examples
--------
>>> parse_derivation("EEG C4-A1")
Derivation(active='C4', reference='M1', reference_named_a=True)
>>> [slot_of_label(s) for s in ("C4:M1", "LOC-A2", "Chin EMG", "Pleth", "SaO2")]
['EEG_C', 'EOG_L', 'EMG_CHIN', None, 'SPO2']
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sleepvit.errors import ChannelMappingError
from sleepvit.io.paths import require_regular_file
from sleepvit.slots import EEG_SLOTS, SLOT_NAMES

_ANNOTATION_KEYS = {"EDFANNOTATIONS", "BDFANNOTATIONS"}

_ELECTRODE_ALIASES = {
    "A1": "M1",
    "A2": "M2",
    "LOC": "E1",
    "ROC": "E2",
    "EOG1": "E1",
    "EOG2": "E2",
    "EOGL": "E1",
    "EOGR": "E2",
    "LEOG": "E1",
    "REOG": "E2",
    "EOGLEFT": "E1",
    "EOGRIGHT": "E2",
}
_ELECTRODE = re.compile(r"FP[12Z]|AF[34Z]|F[1-8Z]|C[1-6Z]|P[1-8Z]|O[12Z]|T[3-8]|M[12]|A[12]|E[12]")
_MODALITY_PREFIX = re.compile(r"^(EEG|EOG|EMG)")

# Active electrode order per slot; its position breaks ties within a preference rank.
_ACTIVE_ORDER = {
    "EEG_F": ("F4", "F3", "FZ", "FPZ", "FP2", "FP1", "AF4", "AF3", "AFZ", "F8", "F7", "F2", "F1"),
    "EEG_C": ("C4", "C3", "CZ", "C2", "C1", "C6", "C5"),
    "EEG_O": ("O2", "O1", "OZ", "PZ"),
    "EOG_L": ("E1",),
    "EOG_R": ("E2",),
}
_STANDARD_ACTIVES = {"F4", "F3", "C4", "C3", "O2", "O1", "E1", "E2"}
_STANDARD_BIPOLAR = {("FPZ", "CZ"), ("PZ", "OZ")}

_NEVER = re.compile(
    r"PLETH|PULSE|SNOR|POSITION|LEG|TIB|PLM|LIMB|SUM|LIGHT|MARKER|EVENT|CPAP|CO2|ACTIV"
)
_NEVER_TOKENS = {"HR", "PR", "POS", "LAT", "RAT", "BODY", "MIC", "DC", "STATUS", "TRIGGER"}

# (slot, compact-label pattern) in preference order within the slot; rank = position.
_ALIASES: tuple[tuple[str, str], ...] = (
    ("EEG_C", r"EEG"),
    ("EEG_C", r"EEG(SEC|2)"),
    ("EOG_L", r"(EOG)?HORIZONTAL|HEOG|EOGH"),
    ("EMG_CHIN", r"(EMG)?CHIN(1(CHIN)?[23]|2(CHIN)?3|L(CHIN)?R)(EMG)?"),
    ("EMG_CHIN", r"(EMG)?CHIN(EMG)?|(EMG)?SUBMENTAL(EMG)?|(EMG)?MENTAL"),
    ("EMG_CHIN", r"EMG(1?EMG2|12)?"),
    ("EMG_CHIN", r"(EMG)?CHIN[1-3]|EMG[1-3]"),
    ("ECG", r"(ECG|EKG)II"),
    ("ECG", r"ECG|EKG"),
    ("ECG", r"(ECG|EKG)I"),
    ("ECG", r"(ECG|EKG).+"),
    ("FLOW", r"(NASAL)?PRESS(URE)?|NPRESS?|PFLOW|FLOW(PATIENT)?|NASALFLOW|CANNULA|PTAF"),
    ("FLOW", r"AIRFLOW|NAF\w*|NEWAIR|RESPFLOW"),
    ("FLOW", r"THERM(ISTOR)?\w*|(RESP)?ORONASAL|(RESP)?NASAL|ORONASALTHERM"),
    ("EFFORT_THO", r"(EFFORT|RESP|RIP)?(THOR(AX|ACIC)?|THO|CHEST|VTH)(EFFORT|RES|RIP)?"),
    ("EFFORT_ABD", r"(EFFORT|RESP|RIP)?(ABD(OMEN|OMINAL|OM|O)?|VAB)(EFFORT|RES|RIP)?"),
    ("SPO2", r"(SPO2|SAO2|SAT|OSAT|O2SAT|SPO|OXYGENSATURATION)(PERCENT)?"),
)
_ALIAS_PATTERNS = tuple((slot, re.compile(pattern)) for slot, pattern in _ALIASES)

EXAMPLE_MAP = '{"EEG_C": "C3-M2", "EEG_F": ["F3", "M2"], "EOG_R": null}'


@dataclass(frozen=True)
class Derivation:
    """An electrode derivation parsed from a label; ``reference`` is ``None`` for one electrode."""

    active: str
    reference: str | None
    reference_named_a: bool = False
    """The file called the mastoid A1/A2 (ranked just after M1/M2 naming)."""


@dataclass(frozen=True)
class SourceChannel:
    """A channel the mapper may choose: its position in the recording, label, rate and unit."""

    index: int
    label: str
    sfreq: float
    unit: str = ""
    """The unit its samples are in (``uV``, ``mV``, ``V``, ``%``, …), as the recording says."""
    name: str = ""
    """The label as shown: ``label``, or ``label#N`` when several signals carry it (N is the
    signal's number in the file, from 1); see :func:`unique_names`."""

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.label)


def unique_names(channels: Sequence[SourceChannel]) -> list[SourceChannel]:
    """``channels`` with every label that several of them carry shown as ``label#N``.

    >>> [c.name for c in unique_names([SourceChannel(0, "C4-M1", 256),
    ...                                SourceChannel(1, "E1-M2", 256),
    ...                                SourceChannel(2, "C4-M1", 256)])]
    ['C4-M1#1', 'E1-M2', 'C4-M1#3']
    """
    counts = Counter(ch.label.strip() for ch in channels)
    return [
        replace(ch, name=f"{ch.label.strip()}#{ch.index + 1}")
        if counts[ch.label.strip()] > 1
        else replace(ch, name=ch.label)
        for ch in channels
    ]


@dataclass(frozen=True)
class SlotChoice:
    """The mapper's decision for one slot: one channel, or ``minuend - subtrahend``."""

    slot: str
    indices: tuple[int, ...]
    """One channel index, or two for a derived ``first - second``."""
    label: str
    reason: str
    alternatives: tuple[SlotChoice, ...] = ()
    """The other candidates, best first, should this one be unreadable."""
    equivalents: int = 0
    """How many of the first :attr:`alternatives` are the same derivation as this choice
    (duplicates, or two spellings of one): signal quality picks among them."""


def compact(label: str) -> str:
    """Upper-case ``label`` without anything but letters and digits (``"C4 :m1"`` → ``C4M1``)."""
    return re.sub(r"[^A-Z0-9]", "", label.upper().replace("µ", "U").replace("μ", "U"))


def is_annotation_label(label: str) -> bool:
    """Whether ``label`` names an EDF+/BDF+ annotation signal, however it is cased or spaced.

    >>> is_annotation_label("EDF Annotations"), is_annotation_label("edf_annotations")
    (True, True)
    """
    return compact(label) in _ANNOTATION_KEYS


def _electrode(token: str) -> tuple[str, bool] | None:
    """Canonical electrode of one label part, and whether it was an A-named mastoid."""
    name = compact(token)
    for candidate in (name, _MODALITY_PREFIX.sub("", name)):
        if candidate in _ELECTRODE_ALIASES or _ELECTRODE.fullmatch(candidate):
            return _ELECTRODE_ALIASES.get(candidate, candidate), candidate in ("A1", "A2")
    return None


def parse_derivation(label: str) -> Derivation | None:
    """Parse an electrode derivation (``C4-M1``, ``EEG C4-A1``, ``C4A1``, ``LOC``) or ``None``.

    >>> parse_derivation("EOG E1-M2")
    Derivation(active='E1', reference='M2', reference_named_a=False)
    >>> parse_derivation("Chin1-Chin2") is None
    True
    """
    parts = [p for p in re.split(r"\s*[-:/–−]\s*", label.strip()) if p.strip()]
    if len(parts) == 1:
        glued = _MODALITY_PREFIX.sub("", compact(parts[0]))
        pair = re.fullmatch(rf"({_ELECTRODE.pattern})({_ELECTRODE.pattern})", glued)
        parts = [pair.group(1), pair.group(2)] if pair else parts
    if len(parts) not in (1, 2):
        return None
    electrodes = [_electrode(p) for p in parts]
    if any(e is None for e in electrodes):
        return None
    (active, _), *ref = electrodes
    if not ref:
        return Derivation(active, None)
    return Derivation(active, ref[0][0], ref[0][1])


def _side(electrode: str) -> str:
    digit = electrode[-1]
    if digit == "Z":
        return "mid"
    return "left" if int(digit) % 2 else "right"


def _slot_of_derivation(d: Derivation) -> str | None:
    if d.active in ("M1", "M2") or d.active.startswith("T"):
        return None
    if (d.active, d.reference) == ("PZ", "OZ"):
        return "EEG_O"
    for slot, actives in _ACTIVE_ORDER.items():
        if d.active in actives and not (d.active == "PZ" and d.reference != "OZ"):
            return slot
    return None


def _rank_derivation(slot: str, d: Derivation) -> tuple[int, int]:
    """(preference rank 0-5 of the module docstring, electrode order)."""
    order = _ACTIVE_ORDER[slot].index(d.active)
    if d.reference is None:
        return 5, order
    mastoid = d.reference in ("M1", "M2")
    contralateral = mastoid and {_side(d.active), _side(d.reference)} == {"left", "right"}
    if contralateral and d.active in _STANDARD_ACTIVES:
        return (1 if d.reference_named_a else 0), order
    if (d.active, d.reference) in _STANDARD_BIPOLAR:
        return 2, order
    return (3 if mastoid else 4), order


def _is_never(label: str) -> bool:
    tokens = set(re.split(r"[^A-Z0-9]+", label.upper()))
    return bool(_NEVER.search(compact(label))) or bool(tokens & _NEVER_TOKENS)


def _alias_rank(label: str) -> tuple[str, int] | None:
    if _is_never(label):
        return None
    name = compact(label)
    for rank, (slot, pattern) in enumerate(_ALIAS_PATTERNS):
        if pattern.fullmatch(name):
            return slot, rank
    return None


def _classify(label: str) -> tuple[str, tuple[int, int]] | None:
    """Slot and preference key of one stored channel, or ``None`` if it feeds no slot."""
    if is_annotation_label(label) or _is_never(label):
        return None
    derivation = parse_derivation(label)
    if derivation is not None:
        slot = _slot_of_derivation(derivation)
        return (slot, _rank_derivation(slot, derivation)) if slot else None
    alias = _alias_rank(label)
    if alias is None:
        return None
    slot, rank = alias
    # EEG/EOG aliases without electrode names rank after every electrode derivation.
    return slot, ((4, rank) if slot in _ACTIVE_ORDER else (0, rank))


def slot_of_label(label: str) -> str | None:
    """The slot a stored channel with this label feeds, or ``None`` (unused).

    >>> slot_of_label("EEG Fpz-Cz"), slot_of_label("Thor"), slot_of_label("EMG Leg")
    ('EEG_F', 'EFFORT_THO', None)
    """
    found = _classify(label)
    return found[0] if found else None


@dataclass(frozen=True)
class _Candidate:
    slot: str
    key: tuple
    indices: tuple[int, ...]
    label: str
    derivation_note: str
    """``derived from C4 − M1`` for a computed derivation, empty for a stored channel."""


def _candidates(channels: Sequence[SourceChannel], taken: set[int]) -> list[_Candidate]:
    found: list[_Candidate] = []
    singles: list[tuple[SourceChannel, str, bool]] = []
    for ch in channels:
        if ch.index in taken:
            continue
        classified = _classify(ch.label)
        if classified:
            slot, key = classified
            found.append(_Candidate(slot, (*key, 0, ch.index), (ch.index,), ch.name, ""))
        derivation = parse_derivation(ch.label)
        if derivation is not None and derivation.reference is None:
            singles.append((ch, derivation.active, _electrode(ch.label)[1]))
    for active_ch, active, _ in singles:
        for ref_ch, ref, named_a in singles:
            if ref not in ("M1", "M2") or active_ch.sfreq != ref_ch.sfreq:
                continue
            derivation = Derivation(active, ref, named_a)
            slot = _slot_of_derivation(derivation)
            if slot is None:
                continue
            key = (*_rank_derivation(slot, derivation), 1, active_ch.index)
            found.append(
                _Candidate(
                    slot,
                    key,
                    (active_ch.index, ref_ch.index),
                    f"{active_ch.name} - {ref_ch.name} (derived)",
                    f"derived from {active_ch.name} − {ref_ch.name}",
                )
            )
    return found


_SIGNAL_NUMBER = re.compile(r"(.*)#(\d+)")


def _find_label(label: str, channels: Sequence[SourceChannel], slot: str) -> list[SourceChannel]:
    """The channels a channel map's label names: one, or namesakes for quality to choose from."""
    wanted = label.strip()
    numbered = _SIGNAL_NUMBER.fullmatch(wanted)
    by_name = [ch for ch in channels if ch.name == wanted]
    if by_name:
        return by_name
    if numbered is not None:
        stem, number = numbered.group(1).strip(), int(numbered.group(2))
        signal = [ch for ch in channels if ch.index + 1 == number]
        if signal and (not stem or compact(stem) == compact(signal[0].label)):
            return signal
    exact = [ch for ch in channels if ch.label.strip() == wanted]
    loose = [ch for ch in channels if compact(ch.label) == compact(label)]
    for matches in (exact, loose):
        if matches:
            return matches
    names = ", ".join(repr(ch.name) for ch in channels)
    raise ChannelMappingError(
        f"channel map sets {slot} to {label!r}, but the recording has no such channel; "
        f"choose one of: {names} (a name, or #N for signal N)"
    )


def _choices_from_map(
    channel_map: Mapping[str, object], channels: Sequence[SourceChannel]
) -> dict[str, SlotChoice | None]:
    chosen: dict[str, SlotChoice | None] = {}
    for slot, value in channel_map.items():
        if slot not in SLOT_NAMES:
            raise ChannelMappingError(
                f"channel map names unknown slot {slot!r}; valid slots are {', '.join(SLOT_NAMES)}"
            )
        if value is None:
            chosen[slot] = None
        elif isinstance(value, str):
            first, *namesakes = _find_label(value, channels, slot)
            others = tuple(
                SlotChoice(slot, (ch.index,), ch.name, "channel map") for ch in namesakes
            )
            chosen[slot] = SlotChoice(
                slot, (first.index,), first.name, "channel map", others, len(others)
            )
        elif isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
            a, b = (_find_label(v, channels, slot)[0] for v in value)
            if a.sfreq != b.sfreq:
                raise ChannelMappingError(
                    f"channel map derives {slot} from {a.name!r} ({a.sfreq:g} Hz) minus "
                    f"{b.name!r} ({b.sfreq:g} Hz); choose two channels with the same rate"
                )
            label = f"{a.name} - {b.name} (derived)"
            chosen[slot] = SlotChoice(slot, (a.index, b.index), label, "channel map")
        else:
            raise ChannelMappingError(
                f"channel map value for {slot} must be a label, a list of two labels or null, "
                f"not {value!r}; e.g. {EXAMPLE_MAP}"
            )
    return chosen


def choose_channels(
    channels: Sequence[SourceChannel], channel_map: Mapping[str, object] | None = None
) -> dict[str, SlotChoice]:
    """Pick the channel (or derivation) for every slot the recording can fill.

    >>> chans = [SourceChannel(0, "C3-M2", 256), SourceChannel(1, "C4", 256),
    ...          SourceChannel(2, "M1", 256), SourceChannel(3, "Leg L", 256)]
    >>> choice = choose_channels(chans)["EEG_C"]
    >>> choice.indices, choice.reason
    ((1, 2), 'derived from C4 − M1, preferred over C3-M2, C4')
    """
    fixed = _choices_from_map(channel_map or {}, channels)
    taken = {i for choice in fixed.values() if choice for i in choice.indices}
    result = {slot: choice for slot, choice in fixed.items() if choice is not None}
    by_slot: dict[str, list[_Candidate]] = {}
    for cand in _candidates(channels, taken):
        by_slot.setdefault(cand.slot, []).append(cand)
    for slot, cands in by_slot.items():
        if slot in fixed:
            continue
        cands.sort(key=lambda c: c.key)
        best, others = cands[0], cands[1:]
        reason = best.derivation_note or "alias match"
        if others:
            shown = ", ".join(c.label for c in others[:3]) + (" …" if len(others) > 3 else "")
            reason += f", preferred over {shown}"
        alternatives = tuple(
            SlotChoice(slot, c.indices, c.label, c.derivation_note or "alias match") for c in others
        )
        # Rank, electrode order and stored/derived equal: the same derivation again.
        equivalents = sum(1 for c in others if c.key[:-1] == best.key[:-1])
        result[slot] = SlotChoice(slot, best.indices, best.label, reason, alternatives, equivalents)
    return {slot: result[slot] for slot in SLOT_NAMES if slot in result}


def require_eeg(choices: Mapping[str, SlotChoice], channels: Sequence[SourceChannel], path) -> None:
    """Raise :class:`ChannelMappingError` unless some EEG slot is filled (the model needs one)."""
    if any(slot in choices for slot in EEG_SLOTS):
        return
    labels = ", ".join(repr(ch.label) for ch in channels) or "none"
    raise ChannelMappingError(
        f"no recognisable EEG channel (labels found: {labels}); name the EEG in a channel map, "
        f'e.g. {{"EEG_C": "<EEG label>"}}',
        path,
    )


def map_channels(
    channels: Sequence[SourceChannel],
    channel_map: str | Path | Mapping[str, object] | None,
    path: str | Path,
) -> dict[str, SlotChoice]:
    """The slots of the recording ``path``: ``channel_map`` (see :func:`load_channel_map`)
    where it says, the automatic choice elsewhere.

    Every recording is mapped here, whatever holds it (an EDF file, an MNE Raw). Raises
    :class:`ChannelMappingError` naming ``path`` when the map is wrong or no EEG is found.

    >>> chans = [SourceChannel(0, "Fpz-Cz", 100), SourceChannel(1, "EOG horizontal", 100)]
    >>> {slot: c.label for slot, c in map_channels(chans, None, "night.edf").items()}
    {'EEG_F': 'Fpz-Cz', 'EOG_L': 'EOG horizontal'}
    >>> map_channels(chans[1:], None, "night.edf")
    Traceback (most recent call last):
    sleepvit.errors.ChannelMappingError: night.edf: no recognisable EEG channel (labels found: ...
    """
    try:
        choices = choose_channels(channels, load_channel_map(channel_map))
    except ChannelMappingError as exc:
        raise exc.about(path) from exc
    require_eeg(choices, channels, path)
    return choices


def load_channel_map(source: str | Path | Mapping[str, object] | None) -> dict[str, object]:
    """Read a channel map given as a mapping, JSON text or the path of a JSON file.

    >>> load_channel_map('{"EOG_R": null}')
    {'EOG_R': None}
    """
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return dict(source)
    text = str(source)
    where = "channel map"
    if not text.lstrip().startswith("{"):
        path = Path(text)
        where = str(path)
        require_regular_file(path, ChannelMappingError, "a JSON channel map")
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ChannelMappingError(
                f"cannot read channel map {path} ({exc.strerror}); give an existing JSON file "
                f"such as {EXAMPLE_MAP}"
            ) from exc
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ChannelMappingError(
            f"{where} is not valid JSON ({exc.msg} at line {exc.lineno}); write it like "
            f"{EXAMPLE_MAP}"
        ) from exc
    if not isinstance(loaded, dict):
        raise ChannelMappingError(f"{where} must be a JSON object like {EXAMPLE_MAP}")
    return loaded
