//! PID 1 core: reaper, signals, child spawn, shutdown.

pub mod job_control;
pub mod memory;
pub mod procs;
pub mod reaper;
pub mod runner;
pub mod signals;
pub mod spawn;
pub mod supervisor;
