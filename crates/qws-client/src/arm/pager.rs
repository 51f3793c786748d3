//! Paging through ARM list results: the crate's one [`Pager`](crate::pager::Pager), over an
//! [`ArmClient`].

use super::ArmClient;

/// Pages of an ARM list operation (`nextLink` must stay on the ARM endpoint's origin, because
/// the bearer token travels with it).
pub type Pager<T> = crate::pager::Pager<T, ArmClient>;
