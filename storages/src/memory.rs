//! placeholder: memory backend (being written).
