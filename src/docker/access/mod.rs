//! The user's access to an engine's socket, granting Docker and nothing
//! more (DESIGN invariant 7): today membership of the group that owns the
//! socket ([`group`]). A socket of berth's own in front of the engine, for
//! sockets whose group cannot be granted, belongs here too.

pub mod group;

use crate::docker::access::group::{
    fix_socket_group, GroupPaths, GroupUser, Outcome, RealAccountFiles, RootGroupPolicy,
};
use crate::docker::detect::Detection;
use crate::docker::finding::{Finding, Verdict};
use crate::docker::mode::Mode;
use crate::host::HostFacts;
use crate::init::spawn::Credentials;

/// Whether `user` can use the socket detection chose: a finding when it
/// lacks the socket's group (what the run fixes, and how).
pub fn user_access(detection: &Detection, user: Option<&Credentials>) -> Option<Finding> {
    let (Some(socket), Some(user)) = (&detection.socket, user) else {
        return None;
    };
    if user.uid == 0 || user.gid == socket.gid || user.groups.contains(&socket.gid) {
        return None;
    }
    let seen = format!(
        "{} belongs to gid {}, which {} lacks: `docker` fails with \"permission denied\"",
        socket.path.display(),
        socket.gid,
        user.name.as_deref().unwrap_or("the user")
    );
    Some(
        Finding::new("socket-access", Verdict::Warning, seen)
            .with_fix("berth fixes this at start when it runs as root with --user (it adds the user to that group); otherwise --group-add GID")
            .about(Mode::Socket),
    )
}

/// The socket-group fix for the target user (nothing to do for root):
/// the groups the command needs on top of the user's own.
pub fn socket_access(
    detection: &Detection,
    user: Option<&Credentials>,
    host: &HostFacts,
) -> Vec<u32> {
    let mut extra_groups = Vec::new();
    let (Some(socket), Some(user)) = (&detection.socket, user) else {
        return extra_groups;
    };
    if user.uid == 0 {
        return extra_groups;
    }
    if user.groups.contains(&socket.gid) {
        tracing::info!(gid = socket.gid, "the user already has the socket's group");
        return extra_groups;
    }
    let Some(name) = &user.name else {
        tracing::warn!(gid = socket.gid, "the user has no name in /etc/passwd, so no group can list it; giving gid {} to the command only", socket.gid);
        extra_groups.push(socket.gid);
        return extra_groups;
    };
    if !host.is_root() {
        tracing::warn!(
            gid = socket.gid,
            "{} is owned by gid {}, which the user lacks, and berth is not root so it cannot add it: \
             start the container as root with --user {name} (berth drops to it), or add --group-add {}",
            socket.path.display(),
            socket.gid,
            socket.gid
        );
        return extra_groups;
    }
    let fix = fix_socket_group(
        socket.gid,
        GroupUser {
            name,
            primary_gid: user.gid,
        },
        &GroupPaths::default(),
        &RealAccountFiles,
        RootGroupPolicy::Refuse,
    );
    match fix {
        Ok((plan, outcome)) => {
            tracing::info!(%plan, %outcome, "docker socket group");
            match outcome {
                Outcome::Unchanged { gid } | Outcome::Updated { gid, .. } => extra_groups.push(gid),
                Outcome::DirectChildOnly { gid, warning } => {
                    tracing::warn!("{warning}");
                    extra_groups.push(gid);
                }
                Outcome::RefusedRootGroup { explanation } => tracing::warn!("{explanation}"),
            }
        }
        Err(err) => tracing::warn!(error = %err, "cannot fix the docker socket's group"),
    }
    extra_groups
}
