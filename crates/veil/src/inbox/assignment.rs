//! Auto-assignment: open conversations nobody holds go round-robin to the online members of their
//! team, each up to the team's capacity. Free of HTTP and SQL.
//!
//! A conversation's team is its own, or else its channel's (set on the admin pages). "Online" is a
//! signed-in session active within `ONLINE_MS`: an open inbox keeps its event stream, which
//! reconnects every five minutes, so an agent with the inbox open stays online and one who closed
//! it drops out within minutes. The assigner runs on every new message and every few seconds, so
//! a conversation that found nobody free waits in the queue until someone is. The claim is a
//! conditional update, so two nodes (PostgreSQL) never assign the same conversation twice; under
//! such a race a member may briefly exceed capacity by one.

use std::collections::HashMap;
use std::sync::Arc;

use crate::clock::Clock;
use crate::identity::{Permission, Role};
use crate::inbox::live::{Live, LiveKind};
use crate::store::{MemberLoad, Store, StoreResult};

/// How recently a session must have been active for its user to count as online.
pub const ONLINE_MS: i64 = 6 * 60_000;
/// Conversations looked at per run.
const BATCH: i64 = 500;

/// The member who gets the next conversation: online, allowed to answer, under capacity, and the
/// longest since their last automatic assignment (ties: the lowest id, so the order is stable).
pub fn pick(members: &[MemberLoad], capacity: i64) -> Option<usize> {
    members
        .iter()
        .enumerate()
        .filter(|(_, m)| m.online == 1 && m.open < capacity && may_answer(&m.role))
        .min_by(|(_, a), (_, b)| {
            (a.last_assigned_at, &a.user_id).cmp(&(b.last_assigned_at, &b.user_id))
        })
        .map(|(i, _)| i)
}

fn may_answer(role: &str) -> bool {
    Role::parse(role).is_some_and(|r| {
        let p = r.permissions();
        p.contains(Permission::ConversationReply)
            && (p.contains(Permission::ConversationReadAssigned)
                || p.contains(Permission::ConversationReadAll))
    })
}

/// The assigner.
#[derive(Debug, Clone)]
pub struct Assigner {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub live: Live,
}

impl Assigner {
    /// Assigns what it can of the queue; returns how many conversations it assigned.
    pub async fn run_once(&self) -> StoreResult<u32> {
        // Teams are few; without one that assigns automatically there is no queue to read.
        let capacity: HashMap<String, i64> = self
            .store
            .team_details()
            .await?
            .into_iter()
            .filter(|t| t.auto_assign == 1)
            .map(|t| (t.id, t.capacity))
            .collect();
        if capacity.is_empty() {
            return Ok(0);
        }
        let queue = self.store.auto_assign_queue(BATCH).await?;
        if queue.is_empty() {
            return Ok(0);
        }
        let now = self.clock.now_ms();
        let mut loads: HashMap<String, Vec<MemberLoad>> = HashMap::new();
        let mut assigned = 0;
        for item in queue {
            if !loads.contains_key(&item.team_id) {
                let members = self
                    .store
                    .member_loads(&item.team_id, now - ONLINE_MS)
                    .await?;
                loads.insert(item.team_id.clone(), members);
            }
            let cap = capacity.get(&item.team_id).copied().unwrap_or(0);
            let Some(chosen) = loads.get(&item.team_id).and_then(|members| {
                pick(members, cap)
                    .and_then(|i| members.get(i))
                    .map(|m| m.user_id.clone())
            }) else {
                continue;
            };
            if self
                .store
                .claim_assignment(&item.id, &chosen, &item.team_id, now)
                .await?
            {
                assigned += 1;
                // A member of several teams carries the new load into each.
                for member in loads.values_mut().flatten() {
                    if member.user_id == chosen {
                        member.open += 1;
                    }
                }
                if let Some(member) = loads
                    .get_mut(&item.team_id)
                    .and_then(|m| m.iter_mut().find(|m| m.user_id == chosen))
                {
                    member.last_assigned_at = now;
                }
                self.live.publish(LiveKind::Conversation, Some(&item.id));
            }
        }
        Ok(assigned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, role: &str, open: i64, last: i64, online: bool) -> MemberLoad {
        MemberLoad {
            user_id: id.into(),
            role: role.into(),
            open,
            last_assigned_at: last,
            online: i64::from(online),
        }
    }

    #[test]
    fn round_robin_skips_the_offline_the_full_and_those_who_may_not_answer() {
        let members = vec![
            member("a", "agent", 0, 30, true),
            member("b", "agent", 0, 10, false),
            member("c", "agent", 3, 0, true),
            member("d", "auditor", 0, 0, true),
            member("e", "supervisor", 1, 20, true),
        ];
        assert_eq!(pick(&members, 3), Some(4), "e waited longest of those free");
        let mut rotated = members;
        rotated[4].last_assigned_at = 40;
        assert_eq!(pick(&rotated, 3), Some(0));
        rotated[0].open = 3;
        rotated[4].open = 3;
        assert_eq!(pick(&rotated, 3), None, "everyone online is at capacity");
        assert_eq!(pick(&[], 3), None);
    }

    #[test]
    fn ties_go_to_the_lowest_id() {
        let members = vec![
            member("b", "agent", 0, 0, true),
            member("a", "agent", 0, 0, true),
        ];
        assert_eq!(pick(&members, 1), Some(1));
    }
}
