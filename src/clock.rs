//! The tracer's clock: the CPU's invariant time-stamp counter where it has one (about a
//! nanosecond to read), else CLOCK_MONOTONIC in nanoseconds. The launcher converts ticks.

use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Tsc,
    Monotonic,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Tsc => "tsc",
            Kind::Monotonic => "monotonic",
        }
    }
}

static KIND: OnceLock<Kind> = OnceLock::new();

/// The TSC only counts steadily across cores and power states with both of these flags.
pub fn kind() -> Kind {
    *KIND.get_or_init(|| {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let flags = info.lines().find(|l| l.starts_with("flags")).unwrap_or("");
        let has = |f: &str| flags.split_whitespace().any(|x| x == f);
        if cfg!(target_arch = "x86_64") && has("constant_tsc") && has("nonstop_tsc") {
            Kind::Tsc
        } else {
            Kind::Monotonic
        }
    })
}

pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[inline(always)]
pub fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    if matches!(KIND.get(), Some(Kind::Tsc)) {
        // SAFETY: rdtsc has no preconditions on x86-64.
        return unsafe { core::arch::x86_64::_rdtsc() };
    }
    monotonic_ns()
}

/// Converts ticks to nanoseconds from two (ticks, ns) readings taken around a run.
#[derive(Clone, Copy, Debug)]
pub struct Calibration {
    pub ns_per_tick: f64,
}

impl Calibration {
    pub fn between(kind: Kind, a: (u64, u64), b: (u64, u64)) -> Calibration {
        let ns_per_tick = match kind {
            Kind::Monotonic => 1.0,
            Kind::Tsc if b.0 > a.0 && b.1 > a.1 => (b.1 - a.1) as f64 / (b.0 - a.0) as f64,
            Kind::Tsc => 1.0,
        };
        Calibration { ns_per_tick }
    }

    /// Reads both clocks 5 ms apart, for a run too short to calibrate on.
    pub fn measure(kind: Kind) -> Calibration {
        let a = (ticks(), monotonic_ns());
        std::thread::sleep(std::time::Duration::from_millis(5));
        Calibration::between(kind, a, (ticks(), monotonic_ns()))
    }

    pub fn ns(&self, ticks: u64) -> u64 {
        (ticks as f64 * self.ns_per_tick).round() as u64
    }
}
