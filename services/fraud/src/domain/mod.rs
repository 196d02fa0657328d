//! The fraud domain, pure: no I/O, no clock.

pub mod detectors;
pub mod model;
pub mod risk;
pub mod simulate;

pub use pantau_platform::time::Month;
