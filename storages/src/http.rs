//! placeholder: http backend (being written).
