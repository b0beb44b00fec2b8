//! The user's access to an engine's socket: today membership of the group
//! that owns the socket ([`group`]).

pub mod group;

use crate::docker::access::group::{
    fix_socket_group, GroupPaths, GroupUser, Outcome, RealAccountFiles, RootGroupPolicy,
};
use crate::docker::detect::Detection;
use crate::docker::mode::Mode;
use crate::docker::setup::DockerAccess;
use crate::init::spawn::Credentials;

/// The socket-group fix for the target user (nothing to do for root).
pub fn socket_access(detection: &Detection, user: Option<&Credentials>) -> DockerAccess {
    let mut access = DockerAccess {
        mode: Some(Mode::Socket),
        ..DockerAccess::default()
    };
    let (Some(socket), Some(user)) = (&detection.socket, user) else {
        return access;
    };
    if user.uid == 0 {
        return access;
    }
    if user.groups.contains(&socket.gid) {
        tracing::info!(gid = socket.gid, "the user already has the socket's group");
        return access;
    }
    let Some(name) = &user.name else {
        tracing::warn!(gid = socket.gid, "the user has no name in /etc/passwd, so no group can list it; giving gid {} to the command only", socket.gid);
        access.extra_groups.push(socket.gid);
        return access;
    };
    if !nix::unistd::geteuid().is_root() {
        tracing::warn!(
            gid = socket.gid,
            "{} is owned by gid {}, which the user lacks, and berth is not root so it cannot add it: \
             start the container as root with --user {name} (berth drops to it), or add --group-add {}",
            socket.path.display(),
            socket.gid,
            socket.gid
        );
        return access;
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
                Outcome::Unchanged { gid } | Outcome::Updated { gid, .. } => {
                    access.extra_groups.push(gid)
                }
                Outcome::DirectChildOnly { gid, warning } => {
                    tracing::warn!("{warning}");
                    access.extra_groups.push(gid);
                }
                Outcome::RefusedRootGroup { explanation } => tracing::warn!("{explanation}"),
            }
        }
        Err(err) => tracing::warn!(error = %err, "cannot fix the docker socket's group"),
    }
    access
}
