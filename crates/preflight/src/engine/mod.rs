//! The engine: the [`checker::Checker`] and its builder, the requests it is given (merged when
//! equal), the order images start in, the per-image pipeline that runs the stages, the registry
//! walk, and Docker Hub's pull budget over a whole check.

mod budget;
pub mod checker;
mod inspect;
pub(crate) mod pipeline;
pub mod request;
pub(crate) mod route;
pub(crate) mod schedule;
