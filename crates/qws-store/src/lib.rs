//! qws-store
