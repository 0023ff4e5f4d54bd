# shard_hash.py: an independent Python statement of geolabel's shard assignment, for the shard
# tests: FNV-1a 64 (Noll) then SplitMix64's finaliser (Steele, Lea, Flood), from their published constants.
MASK = (1 << 64) - 1


def shard_of(key, n):
    h = 0xCBF29CE484222325
    for b in key.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & MASK
    return (h ^ (h >> 31)) % n
