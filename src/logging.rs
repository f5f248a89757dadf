//! hclog-style JSON logging on stderr (see the crate docs).
