//! The command line's own modules: the training flags, and what a terminal shows.

pub mod checkpoint_args;
pub mod picture_commands;
pub mod score_command;
pub mod signals;
pub mod terminal;
pub mod train_args;
