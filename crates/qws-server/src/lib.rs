//! qws-server
