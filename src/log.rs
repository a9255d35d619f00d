//! The server's log: one line on stderr per join, leave and refusal, unless `--quiet`.

use std::fmt;

/// Join/leave lines on stderr, unless `--quiet`.
#[derive(Clone, Copy)]
pub struct Log {
    pub quiet: bool,
}

impl Log {
    pub fn line(&self, args: fmt::Arguments<'_>) {
        if !self.quiet {
            eprintln!("{args}");
        }
    }
}
