//! The crate's error type.

use std::path::PathBuf;

/// Everything the `kipp` command can fail with. `Display` names the category; the
/// underlying cause is available through `source()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A flag, environment variable or `.dev.vars` entry has an invalid value.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An I/O operation failed (binding the listener, reading a file, …).
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The state file could not be decoded or encoded.
    #[error("state file {}", path.display())]
    StateFile {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// An HTTP exchange made by the command failed.
    #[error("http: {0}")]
    Http(String),
    /// A subcommand is not available in this build yet.
    #[error("`{0}` is not implemented yet")]
    NotImplemented(&'static str),
    /// Any other failure, described in words.
    #[error("{0}")]
    Message(String),
}

impl Error {
    /// An [`Error::Io`] with a description of what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }
}
