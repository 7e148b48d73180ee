//! davsync: synchronize calendars and address books.

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
