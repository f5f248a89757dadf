//! The emulated etcd cluster: membership with etcd's reconfiguration rule for removing a voting member
//! (etcd server `mayRemoveMember` / `IsReadyToRemoveVotingMember`: after the removal, the started members must
//! still form a quorum of the remaining ones), which is what refuses removing the last member.

use serde::{Deserialize, Serialize};

/// One etcd member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Member ID (random, non-zero).
    pub id: u64,
    /// Emulated node name the member runs on (may be gone after a non-graceful reset).
    pub node: String,
    /// Hostname reported in EtcdMemberList.
    pub hostname: String,
    /// `https://<address>:2380`.
    pub peer_url: String,
    /// `https://<address>:2379`.
    pub client_url: String,
}

/// The cluster's etcd, once bootstrapped.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Etcd {
    /// SHA-256 (hex) of the Kubernetes CA certificate of the cluster it belongs to: only control planes with the
    /// same CA join it.
    pub cluster_ca: String,
    /// Members in join order.
    pub members: Vec<Member>,
}

/// Why a member could not be removed, worded as etcd words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveError {
    /// No member with that ID (`etcdserver: member not found`).
    NotFound,
    /// Removing it would break quorum (`etcdserver: re-configuration failed due to not enough started members`).
    NotEnoughStarted,
}

impl std::fmt::Display for RemoveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoveError::NotFound => f.write_str("etcdserver: member not found"),
            RemoveError::NotEnoughStarted => {
                f.write_str("etcdserver: re-configuration failed due to not enough started members")
            }
        }
    }
}

impl Etcd {
    /// The member running on `node`, if any.
    pub fn member_of(&self, node: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.node == node)
    }

    /// Adds a member for `node` unless it already is one; returns its ID.
    pub fn join(&mut self, node: &str, hostname: &str, address: &str) -> u64 {
        if let Some(m) = self.member_of(node) {
            return m.id;
        }
        let mut id: u64 = rand::random();
        while id == 0 || self.members.iter().any(|m| m.id == id) {
            id = rand::random();
        }
        self.members.push(Member {
            id,
            node: node.to_string(),
            hostname: hostname.to_string(),
            peer_url: format!("https://{address}:2380"),
            client_url: format!("https://{address}:2379"),
        });
        id
    }

    /// Removes member `id`; `started(node)` tells whether a member's node is running. Refused when the started
    /// members left would not be a quorum of the members left (so the last member can never be removed).
    pub fn remove(
        &mut self,
        id: u64,
        started: impl Fn(&str) -> bool,
    ) -> Result<Member, RemoveError> {
        let pos = self
            .members
            .iter()
            .position(|m| m.id == id)
            .ok_or(RemoveError::NotFound)?;
        let remaining = self.members.len() - 1;
        let started_left = self
            .members
            .iter()
            .filter(|m| m.id != id && started(&m.node))
            .count();
        if remaining == 0 || started_left < remaining / 2 + 1 {
            return Err(RemoveError::NotEnoughStarted);
        }
        Ok(self.members.remove(pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_member_cannot_leave_and_quorum_is_kept() {
        let mut e = Etcd::default();
        let a = e.join("a", "a", "127.0.0.1");
        assert_eq!(e.join("a", "a", "127.0.0.1"), a);
        assert_eq!(e.remove(a, |_| true), Err(RemoveError::NotEnoughStarted));
        let b = e.join("b", "b", "127.0.0.2");
        let c = e.join("c", "c", "127.0.0.3");
        // c is down: removing a would leave b alone started out of {b, c}: 1 < 2.
        assert_eq!(
            e.remove(a, |n| n != "c"),
            Err(RemoveError::NotEnoughStarted)
        );
        assert_eq!(e.remove(c, |n| n != "c").unwrap().node, "c");
        assert_eq!(e.remove(12345, |_| true), Err(RemoveError::NotFound));
        assert!(e.remove(b, |_| true).is_ok());
        assert_eq!(e.members.len(), 1);
    }
}
