//! A reaper that reaps all the time, as berth does on every SIGCHLD, for
//! the tests whose children must go through it (tests/daemon.rs,
//! tests/helpers.rs). The reaper takes every child of the test process, so
//! such a test file holds one test function.

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use berth::reaper::Reaper;

/// Runs `test` with a reaper that a local task keeps calling, on a
/// current-thread runtime (berth's own shape), and returns when it ends.
pub fn with_reaper<F, Fut>(test: F)
where
    F: FnOnce(Rc<Reaper>) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let reaper = Rc::new(Reaper::new());
        let reaping = reaper.clone();
        tokio::task::spawn_local(async move {
            loop {
                reaping.reap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        test(reaper).await;
    });
}
