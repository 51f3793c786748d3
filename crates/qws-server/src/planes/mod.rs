//! The planes the server answers, one module each: [`identity`] (token service and managed
//! identity), [`mgmt`] (ARM management plane), [`dataplane`] (Azure Quantum jobs, sessions,
//! quotas), [`blob`] (the Azure Blob Storage subset), [`authorization`] (ARM
//! `Microsoft.Authorization`: role assignments and definitions) and [`directory`] (users,
//! service principals and groups) and [`portal`] (the browser portal). [`crate::routes::app`] merges their
//! routers.

pub mod authorization;
pub mod blob;
pub mod dataplane;
pub mod directory;
pub mod health;
pub mod identity;
pub mod mgmt;
pub mod portal;
pub mod signin;
