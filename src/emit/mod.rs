//! Backends: each takes a checked `Plan` and cannot fail.
