//! Builders: records → reports. Each reads plain records (a capture, bench samples) and the
//! launcher's context; none touches the interpreter.

mod bench;
mod memory;
mod profile;
mod run;

pub use bench::build as bench;
pub use profile::profile;
pub use run::{run, Run};
