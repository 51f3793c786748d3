//! The integration tests of `qws-client`, one test binary: the SDK against a real qws server
//! started in-process on 127.0.0.1 with a temporary data directory ([`common`]).

mod common;

mod azure_compat;
mod dataplane;
