//! The access rule: group membership or berth's own socket (DESIGN.md
//! invariant 7). One function, [`decide`], from the socket's gid and the
//! image's account files.
//!
//! Joining the group that owns a socket's gid grants everything that group
//! grants, not only the socket. So membership is the fix only when the gid
//! means nothing but Docker here:
//!
//! 1. **gid 0** is root's group: [`Access::Proxy`].
//! 2. **No group in /etc/group has the gid**: [`Access::Group`], berth
//!    creates `docker-host` (or `docker-host-<gid>`) with it. Nothing in the
//!    image can have been given to a group that does not exist.
//! 3. **Every group with the gid is a Docker group**: [`Access::Group`].
//!    A Docker group is one that is *named* for Docker, `docker` (docker.io,
//!    docker-ce, the devcontainer features), `dockerroot` (RHEL's docker) or
//!    `docker-host` / `docker-host-<gid>[-<n>]` (the names berth itself
//!    gives), *and* is no account's primary group in /etc/passwd (an
//!    account's files are created with its primary group, so its members
//!    would get that account's group-readable files too).
//! 4. **Anything else** (`shadow` 42, `staff` 50, `disk`, `sudo`, `adm`,
//!    `wheel`, a user's own group, `texlive`, ...): [`Access::Proxy`]. The
//!    name is the evidence, and a name that is not Docker's means the group
//!    may own files or grant rights berth cannot see from here; scanning the
//!    file system for what a gid owns would be slow and still miss what a
//!    group means to programs (sudoers, polkit, PAM). So the rule is
//!    conservative: a group earns membership only by being Docker's.
//!
//! /etc/gshadow is not part of the verdict: its fields (a group password,
//! administrators, members) govern who may *join* a group, not what its
//! members get. berth still writes the membership there when it grants one
//! ([`super::group`]).
//!
//! Whether the user already has the gid (primary group, or a listed member)
//! is the caller's question: then nothing is granted either way.

use std::fmt;

use serde::Serialize;

use crate::host::users::{Groups, Passwd};

/// Names of groups that exist only for Docker (besides berth's own
/// `docker-host*`, see [`is_docker_name`]).
pub const DOCKER_GROUP_NAMES: [&str; 2] = ["docker", "dockerroot"];

/// How the user reaches the engine behind a socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "choice", rename_all = "snake_case")]
pub enum Access {
    /// Membership of the group with the socket's gid is safe.
    Group {
        gid: u32,
        /// The group that has the gid; None: berth creates one.
        group: Option<String>,
    },
    /// Membership would grant more than Docker: berth serves its own socket.
    Proxy {
        gid: u32,
        /// What the gid is in this image (None for gid 0 without a group
        /// entry).
        group: Option<String>,
        why: ProxyReason,
    },
}

/// Why membership of the socket's group is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ProxyReason {
    /// gid 0.
    RootGroup,
    /// The group is not named for Docker.
    NotDockerGroup,
    /// Named for Docker, but an account's primary group.
    PrimaryGroupOf { account: String },
}

impl Access {
    pub fn is_proxy(&self) -> bool {
        matches!(self, Access::Proxy { .. })
    }

    pub fn gid(&self) -> u32 {
        match self {
            Access::Group { gid, .. } | Access::Proxy { gid, .. } => *gid,
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Group { gid, group: None } => write!(
                f,
                "group: no group of this image has gid {gid}, so a group made for it grants Docker and nothing else"
            ),
            Access::Group {
                gid,
                group: Some(name),
            } => write!(f, "group: gid {gid} is `{name}`, a group only for Docker"),
            Access::Proxy { why, group, gid } => {
                let name = group.as_deref().unwrap_or("root");
                match why {
                    ProxyReason::RootGroup => write!(
                        f,
                        "proxy: gid 0 is root's group; joining it would grant far more than Docker"
                    ),
                    ProxyReason::NotDockerGroup => write!(
                        f,
                        "proxy: gid {gid} is `{name}` in this image, a group that is not Docker's; joining it would grant more than Docker"
                    ),
                    ProxyReason::PrimaryGroupOf { account } => write!(
                        f,
                        "proxy: gid {gid} is `{name}`, the primary group of the account `{account}`; joining it would grant that account's group files too"
                    ),
                }
            }
        }
    }
}

/// Is `name` one of the names a group made only for Docker has?
pub fn is_docker_name(name: &str) -> bool {
    if DOCKER_GROUP_NAMES.contains(&name) {
        return true;
    }
    // berth's own: docker-host, docker-host-<gid>, docker-host-<gid>-<n>.
    let Some(rest) = name.strip_prefix(super::group::CREATED_GROUP_NAME) else {
        return false;
    };
    rest.is_empty()
        || rest.strip_prefix('-').is_some_and(|tail| {
            tail.split('-')
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// The rule of the module documentation: group membership or a proxy for a
/// socket owned by `socket_gid`, from the image's /etc/group and /etc/passwd.
pub fn decide(socket_gid: u32, groups: &Groups, passwd: &Passwd) -> Access {
    let owners: Vec<&str> = groups
        .entries()
        .iter()
        .filter(|g| g.gid == socket_gid)
        .map(|g| g.name.as_str())
        .collect();
    let first = owners.first().map(|n| (*n).to_owned());
    if socket_gid == 0 {
        return Access::Proxy {
            gid: 0,
            group: first,
            why: ProxyReason::RootGroup,
        };
    }
    if owners.is_empty() {
        return Access::Group {
            gid: socket_gid,
            group: None,
        };
    }
    // A gid listed twice is as safe as its least safe name.
    if let Some(other) = owners.iter().find(|n| !is_docker_name(n)) {
        return Access::Proxy {
            gid: socket_gid,
            group: Some((*other).to_owned()),
            why: ProxyReason::NotDockerGroup,
        };
    }
    if let Some(account) = passwd.entries().iter().find(|a| a.gid == socket_gid) {
        return Access::Proxy {
            gid: socket_gid,
            group: first,
            why: ProxyReason::PrimaryGroupOf {
                account: account.name.clone(),
            },
        };
    }
    Access::Group {
        gid: socket_gid,
        group: first,
    }
}

/// The group berth's own socket belongs to: the image's Docker group when
/// the rule would grant it (`docker`, else `docker-host`), else a group to
/// create with a free gid ([`free_system_gid`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProxyGroup {
    pub name: String,
    pub gid: u32,
    /// False: berth adds it to /etc/group.
    pub exists: bool,
}

/// Picks the proxy socket's group (see [`ProxyGroup`]). None only when
/// every gid berth would pick is taken.
pub fn proxy_group(groups: &Groups, passwd: &Passwd) -> Option<ProxyGroup> {
    let existing = [DOCKER_GROUP_NAMES[0], super::group::CREATED_GROUP_NAME]
        .into_iter()
        .filter_map(|name| groups.by_name(name))
        .find(|g| matches!(decide(g.gid, groups, passwd), Access::Group { .. }));
    if let Some(group) = existing {
        return Some(ProxyGroup {
            name: group.name.clone(),
            gid: group.gid,
            exists: true,
        });
    }
    let gid = free_system_gid(groups, passwd)?;
    Some(ProxyGroup {
        name: super::group::free_group_name(gid, groups),
        gid,
        exists: false,
    })
}

/// The first gid from 999 down to 100 (the system range `groupadd
/// --system` uses, in the same order) that no group has and no account
/// has as its primary gid; then 1000 to 59999.
pub fn free_system_gid(groups: &Groups, passwd: &Passwd) -> Option<u32> {
    let taken =
        |gid: u32| groups.by_gid(gid).is_some() || passwd.entries().iter().any(|a| a.gid == gid);
    (100..=999)
        .rev()
        .chain(1000..=59_999)
        .find(|gid| !taken(*gid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Debian bookworm's /etc/group, plus docker.io's group and a user.
    const GROUP: &str = "\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
sudo:x:27:
shadow:x:42:
utmp:x:43:
staff:x:50:
users:x:100:
nogroup:x:65534:
docker:x:101:alice
dev:x:1000:
alice:x:1001:
texlive:x:999:alice,bob
";

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
dev:x:1000:1000::/home/dev:/bin/bash
alice:x:1001:1001::/home/alice:/bin/bash
";

    fn groups(text: &str) -> Groups {
        Groups::parse(Path::new("/etc/group"), text)
    }

    fn passwd(text: &str) -> Passwd {
        Passwd::parse(Path::new("/etc/passwd"), text)
    }

    fn rule(gid: u32) -> Access {
        decide(gid, &groups(GROUP), &passwd(PASSWD))
    }

    fn proxy(gid: u32, group: &str, why: ProxyReason) -> Access {
        Access::Proxy {
            gid,
            group: Some(group.into()),
            why,
        }
    }

    #[test]
    fn gid_0_is_always_a_proxy() {
        assert_eq!(rule(0), proxy(0, "root", ProxyReason::RootGroup));
        // Even where the image has no group 0 at all.
        let access = decide(0, &groups(""), &passwd(""));
        assert!(access.is_proxy(), "{access:?}");
    }

    #[test]
    fn an_unknown_gid_gets_a_group_of_its_own() {
        assert_eq!(
            rule(4242),
            Access::Group {
                gid: 4242,
                group: None
            }
        );
    }

    #[test]
    fn the_docker_group_is_joined_even_with_other_members() {
        // docker lists alice: its members are there for Docker.
        assert_eq!(
            rule(101),
            Access::Group {
                gid: 101,
                group: Some("docker".into())
            }
        );
    }

    #[test]
    fn powerful_system_groups_get_a_proxy() {
        for (gid, name) in [
            (42, "shadow"),
            (50, "staff"),
            (6, "disk"),
            (27, "sudo"),
            (4, "adm"),
        ] {
            assert_eq!(rule(gid), proxy(gid, name, ProxyReason::NotDockerGroup));
        }
        let wheel = decide(10, &groups("wheel:x:10:\n"), &passwd(""));
        assert_eq!(wheel, proxy(10, "wheel", ProxyReason::NotDockerGroup));
    }

    #[test]
    fn a_users_own_group_and_a_group_with_members_get_a_proxy() {
        assert_eq!(
            rule(1001),
            proxy(1001, "alice", ProxyReason::NotDockerGroup)
        );
        // texlive has members and gid 999, like many images' docker group,
        // but its name is not Docker's.
        assert_eq!(
            rule(999),
            proxy(999, "texlive", ProxyReason::NotDockerGroup)
        );
    }

    #[test]
    fn a_docker_named_primary_group_gets_a_proxy() {
        let passwd = passwd("docker:x:998:998::/home/docker:/bin/sh\n");
        let access = decide(998, &groups("docker:x:998:\n"), &passwd);
        assert_eq!(
            access,
            proxy(
                998,
                "docker",
                ProxyReason::PrimaryGroupOf {
                    account: "docker".into()
                }
            )
        );
    }

    #[test]
    fn a_gid_listed_twice_is_as_safe_as_its_least_safe_name() {
        let text = "docker:x:50:\nstaff:x:50:\n";
        assert_eq!(
            decide(50, &groups(text), &passwd("")),
            proxy(50, "staff", ProxyReason::NotDockerGroup)
        );
    }

    #[test]
    fn berths_own_group_names_count_as_docker_groups() {
        for name in [
            "docker-host",
            "docker-host-4242",
            "docker-host-4242-2",
            "dockerroot",
        ] {
            assert!(is_docker_name(name), "{name}");
        }
        for name in [
            "docker-hostile",
            "docker-host-",
            "docker-host-x",
            "dockers",
            "wheel",
        ] {
            assert!(!is_docker_name(name), "{name}");
        }
        let text = "docker-host:x:4242:dev\n";
        assert_eq!(
            decide(4242, &groups(text), &passwd("")),
            Access::Group {
                gid: 4242,
                group: Some("docker-host".into())
            }
        );
    }

    #[test]
    fn the_proxy_socket_belongs_to_the_images_docker_group() {
        assert_eq!(
            proxy_group(&groups(GROUP), &passwd(PASSWD)),
            Some(ProxyGroup {
                name: "docker".into(),
                gid: 101,
                exists: true
            })
        );
    }

    #[test]
    fn without_a_docker_group_the_proxy_gets_a_new_one_with_a_free_system_gid() {
        let text = GROUP.replace("docker:x:101:alice\n", "");
        let group = proxy_group(&groups(&text), &passwd(PASSWD)).expect("a free gid");
        // 999 is texlive's: the next one down.
        assert_eq!(
            group,
            ProxyGroup {
                name: "docker-host".into(),
                gid: 998,
                exists: false
            }
        );
        // A docker group that is an account's primary group is not used,
        // nor is its gid.
        let text = format!("{text}docker:x:998:\n");
        let passwd = passwd(&format!("{PASSWD}docker:x:998:998::/:/bin/sh\n"));
        let group = proxy_group(&groups(&text), &passwd).expect("a free gid");
        assert_eq!((group.name.as_str(), group.gid), ("docker-host", 997));
    }

    #[test]
    fn the_verdict_says_why() {
        let text = rule(42).to_string();
        assert!(
            text.contains("`shadow`") && text.contains("proxy"),
            "{text}"
        );
        let text = rule(0).to_string();
        assert!(text.contains("root's group"), "{text}");
        let text = rule(4242).to_string();
        assert!(text.starts_with("group:"), "{text}");
    }
}
