//! The audit tree against published RFC 6962 vectors.
//!
//! Source: transparency-dev/merkle, `testdata/inclusion/*` and `testdata/consistency/*`
//! (Apache-2.0), gathered into `rfc6962_vectors.json` with each vector's file named. The leaves are
//! that project's RFC 6962 test inputs. Our proofs must equal the published ones, and
//! verification (ct-merkle) must accept the good vectors and refuse the altered ones.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use veil_crypto::merkle::{self, Hash, MemoryTree};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inclusion {
    file: String,
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Consistency {
    file: String,
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

#[derive(Deserialize)]
struct Vectors {
    leaves_hex: Vec<String>,
    inclusion: Vec<Inclusion>,
    consistency: Vec<Consistency>,
}

fn hash(text: &str) -> Option<Hash> {
    STANDARD.decode(text).ok()?.try_into().ok()
}

fn hashes(list: Option<&Vec<String>>) -> Vec<Hash> {
    list.map(|l| l.iter().map(|h| hash(h).unwrap()).collect())
        .unwrap_or_default()
}

fn load() -> (Vectors, Vec<Vec<u8>>, MemoryTree) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/rfc6962_vectors.json"
    ))
    .unwrap();
    let vectors: Vectors = serde_json::from_str(&text).unwrap();
    let leaves: Vec<Vec<u8>> = vectors
        .leaves_hex
        .iter()
        .map(|h| hex::decode(h).unwrap())
        .collect();
    let mut tree = MemoryTree::new();
    for leaf in &leaves {
        tree.push(merkle::leaf_hash(leaf));
    }
    (vectors, leaves, tree)
}

#[test]
fn inclusion_vectors() {
    let (vectors, leaves, tree) = load();
    assert!(vectors.inclusion.len() >= 7);
    for v in &vectors.inclusion {
        let proof = hashes(v.proof.as_ref());
        let root = hash(&v.root).unwrap();
        let leaf = leaves
            .iter()
            .find(|l| Some(merkle::leaf_hash(l)) == hash(&v.leaf_hash));
        if v.want_err {
            let refused = leaf.is_none_or(|leaf| {
                merkle::verify_inclusion(leaf, v.leaf_idx, v.tree_size, &root, &proof).is_err()
            });
            assert!(refused, "{} verified", v.file);
            continue;
        }
        let leaf = leaf.unwrap();
        assert_eq!(
            merkle::root_at(&tree, v.tree_size).unwrap(),
            root,
            "{}",
            v.file
        );
        assert_eq!(
            merkle::inclusion_proof(&tree, v.tree_size, v.leaf_idx).unwrap(),
            proof,
            "{}",
            v.file
        );
        merkle::verify_inclusion(leaf, v.leaf_idx, v.tree_size, &root, &proof).unwrap();
    }
}

#[test]
fn consistency_vectors() {
    let (vectors, _, tree) = load();
    assert!(vectors.consistency.len() >= 6);
    for v in &vectors.consistency {
        let proof = hashes(v.proof.as_ref());
        let (root1, root2) = (hash(&v.root1).unwrap(), hash(&v.root2).unwrap());
        let verdict = merkle::verify_consistency(v.size1, &root1, v.size2, &root2, &proof);
        if v.want_err {
            assert!(verdict.is_err(), "{} verified", v.file);
            continue;
        }
        verdict.unwrap();
        assert_eq!(
            merkle::root_at(&tree, v.size1).unwrap(),
            root1,
            "{}",
            v.file
        );
        assert_eq!(
            merkle::root_at(&tree, v.size2).unwrap(),
            root2,
            "{}",
            v.file
        );
        assert_eq!(
            merkle::consistency_proof(&tree, v.size1, v.size2).unwrap(),
            proof,
            "{}",
            v.file
        );
    }
}
