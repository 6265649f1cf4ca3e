//! The audit log's Merkle tree (RFC 6962): leaf hash `SHA-256(0x00 || entry)`, node hash
//! `SHA-256(0x01 || left || right)`.
//!
//! The tree is kept as its *perfect* subtrees only (a node whose 2^level leaves all exist). Those
//! never change once written, so the database holds them append-only; the hash of any other range
//! (the right edge of a tree that is not a power of two) is folded from perfect ones when needed.
//! Which nodes a proof needs, and checking proofs, is `ct-merkle`'s work; this module only turns
//! its node indices into leaf ranges and ranges into hashes.

use std::collections::HashMap;

use ct_merkle::RootHash;
use ct_merkle::digest::Digest as _;
use sha2::Sha256;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// What can be wrong with a tree, a range or a proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// A node that the computation needs is not stored (the tree is shorter than claimed, or
    /// rows were deleted).
    #[error("node at level {level}, index {index} is missing")]
    MissingNode { level: u32, index: u64 },
    /// An index or size outside the tree.
    #[error("{0}")]
    OutOfRange(&'static str),
    /// A stored frontier does not have one hash per set bit of the size.
    #[error("malformed frontier")]
    MalformedFrontier,
    /// The proof does not lead to the given root.
    #[error("proof does not verify")]
    ProofInvalid,
}

fn to_hash(output: &[u8]) -> Hash {
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(output) {
        *o = *b;
    }
    out
}

/// `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    to_hash(
        &Sha256::new()
            .chain_update([0u8])
            .chain_update(entry)
            .finalize(),
    )
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    to_hash(
        &Sha256::new()
            .chain_update([1u8])
            .chain_update(left)
            .chain_update(right)
            .finalize(),
    )
}

/// The hash of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    to_hash(&Sha256::digest([]))
}

/// A perfect subtree: leaves `index·2^level .. (index+1)·2^level`. Level 0 is a leaf hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerfectNode {
    pub level: u32,
    pub index: u64,
    pub hash: Hash,
}

/// Where perfect subtree hashes come from (the database, or memory in tests and benchmarks).
pub trait PerfectNodes {
    fn get(&self, level: u32, index: u64) -> Option<Hash>;
}

impl<S: std::hash::BuildHasher> PerfectNodes for HashMap<(u32, u64), Hash, S> {
    fn get(&self, level: u32, index: u64) -> Option<Hash> {
        HashMap::get(self, &(level, index)).copied()
    }
}

/// The right edge of a tree of `size` leaves: one perfect subtree per set bit of `size`, largest
/// first. With it a writer can append leaves and compute the root without reading other nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a stored frontier (concatenated hashes).
    pub fn from_bytes(size: u64, bytes: &[u8]) -> Result<Self, MerkleError> {
        let count =
            usize::try_from(size.count_ones()).map_err(|_| MerkleError::MalformedFrontier)?;
        if bytes.len() != count * 32 {
            return Err(MerkleError::MalformedFrontier);
        }
        Ok(Self {
            size,
            nodes: bytes.chunks_exact(32).map(to_hash).collect(),
        })
    }

    /// The concatenated hashes, to store.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.nodes.concat()
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; `completed` receives every perfect node of level 1 or more that the
    /// leaf completes (about one per leaf on average).
    pub fn push(&mut self, leaf: Hash, completed: &mut Vec<PerfectNode>) {
        let mut hash = leaf;
        let mut level = 0u32;
        while (self.size >> level) & 1 == 1 {
            let Some(left) = self.nodes.pop() else {
                break;
            };
            hash = node_hash(&left, &hash);
            level += 1;
            completed.push(PerfectNode {
                level,
                index: self.size >> level,
                hash,
            });
        }
        self.nodes.push(hash);
        self.size += 1;
    }

    /// The tree's root (RFC 6962 `MTH`).
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// `MTH(D[start..end])` from perfect subtrees (RFC 6962 §2.1: split at the largest power of two
/// below the width).
pub fn range_hash(nodes: &impl PerfectNodes, start: u64, end: u64) -> Result<Hash, MerkleError> {
    if start >= end {
        return Err(MerkleError::OutOfRange("empty range"));
    }
    let width = end - start;
    if width.is_power_of_two() && start.is_multiple_of(width) {
        let level = width.trailing_zeros();
        return nodes
            .get(level, start >> level)
            .ok_or(MerkleError::MissingNode {
                level,
                index: start >> level,
            });
    }
    let split = if width.is_power_of_two() {
        width / 2
    } else {
        1u64 << (width - 1).ilog2()
    };
    let left = range_hash(nodes, start, start + split)?;
    let right = range_hash(nodes, start + split, end)?;
    Ok(node_hash(&left, &right))
}

/// The leaf range `ct-merkle`'s array index `node` covers in a tree of `size` leaves (RFC 9420
/// array layout: leaves at even indices, level = trailing ones).
fn node_range(node: u64, size: u64) -> (u64, u64) {
    let level = node.trailing_ones();
    let start = (node >> (level + 1)) << level;
    let end = start.saturating_add(1u64 << level).min(size);
    (start, end)
}

/// The root of the first `size` leaves.
pub fn root_at(nodes: &impl PerfectNodes, size: u64) -> Result<Hash, MerkleError> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(nodes, 0, size)
}

/// RFC 6962 `PATH(index, D[size])`.
pub fn inclusion_proof(
    nodes: &impl PerfectNodes,
    size: u64,
    index: u64,
) -> Result<Vec<Hash>, MerkleError> {
    if index >= size || size > u64::MAX / 2 {
        return Err(MerkleError::OutOfRange("index is not in the tree"));
    }
    ct_merkle::indices_for_inclusion_proof(size, index)
        .into_iter()
        .map(|node| {
            let (start, end) = node_range(node, size);
            range_hash(nodes, start, end)
        })
        .collect()
}

/// RFC 6962 `PROOF(old, D[new])`.
pub fn consistency_proof(
    nodes: &impl PerfectNodes,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, MerkleError> {
    if old == 0 || old > new || new > u64::MAX / 2 {
        return Err(MerkleError::OutOfRange("sizes must satisfy 0 < old <= new"));
    }
    ct_merkle::indices_for_consistency_proof(old, new - old)
        .into_iter()
        .map(|node| {
            let (start, end) = node_range(node, new);
            range_hash(nodes, start, end)
        })
        .collect()
}

/// The perfect nodes a computation reads, found by running it against a source that records.
pub fn nodes_needed<T>(
    compute: impl FnOnce(&Recorder) -> Result<T, MerkleError>,
) -> Vec<(u32, u64)> {
    let recorder = Recorder::default();
    let _ = compute(&recorder);
    let mut wanted = recorder.wanted.into_inner();
    wanted.sort_unstable();
    wanted.dedup();
    wanted
}

/// A node source that remembers what was asked of it (see [`nodes_needed`]).
#[derive(Default)]
pub struct Recorder {
    wanted: std::cell::RefCell<Vec<(u32, u64)>>,
}

impl PerfectNodes for Recorder {
    fn get(&self, level: u32, index: u64) -> Option<Hash> {
        self.wanted.borrow_mut().push((level, index));
        Some([0u8; 32])
    }
}

struct Entry<'a>(&'a [u8]);

impl ct_merkle::HashableLeaf for Entry<'_> {
    fn hash<H: ct_merkle::digest::Update>(&self, hasher: &mut H) {
        hasher.update(self.0);
    }
}

fn digest_of(hash: &Hash) -> ct_merkle::digest::Output<Sha256> {
    ct_merkle::digest::Output::<Sha256>::from(*hash)
}

/// Checks that `entry` is leaf `index` of the tree of `size` leaves with `root`.
pub fn verify_inclusion(
    entry: &[u8],
    index: u64,
    size: u64,
    root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    let digests: Vec<_> = proof.iter().map(digest_of).collect();
    let proof = ct_merkle::InclusionProof::<Sha256>::from_digests(digests.iter());
    RootHash::<Sha256>::new(digest_of(root), size)
        .verify_inclusion(&Entry(entry), index, &proof)
        .map_err(|_| MerkleError::ProofInvalid)
}

/// Checks that the tree (`old`, `old_root`) is a prefix of (`new`, `new_root`).
pub fn verify_consistency(
    old: u64,
    old_root: &Hash,
    new: u64,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old == new {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(MerkleError::ProofInvalid)
        };
    }
    let digests: Vec<_> = proof.iter().map(digest_of).collect();
    let proof = ct_merkle::ConsistencyProof::<Sha256>::from_digests(digests.iter());
    RootHash::<Sha256>::new(digest_of(new_root), new)
        .verify_consistency(&RootHash::new(digest_of(old_root), old), &proof)
        .map_err(|_| MerkleError::ProofInvalid)
}

/// An in-memory tree of perfect nodes (tests, benchmarks, and `veil audit verify`, which rebuilds
/// the tree from the entries).
#[derive(Debug, Default)]
pub struct MemoryTree {
    frontier: Frontier,
    nodes: HashMap<(u32, u64), Hash>,
}

impl MemoryTree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let index = self.frontier.size();
        self.nodes.insert((0, index), leaf);
        let mut completed = Vec::new();
        self.frontier.push(leaf, &mut completed);
        for node in completed {
            self.nodes.insert((node.level, node.index), node.hash);
        }
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// The perfect node, if the tree has it.
    pub fn node(&self, level: u32, index: u64) -> Option<Hash> {
        self.nodes.get(&(level, index)).copied()
    }
}

impl PerfectNodes for MemoryTree {
    fn get(&self, level: u32, index: u64) -> Option<Hash> {
        self.node(level, index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(n: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push(leaf_hash(&i.to_be_bytes()));
        }
        t
    }

    #[test]
    fn frontier_root_equals_range_hash_for_every_size() {
        let t = tree(70);
        let mut f = Frontier::new();
        let mut done = Vec::new();
        for i in 0..70u64 {
            f.push(leaf_hash(&i.to_be_bytes()), &mut done);
            assert_eq!(f.root(), root_at(&t, i + 1).unwrap(), "size {}", i + 1);
            let stored = Frontier::from_bytes(f.size(), &f.to_bytes()).unwrap();
            assert_eq!(stored, f);
        }
        assert!(Frontier::from_bytes(3, &[0u8; 32]).is_err());
    }

    #[test]
    fn every_proof_of_every_small_tree_verifies_and_a_wrong_one_does_not() {
        let t = tree(33);
        for size in 1..=33u64 {
            let root = root_at(&t, size).unwrap();
            for index in 0..size {
                let proof = inclusion_proof(&t, size, index).unwrap();
                verify_inclusion(&index.to_be_bytes(), index, size, &root, &proof).unwrap();
                assert!(
                    verify_inclusion(&(index + 1).to_be_bytes(), index, size, &root, &proof)
                        .is_err()
                );
            }
            for old in 1..=size {
                let old_root = root_at(&t, old).unwrap();
                let proof = consistency_proof(&t, old, size).unwrap();
                verify_consistency(old, &old_root, size, &root, &proof).unwrap();
                if old < size {
                    let wrong = leaf_hash(b"x");
                    assert!(verify_consistency(old, &wrong, size, &root, &proof).is_err());
                }
            }
        }
    }

    #[test]
    fn a_missing_node_is_named() {
        let t = tree(4);
        let mut nodes: HashMap<(u32, u64), Hash> = HashMap::new();
        nodes.insert((0, 0), t.node(0, 0).unwrap());
        assert_eq!(
            root_at(&nodes, 2),
            Err(MerkleError::MissingNode { level: 1, index: 0 })
        );
        let wanted = nodes_needed(|r| inclusion_proof(r, 4, 1));
        assert_eq!(wanted, vec![(0, 0), (1, 1)]);
    }
}
