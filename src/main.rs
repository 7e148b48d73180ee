//! davsync: synchronize calendars and address books.

// Outside tests, code says what it expected (`expect`) or handles the error.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::process::ExitCode;

fn main() -> ExitCode {
    match davsync::run() {
        Ok(code) => code,
        Err(err) => {
            davsync::logging::error_line(&davsync::errors::render(err.as_ref()));
            ExitCode::from(2)
        }
    }
}
