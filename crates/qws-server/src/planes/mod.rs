//! The planes the server answers, one module each: [`identity`] (token service and managed
//! identity), [`mgmt`] (ARM management plane), [`dataplane`] (Azure Quantum jobs, sessions,
//! quotas) and [`blob`] (the Azure Blob Storage subset). [`crate::routes::app`] merges their
//! routers.

pub mod blob;
pub mod dataplane;
pub mod identity;
pub mod mgmt;
