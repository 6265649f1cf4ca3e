//! `veil audit verify`: recompute the tree from the entries and hold it against every signed
//! checkpoint (the database's, the checkpoint file's, and one given from elsewhere).
//!
//! What is checked, entry by entry in order:
//! - numbers run 0, 1, 2, … without a gap (deleted or inserted rows);
//! - each entry's canonical bytes hash to its stored leaf hash (an edited column);
//! - each perfect node the recomputation completes equals the stored one;
//! - at each checkpoint's size, the recomputed root equals the signed root, and the signature is
//!   this log's (an edit whose hashes were recomputed too, a reordering, a forged checkpoint);
//! - the log is at least as long as every checkpoint (rolled back to an older state);
//! - the head row agrees with the entries.
//!
//! Checkpoints are consistent with each other when each equals the root recomputed from the same
//! entries; a checkpoint given with `--against` is also checked with an RFC 6962 consistency proof
//! from the stored nodes, as a third party would.

use veil_crypto::merkle::{self, Frontier};
use veil_crypto::{Checkpoint, CheckpointVerifier};

use super::{AuditError, AuditLog, canonical};

/// Entries read per query.
const PAGE: i64 = 10_000;

/// The result: the first problem, if any, and what was checked.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub entries: u64,
    pub checkpoints: usize,
    pub root: merkle::Hash,
    /// The first problem found, naming the entry or checkpoint.
    pub problem: Option<String>,
    /// The first entry known to be wrong, when it can be named.
    pub first_bad_entry: Option<i64>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }

    fn fail(&mut self, entry: Option<i64>, problem: String) {
        if self.problem.is_none() {
            self.problem = Some(problem);
            self.first_bad_entry = entry;
        }
    }
}

struct Anchor {
    checkpoint: Checkpoint,
    source: String,
}

fn open_notes(
    verifier: &CheckpointVerifier,
    text: &str,
    source: &str,
    report: &mut VerifyReport,
) -> Vec<Anchor> {
    let mut anchors = Vec::new();
    // A file holds notes one after another; each ends after its signature lines.
    for note in split_notes(text) {
        match verifier.open(&note) {
            Ok(checkpoint) => anchors.push(Anchor {
                checkpoint,
                source: source.to_owned(),
            }),
            Err(err) => report.fail(
                None,
                format!("{source}: a checkpoint does not verify: {err}"),
            ),
        }
    }
    anchors
}

/// Splits concatenated signed notes (body, blank line, signature lines, blank line, …).
pub fn split_notes(text: &str) -> Vec<String> {
    let mut notes = Vec::new();
    let mut current = String::new();
    let mut in_signatures = false;
    for line in text.lines() {
        if in_signatures && !line.starts_with('\u{2014}') {
            notes.push(std::mem::take(&mut current));
            in_signatures = false;
        }
        if line.is_empty() && current.is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.is_empty() {
            in_signatures = true;
        }
    }
    if !current.trim().is_empty() {
        notes.push(current);
    }
    notes
}

impl AuditLog {
    /// Verifies the whole log. `against` is a checkpoint kept elsewhere.
    #[allow(
        clippy::too_many_lines,
        reason = "the checks in the order the module comment lists them"
    )]
    pub async fn verify(&self, against: Option<&str>) -> Result<VerifyReport, AuditError> {
        let store = self.store().clone();
        let verifier = self.verifier();
        let mut report = VerifyReport::default();
        let mut anchors = Vec::new();
        for row in store.checkpoints().await? {
            let found = open_notes(
                &verifier,
                &row.note,
                &format!("checkpoint {}", row.size),
                &mut report,
            );
            for anchor in &found {
                if i64::try_from(anchor.checkpoint.size).ok() != Some(row.size) {
                    report.fail(
                        None,
                        format!(
                            "checkpoint row {} carries size {}",
                            row.size, anchor.checkpoint.size
                        ),
                    );
                }
            }
            anchors.extend(found);
        }
        report.checkpoints = anchors.len();
        if let Some(path) = &self.inner.checkpoint_file
            && let Ok(text) = std::fs::read_to_string(path)
        {
            anchors.extend(open_notes(&verifier, &text, "checkpoint file", &mut report));
        }
        let external = match against {
            Some(text) => {
                let found = open_notes(&verifier, text, "the given checkpoint", &mut report);
                if found.is_empty() && report.problem.is_none() {
                    report.fail(None, "the given file holds no checkpoint".into());
                }
                found.into_iter().next_back()
            }
            None => None,
        };
        anchors.extend(external.iter().map(|a| Anchor {
            checkpoint: a.checkpoint.clone(),
            source: a.source.clone(),
        }));
        anchors.sort_by_key(|a| a.checkpoint.size);

        let mut frontier = Frontier::new();
        let mut next_anchor = 0usize;
        let mut last_good_size = 0u64;
        let mut completed = Vec::new();
        let mut from = 0i64;
        loop {
            let rows = store.audit_range(from, PAGE).await?;
            let Some(last) = rows.last() else {
                break;
            };
            from = last.seq + 1;
            // The perfect nodes this page completes, compared with the stored ones per page.
            let mut page_nodes = Vec::new();
            for row in rows {
                let expected = i64::try_from(frontier.size()).unwrap_or(i64::MAX);
                if row.seq != expected {
                    report.fail(
                        Some(expected),
                        format!(
                            "entry {expected} is missing (the next stored entry is {})",
                            row.seq
                        ),
                    );
                    return Ok(finish(report, &frontier));
                }
                let leaf = merkle::leaf_hash(&canonical(&row));
                if leaf.as_slice() != row.leaf_hash.as_slice() {
                    report.fail(
                        Some(row.seq),
                        format!(
                            "entry {} was changed: its content does not match its leaf hash",
                            row.seq
                        ),
                    );
                }
                completed.clear();
                frontier.push(leaf, &mut completed);
                page_nodes.extend(completed.iter().map(|n| (*n, row.seq)));
                while let Some(anchor) = anchors.get(next_anchor)
                    && anchor.checkpoint.size == frontier.size()
                {
                    if anchor.checkpoint.root == frontier.root() {
                        last_good_size = frontier.size();
                    } else {
                        report.fail(
                            Some(i64::try_from(last_good_size).unwrap_or(0)),
                            format!(
                                "entries {}..{} do not match the {} signed at size {}: an entry in that range was changed, reordered, inserted or removed",
                                last_good_size,
                                frontier.size() - 1,
                                anchor.source,
                                anchor.checkpoint.size
                            ),
                        );
                    }
                    next_anchor += 1;
                }
            }
            self.compare_nodes(&page_nodes, &mut report).await?;
        }
        // Anchors at size 0 (an empty log was signed) match the empty root.
        if let Some(anchor) = anchors.get(next_anchor)
            && anchor.checkpoint.size > frontier.size()
        {
            report.fail(
                Some(i64::try_from(frontier.size()).unwrap_or(0)),
                format!(
                    "the log holds {} entries but the {} was signed at size {}: it was shortened or rolled back",
                    frontier.size(),
                    anchor.source,
                    anchor.checkpoint.size
                ),
            );
        }
        let (head_size, head_frontier) = store.audit_head().await?;
        if u64::try_from(head_size).ok() != Some(frontier.size())
            || head_frontier != frontier.to_bytes()
        {
            report.fail(
                Some(i64::try_from(frontier.size()).unwrap_or(0)),
                format!(
                    "the head says {head_size} entries but {} are stored",
                    frontier.size()
                ),
            );
        }
        // The search keys are derived, not signed; a gap in them would hide entries from a
        // search by actor or target, so they must match the entries exactly.
        let (exact, keyed, keys) = store.audit_keys_check().await?;
        if exact != keyed || keys != 2 * keyed || keyed > head_size {
            report.fail(
                None,
                format!(
                    "the search keys do not match the entries: {exact} of {keyed} keyed entries have both of their keys, and {keys} keys are stored"
                ),
            );
        }
        if let Some(anchor) = external
            && report.ok()
            && anchor.checkpoint.size > 0
        {
            let proof = self
                .consistency(anchor.checkpoint.size, frontier.size())
                .await?;
            if merkle::verify_consistency(
                anchor.checkpoint.size,
                &anchor.checkpoint.root,
                frontier.size(),
                &frontier.root(),
                &proof,
            )
            .is_err()
            {
                report.fail(None, "the log does not extend the given checkpoint".into());
            }
        }
        Ok(finish(report, &frontier))
    }

    /// Compares recomputed perfect nodes with the stored ones, one query per level.
    async fn compare_nodes(
        &self,
        nodes: &[(merkle::PerfectNode, i64)],
        report: &mut VerifyReport,
    ) -> Result<(), AuditError> {
        let mut levels: Vec<u32> = nodes.iter().map(|(n, _)| n.level).collect();
        levels.sort_unstable();
        levels.dedup();
        for level in levels {
            let of_level: Vec<_> = nodes.iter().filter(|(n, _)| n.level == level).collect();
            let (Some(first), Some(last)) = (of_level.first(), of_level.last()) else {
                continue;
            };
            let stored: std::collections::HashMap<i64, Vec<u8>> = self
                .store()
                .audit_nodes_between(
                    i64::from(level),
                    i64::try_from(first.0.index).unwrap_or(i64::MAX),
                    i64::try_from(last.0.index).unwrap_or(i64::MAX),
                )
                .await?
                .into_iter()
                .collect();
            for (node, seq) in of_level {
                let index = i64::try_from(node.index).unwrap_or(i64::MAX);
                if stored.get(&index).map(Vec::as_slice) != Some(node.hash.as_slice()) {
                    report.fail(
                        Some(*seq),
                        format!(
                            "stored tree node (level {}, index {}) does not match the entries up to {seq}",
                            node.level, node.index
                        ),
                    );
                }
            }
        }
        Ok(())
    }
}

fn finish(mut report: VerifyReport, frontier: &Frontier) -> VerifyReport {
    report.entries = frontier.size();
    report.root = frontier.root();
    report
}

#[cfg(test)]
mod tests {
    use super::split_notes;

    #[test]
    fn concatenated_notes_split_after_their_signatures() {
        let text = "o\n1\nAA==\n\n\u{2014} o abc\n\no\n2\nBB==\n\n\u{2014} o def\n\u{2014} x ghi\n";
        let notes = split_notes(text);
        assert_eq!(notes.len(), 2);
        assert_eq!(notes[0], "o\n1\nAA==\n\n\u{2014} o abc\n");
        assert_eq!(notes[1], "o\n2\nBB==\n\n\u{2014} o def\n\u{2014} x ghi\n");
    }
}
