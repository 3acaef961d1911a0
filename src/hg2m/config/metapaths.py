"""Meta-paths derived from a graph's schema, for graphs whose dataset config defines none.

For every relation between the target type T and another type X (in either direction), the meta-path
T-X-T walked through that relation; and every relation from T to T itself. Pure schema logic: it reads
the snapshot manifest's relations, never the graph.
"""

from __future__ import annotations

from collections import Counter

from hg2m.config.schema import MetaPath
from hg2m.data.snapshot import RelationInfo


def derive_metapaths(target_type: str, relations: list[RelationInfo]) -> dict[str, MetaPath]:
    """Name -> MetaPath, in the order of `relations`: `T-X-T` (`T-<relation>-X-T` where several relations join
    T and X), and `<relation>` for a relation from T to T."""
    touching = [r for r in relations if target_type in (r.src_type, r.dst_type)]
    others = Counter(r.dst_type if r.src_type == target_type else r.src_type for r in touching)
    derived = {}
    for relation in touching:
        other = relation.dst_type if relation.src_type == target_type else relation.src_type
        if other == target_type:
            derived[relation.name] = MetaPath(relations=[relation.name])
            continue
        name = f"{target_type}-{other}-{target_type}" if others[other] == 1 else \
            f"{target_type}-{relation.name}-{other}-{target_type}"
        derived[name] = MetaPath(relations=[relation.name, relation.name])
    return derived
