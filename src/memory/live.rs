//! The table of live blocks: address → (size, allocating slot).
//!
//! Small blocks (pymalloc's, up to 512 bytes, 16-byte aligned) are kept in direct-mapped chunks:
//! one u32 per 16 bytes of address space, 64 KiB of addresses per chunk. Blocks handed out one
//! after another sit next to each other, so their entries share cache lines and no hashing or
//! probing is done; a chunk costs a quarter of the address range it covers. Larger or unaligned
//! blocks go to a hash map.

use rustc_hash::FxHashMap;

/// A block's entry: size above SLOT_BITS, the allocating slot + 1 below (0: no block).
const SLOT_BITS: u32 = 22;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
/// Blocks up to this size are kept in chunks (pymalloc's small-request threshold).
const SMALL: usize = 512;
const GRAIN: usize = 16;
const CHUNK_SHIFT: u32 = 16;
const CHUNK_ENTRIES: usize = (1 << CHUNK_SHIFT) / GRAIN;

type Chunk = [u32; CHUNK_ENTRIES];

pub struct Live {
    chunks: FxHashMap<usize, Box<Chunk>>,
    /// The chunk used last: (address >> CHUNK_SHIFT, its entries).
    last: (usize, *mut u32),
    large: FxHashMap<usize, (u64, u32)>,
    /// Set when the table took more memory since `take_grown`.
    grew: bool,
}

impl Live {
    pub fn new() -> Live {
        Live {
            chunks: FxHashMap::default(),
            last: (usize::MAX, std::ptr::null_mut()),
            large: FxHashMap::with_capacity_and_hasher(1 << 10, Default::default()),
            grew: true,
        }
    }

    #[inline(always)]
    fn small(p: usize, size: usize) -> bool {
        size <= SMALL && p.is_multiple_of(GRAIN)
    }

    /// The entry of address `p` (16-byte aligned), making its chunk when `make` (and then
    /// counting it in `grew`).
    #[inline(always)]
    fn entry(&mut self, p: usize, make: bool) -> Option<*mut u32> {
        let key = p >> CHUNK_SHIFT;
        let at = (p & ((1 << CHUNK_SHIFT) - 1)) / GRAIN;
        if key != self.last.0 {
            let chunk = if make {
                let grew = &mut self.grew;
                self.chunks.entry(key).or_insert_with(|| {
                    *grew = true;
                    Box::new([0; CHUNK_ENTRIES])
                })
            } else {
                self.chunks.get_mut(&key)?
            };
            self.last = (key, chunk.as_mut_ptr());
        }
        // SAFETY: `last` points at a live boxed chunk (chunks are never dropped while the table
        // lives) and `at` < CHUNK_ENTRIES.
        Some(unsafe { self.last.1.add(at) })
    }

    #[inline(always)]
    pub fn insert(&mut self, p: usize, size: u64, slot: u32) {
        if Self::small(p, size as usize) {
            let e = self.entry(p, true).expect("made");
            // SAFETY: `entry` returned a pointer into a live chunk.
            unsafe { *e = (size as u32) << SLOT_BITS | (slot + 1) };
        } else {
            let before = self.large.capacity();
            self.large.insert(p, (size, slot));
            self.grew |= self.large.capacity() != before;
        }
    }

    /// Whether the table took more memory since the last call.
    #[inline(always)]
    pub fn take_grown(&mut self) -> bool {
        std::mem::take(&mut self.grew)
    }

    /// Takes the block at `p` out: (size, slot), or None when it is not in the table.
    #[inline(always)]
    pub fn remove(&mut self, p: usize) -> Option<(u64, u32)> {
        if p.is_multiple_of(GRAIN) {
            if let Some(e) = self.entry(p, false) {
                // SAFETY: `entry` returned a pointer into a live chunk.
                let v = unsafe { std::mem::replace(&mut *e, 0) };
                if v != 0 {
                    return Some(((v >> SLOT_BITS) as u64, (v & SLOT_MASK) - 1));
                }
            }
        }
        if self.large.is_empty() {
            return None;
        }
        self.large.remove(&p)
    }

    /// Every live block: (address, size, slot).
    pub fn each(&self, mut f: impl FnMut(usize, u64, u32)) {
        for (&key, c) in &self.chunks {
            for (i, &v) in c.iter().enumerate().filter(|(_, &v)| v != 0) {
                f(
                    (key << CHUNK_SHIFT) | (i * GRAIN),
                    (v >> SLOT_BITS) as u64,
                    (v & SLOT_MASK) - 1,
                );
            }
        }
        for (&p, &(size, slot)) in &self.large {
            f(p, size, slot);
        }
    }

    /// refscope's own memory in the table.
    pub fn bytes(&self) -> usize {
        self.chunks.len() * std::mem::size_of::<Chunk>()
            + self.chunks.capacity() * (2 * std::mem::size_of::<usize>() + 1)
            + self.large.capacity() * (std::mem::size_of::<(usize, (u64, u32))>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_large_and_unaligned_blocks_come_back_with_their_size_and_slot() {
        let mut t = Live::new();
        let base = 0x7f00_0001_0000usize;
        t.insert(base, 32, 0);
        t.insert(base + 32, 512, 7);
        t.insert(base + (1 << CHUNK_SHIFT) * 3, 48, (1 << 21) - 1);
        t.insert(base + 1024, 4096, 9);
        t.insert(base + 8, 24, 5); // not 16-byte aligned
        let mut all = vec![];
        t.each(|p, size, slot| all.push((size, slot, p - base)));
        all.sort();
        let far = (1 << CHUNK_SHIFT) * 3;
        assert_eq!(
            all,
            vec![
                (24, 5, 8),
                (32, 0, 0),
                (48, (1 << 21) - 1, far),
                (512, 7, 32),
                (4096, 9, 1024)
            ]
        );
        assert_eq!(t.remove(base + 32), Some((512, 7)));
        assert_eq!(t.remove(base + 32), None, "a block leaves once");
        assert_eq!(t.remove(base + 1024), Some((4096, 9)));
        assert_eq!(t.remove(base + 8), Some((24, 5)));
        assert_eq!(t.remove(base + (1 << CHUNK_SHIFT) * 3), Some((48, (1 << 21) - 1)));
        assert_eq!(t.remove(base + 64), None, "never allocated");
        assert_eq!(t.remove(0x1000_0000), None, "no chunk there");
        assert_eq!(t.remove(base), Some((32, 0)));
    }
}
