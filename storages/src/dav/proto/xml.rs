//! Internal XML helpers: a small element writer over quick-xml's `Writer`, and the
//! namespace-aware reading primitives the parsers share.
