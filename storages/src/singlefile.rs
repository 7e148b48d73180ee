//! placeholder: singlefile backend (being written).
