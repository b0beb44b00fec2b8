//! PID 1 core: reaper, signals, child spawn, shutdown.
