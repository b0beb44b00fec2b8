//! Link choices that `.cargo/config.toml` cannot make conditional on the
//! profile.
//!
//! In the release profile, where panics abort (`panic = "abort"`), berth's
//! binaries are linked without DWARF unwind tables: `--no-eh-frame-hdr` and
//! `link/no-unwind-tables.ld`, which discards `.eh_frame`. Nothing unwinds in
//! such a build, and the tables are 12% of the static binary
//! (bench/bloat-results.md). Debug and test builds unwind and keep them.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/no-unwind-tables.ld");
    // Cargo gives build scripts neither the profile's name nor its panic
    // strategy (CARGO_CFG_PANIC is the host's); PROFILE is "release" for the
    // release profile and the profiles that inherit from it, whose
    // `panic = "abort"` Cargo.toml sets. Were a panic to unwind anyway, it
    // would find no tables and abort, which is what "abort" does.
    let aborts = std::env::var("PROFILE").as_deref() == Ok("release");
    let gnu_ld = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if aborts && gnu_ld {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo:rustc-link-arg-bins=-Wl,--no-eh-frame-hdr");
        println!("cargo:rustc-link-arg-bins={dir}/link/no-unwind-tables.ld");
    }
}
