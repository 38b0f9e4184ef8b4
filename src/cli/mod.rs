//! The command line's own modules: the training flags, and what a terminal shows.

pub mod terminal;
pub mod train_args;
