//! A list that grows a chunk at a time. A `Vec` grows by moving everything
//! it holds into fresh memory twice the size; a burst of 100,000 new alerts
//! says 100,000 messages (several hundred bytes each) before the writer
//! takes them, and those moves, with the page faults of the memory they
//! land in, were a tenth of the scheduler's time. Here a push never moves
//! what is already there; the writer flattens the list once, on its own
//! thread, and hands the emptied chunks back for reuse.

/// Items per chunk.
const CHUNK: usize = 256;

#[derive(Debug)]
pub(super) struct Chunks<T> {
    /// Filled in order; the last may have room. Chunks past `filled` are
    /// empty, kept for reuse.
    chunks: Vec<Vec<T>>,
    filled: usize,
    len: usize,
}

impl<T> Default for Chunks<T> {
    fn default() -> Self {
        Chunks {
            chunks: Vec::new(),
            filled: 0,
            len: 0,
        }
    }
}

impl<T> Chunks<T> {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room kept for reuse, in items.
    pub(super) fn capacity(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum()
    }

    pub(super) fn push(&mut self, item: T) {
        let room = self
            .filled
            .checked_sub(1)
            .is_some_and(|last| self.chunks[last].len() < self.chunks[last].capacity());
        if !room {
            if self.filled == self.chunks.len() {
                self.chunks.push(Vec::with_capacity(CHUNK));
            }
            self.filled += 1;
        }
        self.chunks[self.filled - 1].push(item);
        self.len += 1;
    }

    pub(super) fn extend(&mut self, items: impl IntoIterator<Item = T>) {
        for item in items {
            self.push(item);
        }
    }

    /// Adds what was said later, in order.
    pub(super) fn append(&mut self, later: &mut Chunks<T>) {
        self.extend(later.drain());
    }

    /// Takes every item, in order, leaving the chunks empty for reuse.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        let filled = std::mem::take(&mut self.filled);
        self.len = 0;
        self.chunks[..filled]
            .iter_mut()
            .flat_map(|chunk| chunk.drain(..))
    }

    /// Every item in one `Vec` of their number, in order; the chunks are
    /// left empty for reuse.
    pub(super) fn take_vec(&mut self) -> Vec<T> {
        let mut all = Vec::with_capacity(self.len);
        all.extend(self.drain());
        all
    }

    /// The items of `all`, in order.
    pub(super) fn from_vec(all: Vec<T>) -> Chunks<T> {
        let mut chunks = Chunks::default();
        chunks.extend(all);
        chunks
    }

    /// Empties it, keeping at most `most` items' room.
    pub(super) fn clear_keeping(&mut self, most: usize) {
        self.drain().for_each(drop);
        self.chunks.truncate(most.div_ceil(CHUNK));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_keep_their_order_through_chunks_and_reuse() {
        let mut list = Chunks::default();
        for i in 0..(CHUNK * 2 + 3) {
            list.push(i);
        }
        assert_eq!(list.len(), CHUNK * 2 + 3);
        let mut later = Chunks::from_vec(vec![7, 8, 9]);
        list.append(&mut later);
        assert!(later.is_empty());
        let all = list.take_vec();
        let expected: Vec<usize> = (0..(CHUNK * 2 + 3)).chain([7, 8, 9]).collect();
        assert_eq!(all, expected);
        assert!(list.is_empty());
        // Emptied, its chunks are filled again from the first.
        let room = list.capacity();
        assert!(room >= CHUNK * 3);
        list.push(1);
        list.push(2);
        assert_eq!(list.capacity(), room, "no new chunk");
        assert_eq!(list.take_vec(), [1, 2]);
        list.clear_keeping(CHUNK);
        assert!(list.is_empty());
        assert_eq!(list.capacity(), CHUNK, "one chunk kept");
    }
}
