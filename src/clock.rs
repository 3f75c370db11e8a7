//! Wall-clock readings (Unix time) for what crosses processes and hosts: message timestamps,
//! the monitor's canaries, the console's samples. Timers use tokio's monotonic clock instead.

/// Wall clock, Unix ms (0 for a clock set before 1970).
pub fn unix_ms() -> u64 {
    unix_us() / 1000
}

/// Wall clock, Unix µs (0 for a clock set before 1970).
pub fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
