//! PID 1 core: what makes berth an init. Signals through one signalfd
//! (`signals`), the one reaper and its pid table (`reaper`), starting the
//! command in a clean state (`spawn`), supervision and shutdown
//! (`supervisor`, `job_control`), the process list (`procs`), whether berth
//! is this container's init (`role`), memory trimming (`memory`), and helper
//! processes run through the reaper (`runner`).

pub mod job_control;
pub mod memory;
pub mod procs;
pub mod reaper;
pub mod role;
pub mod runner;
pub mod signals;
pub mod spawn;
pub mod supervisor;
