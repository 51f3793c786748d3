//! qws-client
