//! (e) the MTU of the default route, for dockerd's networks.

use super::*;

/// The interface of the IPv4 default route in `/proc/net/route` text.
pub fn default_route_interface(route_table: &str) -> Option<String> {
    const RTF_UP: u32 = 0x1;
    route_table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (iface, dest, flags, mask) = (cols.first()?, cols.get(1)?, cols.get(3)?, cols.get(7)?);
        let up = u32::from_str_radix(flags, 16).is_ok_and(|f| f & RTF_UP != 0);
        (*dest == "00000000" && *mask == "00000000" && up).then(|| (*iface).to_owned())
    })
}

/// (e) MTU of the default route's interface. Containers behind a smaller
/// MTU than dockerd's 1500 see TLS handshakes and large transfers hang, so a
/// different value is passed on (`--mtu`, plus the default network option
/// on dockerd versions that have it).
pub fn detect_mtu(paths: &PreflightPaths, dockerd: &DockerdFeatures) -> (Finding, Option<u32>) {
    const STEP: Step = Step::Mtu;
    let route_path = paths.proc_root.join("net/route");
    let Ok(table) = read_kernel_text(&route_path) else {
        return (
            skipped(STEP, format!("cannot read {}", route_path.display())),
            None,
        );
    };
    let Some(iface) = default_route_interface(&table) else {
        return (skipped(STEP, "no IPv4 default route"), None);
    };
    let mtu_path = paths.sys_class_net.join(&iface).join("mtu");
    let mtu = fs::read_to_string(&mtu_path)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let Some(mtu) = mtu else {
        return (
            skipped(STEP, format!("cannot read {}", mtu_path.display())),
            None,
        );
    };
    if mtu == DOCKER_DEFAULT_MTU {
        return (
            skipped(STEP, format!("{iface} has MTU {mtu}, dockerd's default")),
            None,
        );
    }
    let record = if dockerd.default_network_opt {
        done(
            STEP,
            format!("{iface} has MTU {mtu}: --mtu and the bridge default network option"),
        )
    } else {
        warn(
            STEP,
            format!("{iface} has MTU {mtu}: --mtu covers the default bridge only; this dockerd has no --default-network-opt (added in 24.0), so user-defined networks keep 1500"),
            format!("create networks with: docker network create -o com.docker.network.driver.mtu={mtu} ..., or use dockerd 24.0 or later"),
        )
    };
    (record, Some(mtu))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::docker::engine::preflight::tests::*;
    #[allow(unused_imports)]
    use crate::host::syscall::{Call, RecordingSyscall};

    const ROUTE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                         eth0\t0011A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                         eth1\t00000000\t0111A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";

    #[test]
    fn default_route_interface_is_found() {
        assert_eq!(default_route_interface(ROUTE).as_deref(), Some("eth1"));
        assert_eq!(default_route_interface("Iface\tDestination\n"), None);
    }

    pub(crate) fn mtu_fixture(mtu: &str) -> Fixture {
        let f = fixture();
        fs::write(f.paths.proc_root.join("net/route"), ROUTE).expect("write");
        fs::create_dir_all(f.paths.sys_class_net.join("eth1")).expect("mkdir");
        fs::write(f.paths.sys_class_net.join("eth1/mtu"), mtu).expect("write");
        f
    }

    #[test]
    fn mtu_1500_passes_nothing() {
        let f = mtu_fixture("1500\n");
        let (r, mtu) = detect_mtu(&f.paths, &DockerdFeatures::default());
        assert!(r.verdict == Verdict::Skipped, "{r:?}");
        assert_eq!(mtu, None);
    }

    #[test]
    fn smaller_mtu_is_passed_and_old_dockerd_warns_about_networks() {
        let f = mtu_fixture("1450\n");
        let (r, mtu) = detect_mtu(
            &f.paths,
            &DockerdFeatures {
                default_network_opt: false,
            },
        );
        assert_eq!(mtu, Some(1450));
        match (r.verdict, r.fix.as_deref().unwrap_or_default()) {
            (Verdict::Warning, fix) => {
                assert!(fix.contains("com.docker.network.driver.mtu=1450"), "{fix}")
            }
            other => panic!("{other:?}"),
        }
        let (r, mtu) = detect_mtu(
            &f.paths,
            &DockerdFeatures {
                default_network_opt: true,
            },
        );
        assert_eq!(mtu, Some(1450));
        assert!(r.verdict == Verdict::Done, "{r:?}");
    }
}
