//! The thin binaries of ftl live in `src/bin/`; this crate has no behaviour of its own.
