//! Targeted engine tests over MemoryStorage.
