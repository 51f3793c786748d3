//! ARM template deployments, the pure part: the expression language ([`expr`]), its evaluation
//! ([`eval`]) and the plan of a template level ([`plan`]): which resources, in which order.
//!
//! The subset is what `az quantum workspace create` sends (parameters, variables, `concat`,
//! `guid`, `resourceId`, `reference(…, 'Full')`, `dependsOn`, child resources, nested
//! `Microsoft.Resources/deployments` in Incremental mode) for the resource types qws serves
//! ([`plan::SUPPORTED_TYPES`]). Anything else is refused with `InvalidTemplate`, naming the
//! resource and the function or type, before any resource is touched.

pub mod eval;
pub mod expr;
pub mod plan;

pub use eval::{References, Scope};
pub use plan::{bind_parameters, plan, validate, PlannedResource};

/// A template that cannot be deployed: ARM's error code and a message that names the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// ARM error code (`InvalidTemplate`, …).
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

impl TemplateError {
    /// An `InvalidTemplate` error.
    pub fn invalid(message: String) -> TemplateError {
        TemplateError {
            code: "InvalidTemplate",
            message,
        }
    }

    /// The same error, prefixed with the resource it was found in.
    pub fn in_resource(self, name: &str, resource_type: &str) -> TemplateError {
        TemplateError {
            code: self.code,
            message: format!(
                "The template resource '{}' of type '{}' is not valid: {}",
                name.chars().take(200).collect::<String>(),
                resource_type.chars().take(200).collect::<String>(),
                self.message
            ),
        }
    }
}
