//! placeholder: vdir backend (being written).
