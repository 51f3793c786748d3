//! qws-core
