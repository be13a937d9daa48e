//! The engine: the [`checker::Checker`] and its builder, the order images start in, and the
//! per-image pipeline that runs the stages.

pub mod checker;
pub(crate) mod schedule;
