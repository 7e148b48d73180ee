//! placeholder: wrappers backend (being written).
