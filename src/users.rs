//! /etc/passwd and /etc/group, read and (for group) rewritten without NSS.
