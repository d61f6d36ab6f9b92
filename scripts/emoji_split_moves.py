"""How the emoji unseen-concepts split changed when whole concept families replaced twin groups
as the unit held out (issue 11), and what the old split leaked. Reads the fetched set
($ALIGNKIT_DATA or the default cache); prints Markdown.

    python scripts/emoji_split_moves.py
"""

from __future__ import annotations

import collections

from alignkit.data.builtin import emoji


def probe(concepts: list[emoji.Concept], held: set[str]) -> set[str]:
    train = [c for c in concepts if c.code not in held]
    return {c.code for c in sorted(train, key=lambda c: emoji._stable_hash("probe:" + c.code))[: emoji.PROBE_SIZE]}


def shared_captions(concepts: list[emoji.Concept], held: set[str]) -> list[str]:
    """Normalised captions of held-out concepts that a training concept also has."""
    caps = {True: set(), False: set()}
    for c in concepts:
        caps[c.code in held] |= {emoji.normalise_caption(t) for t in emoji.captions_of(c)}
    return sorted(caps[True] & caps[False])


def main() -> None:
    concepts = emoji.load_concepts()
    family = emoji.concept_families(concepts)
    old = emoji.heldout_codes(concepts, {c.code: c.group for c in concepts})  # the twin-group rule it replaces
    new = emoji.heldout_codes(concepts)
    sizes = sorted(collections.Counter(family.values()).values(), reverse=True)
    crossing = sum(len({c.code in old for c in concepts if family[c.code] == f}) > 1 for f in set(family.values()))
    print(f"| | twin groups (before) | concept families (now) |\n|---|---|---|")
    print(f"| concepts | {len(concepts)} | {len(concepts)} |")
    print(f"| units held out whole | {len(set(c.group for c in concepts))} twin groups | {len(sizes)} families "
          f"(largest {', '.join(map(str, sizes[:4]))}) |")
    print(f"| held-out concepts | {len(old)} | {len(new)} |")
    print(f"| training concepts (Google + Twitter pairs) | {len(concepts) - len(old)} ({2 * (len(concepts) - len(old))}) "
          f"| {len(concepts) - len(new)} ({2 * (len(concepts) - len(new))}) |")
    print(f"| held-out normalised captions also in training | {len(shared_captions(concepts, old))} "
          f"| {len(shared_captions(concepts, new))} |")
    print(f"| families split across train / held-out | {crossing} | 0 |")
    print()
    print(f"moved train -> held-out: {len(new - old)}; held-out -> train: {len(old - new)}; "
          f"held-out in both: {len(old & new)}")
    print(f"probe ({emoji.PROBE_SIZE} training concepts): {len(probe(concepts, old) - probe(concepts, new))} replaced")
    print(f"captions the old split leaked: {', '.join(shared_captions(concepts, old))}")


if __name__ == "__main__":
    main()
