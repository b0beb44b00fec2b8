//! /etc/passwd and /etc/group, read without NSS (berth is linked statically).
//!
//! Interim version for the init core; the detection work extends it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::init::spawn::Credentials;

/// The fallback when the user has no usable login shell.
pub const FALLBACK_SHELL: &str = "/bin/sh";

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("user {name:?} is not in {path}: create it in the image (useradd {name}) or pass a numeric UID")]
    UnknownUser { name: String, path: PathBuf },
    #[error("group {name:?} is not in {path}: create it (groupadd {name}) or pass a numeric GID")]
    UnknownGroup { name: String, path: PathBuf },
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
    shell: String,
}

fn read(path: &Path) -> Result<String, UserError> {
    fs::read_to_string(path).map_err(|source| UserError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry> + '_ {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        Some(PasswdEntry {
            name: f[0].to_string(),
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5].to_string(),
            shell: f[6].to_string(),
        })
    })
}

/// (name, gid, members) of each well-formed line of a group file.
fn group_entries(text: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> + '_ {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 {
            return None;
        }
        let members = f[3].split(',').filter(|m| !m.is_empty()).collect();
        Some((f[0], f[2].parse().ok()?, members))
    })
}

/// Resolves `NAME`, `UID`, `NAME:GROUP` or `UID:GID` gosu-style.
pub fn resolve(spec: &str, passwd: &Path, group: &Path) -> Result<Credentials, UserError> {
    let (user, group_spec) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd_text = read(passwd)?;
    let entry = passwd_entries(&passwd_text).find(|e| e.name == user || user.parse() == Ok(e.uid));
    let (uid, mut gid, name, home) = match entry {
        Some(e) => (e.uid, e.gid, Some(e.name), PathBuf::from(e.home)),
        None => match user.parse::<u32>() {
            Ok(uid) => (uid, uid, None, PathBuf::from("/")),
            Err(_) => {
                return Err(UserError::UnknownUser {
                    name: user.to_string(),
                    path: passwd.to_path_buf(),
                })
            }
        },
    };
    let group_text = fs::read_to_string(group).unwrap_or_default();
    if let Some(g) = group_spec {
        gid = match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_entries(&group_text)
                .find(|(n, _, _)| *n == g)
                .map(|(_, gid, _)| gid)
                .ok_or_else(|| UserError::UnknownGroup {
                    name: g.to_string(),
                    path: group.to_path_buf(),
                })?,
        };
    }
    let mut groups = vec![gid];
    if let Some(name) = &name {
        for (_, g, members) in group_entries(&group_text) {
            if members.contains(&name.as_str()) && !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    Ok(Credentials {
        uid,
        gid,
        groups,
        name,
        home,
    })
}

/// The login shell of `uid`, or /bin/sh when none is set or the entry is missing.
pub fn login_shell(passwd: &Path, uid: u32) -> PathBuf {
    let text = fs::read_to_string(passwd).unwrap_or_default();
    let shell = passwd_entries(&text)
        .find(|e| e.uid == uid)
        .map(|e| e.shell)
        .filter(|shell| !shell.is_empty() && Path::new(shell).exists());
    shell.map_or_else(|| PathBuf::from(FALLBACK_SHELL), PathBuf::from)
}
