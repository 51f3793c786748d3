//! The plan of one template level: its resources (child resources flattened to full types and
//! names), each with its resource id, ordered so that every resource comes after what it
//! `dependsOn` (a cycle, or a dependency on something not in the template, is refused).
//!
//! Names, types and `dependsOn` are evaluated when the level is planned; everything else in a
//! resource is evaluated when it is deployed, so `reference()` sees the resources before it. A
//! nested deployment is planned when it runs, after what it depends on exists.

use super::eval::{check_functions, group_resource_id, Scope};
use super::expr::{classify, StringKind};
use super::TemplateError;
use serde_json::{Map, Value};

/// Resource types a template may deploy (compared case-insensitively).
pub const SUPPORTED_TYPES: &[&str] = &[
    "Microsoft.Quantum/workspaces",
    "Microsoft.Storage/storageAccounts",
    "Microsoft.Storage/storageAccounts/fileServices",
    "Microsoft.Storage/storageAccounts/blobServices",
    "Microsoft.Storage/storageAccounts/providers/roleAssignments",
    "Microsoft.Quantum/workspaces/providers/roleAssignments",
    "Microsoft.Authorization/roleAssignments",
    "Microsoft.Resources/deployments",
];
/// Most resources in one template level.
pub const MAX_RESOURCES: usize = 200;
/// Deepest nesting of deployments.
pub const MAX_NESTING: usize = 5;

/// A resource of a planned level.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedResource {
    /// Full type, e.g. `Microsoft.Storage/storageAccounts/fileServices`.
    pub resource_type: String,
    /// Full name, e.g. `qwsstore/default`.
    pub name: String,
    /// Resource id.
    pub id: String,
    /// The declaration (unevaluated, child `resources` removed).
    pub body: Value,
}

fn is_supported(t: &str) -> bool {
    SUPPORTED_TYPES.iter().any(|s| s.eq_ignore_ascii_case(t))
}

/// Static checks of a whole template (nested templates included), before anything is
/// deployed: its shape, the functions its expressions call, and its resource types.
pub fn validate(template: &Value) -> Result<(), TemplateError> {
    validate_at(template, 0)
}

fn validate_at(template: &Value, depth: usize) -> Result<(), TemplateError> {
    if depth > MAX_NESTING {
        return Err(TemplateError::invalid(format!(
            "Deployments are nested more than {MAX_NESTING} levels deep."
        )));
    }
    let t = template
        .as_object()
        .ok_or_else(|| TemplateError::invalid("The template must be a JSON object.".into()))?;
    for key in ["parameters", "variables", "outputs"] {
        if let Some(v) = t.get(key) {
            if !v.is_object() {
                return Err(TemplateError::invalid(format!(
                    "The template '{key}' must be a JSON object."
                )));
            }
        }
    }
    if let Some(f) = t.get("functions") {
        if f.as_array().is_some_and(|a| !a.is_empty()) {
            return Err(TemplateError::invalid(
                "User-defined template functions are not supported.".into(),
            ));
        }
    }
    check_functions(t.get("variables").unwrap_or(&Value::Null))?;
    check_functions(t.get("outputs").unwrap_or(&Value::Null))?;
    let resources = resources_of(t)?;
    for r in resources {
        validate_resource(r, None, depth)?;
    }
    Ok(())
}

fn resources_of(t: &Map<String, Value>) -> Result<&[Value], TemplateError> {
    let r = match t.get("resources") {
        None => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => {
            return Err(TemplateError::invalid(
                "The template 'resources' must be a JSON array.".into(),
            ))
        }
    };
    if r.len() > MAX_RESOURCES {
        return Err(TemplateError::invalid(format!(
            "A template level may hold at most {MAX_RESOURCES} resources."
        )));
    }
    Ok(r)
}

fn text<'a>(r: &'a Value, key: &str) -> &'a str {
    r.get(key).and_then(Value::as_str).unwrap_or("")
}

fn validate_resource(r: &Value, parent: Option<&str>, depth: usize) -> Result<(), TemplateError> {
    let name = text(r, "name");
    let declared = text(r, "type");
    let full_type = match parent {
        Some(p) if !declared.contains('.') => format!("{p}/{declared}"),
        _ => declared.to_string(),
    };
    let fail = |e: TemplateError| e.in_resource(name, &full_type);
    let Some(obj) = r.as_object() else {
        return Err(TemplateError::invalid(
            "Each template resource must be a JSON object.".into(),
        ));
    };
    if name.is_empty() || declared.is_empty() {
        return Err(fail(TemplateError::invalid(
            "A resource needs a 'name' and a 'type'.".into(),
        )));
    }
    if obj.contains_key("copy") {
        return Err(fail(TemplateError::invalid(
            "Resource iteration ('copy') is not supported.".into(),
        )));
    }
    let nested = full_type.eq_ignore_ascii_case("Microsoft.Resources/deployments");
    for (k, v) in obj {
        match (k.as_str(), v) {
            ("resources", _) => {}
            // A nested template is checked on its own below, so errors name its resources.
            ("properties", Value::Object(p)) if nested => {
                for (pk, pv) in p {
                    if pk != "template" {
                        check_functions(pv).map_err(fail)?;
                    }
                }
            }
            _ => check_functions(v).map_err(fail)?,
        }
    }
    // A type given by an expression is checked when the level is planned.
    if matches!(classify(declared), StringKind::Literal(_)) && !is_supported(&full_type) {
        return Err(fail(TemplateError::invalid(format!(
            "The resource type '{full_type}' is not supported by this server. Supported types: {}.",
            SUPPORTED_TYPES.join(", ")
        ))));
    }
    if nested {
        let props = r.get("properties").cloned().unwrap_or(Value::Null);
        if props.get("templateLink").is_some() {
            return Err(fail(TemplateError::invalid(
                "Linked templates ('templateLink') are not supported; embed the template.".into(),
            )));
        }
        let inner = props.get("template").ok_or_else(|| {
            fail(TemplateError::invalid(
                "A nested deployment needs 'properties.template'.".into(),
            ))
        })?;
        validate_at(inner, depth + 1).map_err(fail)?;
    }
    if let Some(children) = obj.get("resources") {
        let children = children.as_array().ok_or_else(|| {
            fail(TemplateError::invalid(
                "A resource's 'resources' must be a JSON array.".into(),
            ))
        })?;
        for c in children {
            validate_resource(c, Some(&full_type), depth)?;
        }
    }
    Ok(())
}

/// A resource with its `dependsOn` still to resolve.
struct Pending {
    res: PlannedResource,
    depends_on: Vec<String>,
    parent: Option<usize>,
}

/// Plans one template level: evaluates names, types, `condition` and `dependsOn`, flattens
/// child resources, and orders the resources by their dependencies (declaration order where
/// they are independent).
pub fn plan(resources: &[Value], scope: &Scope<'_>) -> Result<Vec<PlannedResource>, TemplateError> {
    let mut pending = Vec::new();
    for r in resources {
        flatten(r, None, scope, &mut pending)?;
    }
    let n = pending.len();
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n {
        let mut deps: Vec<usize> = pending[i].parent.into_iter().collect();
        for d in &pending[i].depends_on {
            let found: Vec<usize> = (0..n).filter(|&j| matches(&pending[j].res, d)).collect();
            if found.is_empty() {
                return Err(TemplateError::invalid(format!(
                    "The resource '{}' that '{}' depends on is not defined in the template.",
                    d.chars().take(300).collect::<String>(),
                    pending[i].res.name
                )));
            }
            deps.extend(found);
        }
        deps.retain(|&j| j != i);
        edges[i] = deps;
    }
    let order = topological(&edges).map_err(|cycle| {
        TemplateError::invalid(format!(
            "Circular dependency detected on resources: {}.",
            cycle
                .iter()
                .map(|&i| format!("'{}'", pending[i].res.id))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let mut slots: Vec<Option<PlannedResource>> =
        pending.into_iter().map(|p| Some(p.res)).collect();
    Ok(order
        .into_iter()
        .map(|i| slots[i].take().expect("each index once"))
        .collect())
}

fn matches(r: &PlannedResource, dep: &str) -> bool {
    let typed = format!("{}/{}", r.resource_type, r.name);
    dep.eq_ignore_ascii_case(&r.id)
        || dep.eq_ignore_ascii_case(&r.name)
        || dep.eq_ignore_ascii_case(&typed)
}

fn flatten(
    r: &Value,
    parent: Option<(usize, &str, &str)>,
    scope: &Scope<'_>,
    out: &mut Vec<Pending>,
) -> Result<(), TemplateError> {
    let raw_name = text(r, "name");
    let raw_type = text(r, "type");
    let in_resource = |e: TemplateError| e.in_resource(raw_name, raw_type);
    if let Some(c) = r.get("condition") {
        match scope.eval_value(c).map_err(in_resource)? {
            Value::Bool(true) => {}
            Value::Bool(false) => return Ok(()),
            _ => {
                return Err(in_resource(TemplateError::invalid(
                    "A resource 'condition' must be a boolean.".into(),
                )))
            }
        }
    }
    let declared_type = scope
        .eval_string(&r["type"], "resource type")
        .map_err(in_resource)?;
    let declared_name = scope
        .eval_string(&r["name"], "resource name")
        .map_err(in_resource)?;
    let (resource_type, name) = match parent {
        Some((_, ptype, pname)) if !declared_type.contains('.') => (
            format!("{ptype}/{declared_type}"),
            format!("{pname}/{declared_name}"),
        ),
        _ => (declared_type, declared_name),
    };
    let in_resource = |e: TemplateError| e.in_resource(&name, &resource_type);
    if !is_supported(&resource_type) {
        return Err(in_resource(TemplateError::invalid(format!(
            "The resource type '{resource_type}' is not supported by this server."
        ))));
    }
    let names: Vec<&str> = name.split('/').collect();
    let id = match r.get("scope") {
        Some(s) => {
            let s = scope
                .eval_string(s, "resource scope")
                .map_err(in_resource)?;
            format!(
                "{}/providers/{resource_type}/{name}",
                s.trim_end_matches('/')
            )
        }
        None => group_resource_id(
            &scope.subscription_id,
            &scope.resource_group,
            &resource_type,
            &names,
        )
        .map_err(in_resource)?,
    };
    let depends_on = match r.get("dependsOn") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|d| scope.eval_string(d, "dependsOn entry"))
            .collect::<Result<_, _>>()
            .map_err(in_resource)?,
        Some(_) => {
            return Err(in_resource(TemplateError::invalid(
                "'dependsOn' must be a JSON array.".into(),
            )))
        }
    };
    let mut body = r.clone();
    let children = body
        .as_object_mut()
        .and_then(|o| o.remove("resources"))
        .unwrap_or(Value::Null);
    let index = out.len();
    out.push(Pending {
        res: PlannedResource {
            resource_type: resource_type.clone(),
            name: name.clone(),
            id,
            body,
        },
        depends_on,
        parent: parent.map(|(i, _, _)| i),
    });
    if out.len() > MAX_RESOURCES {
        return Err(TemplateError::invalid(format!(
            "A template level may hold at most {MAX_RESOURCES} resources."
        )));
    }
    if let Value::Array(children) = children {
        for c in &children {
            flatten(c, Some((index, &resource_type, &name)), scope, out)?;
        }
    }
    Ok(())
}

/// Kahn's algorithm, taking the lowest ready index first (declaration order). `Err` holds the
/// resources on or behind a cycle.
fn topological(edges: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = edges.len();
    let mut remaining: Vec<usize> = edges.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, deps) in edges.iter().enumerate() {
        for &d in deps {
            dependents[d].push(i);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&i| remaining[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &j in &dependents[i] {
            remaining[j] -= 1;
            if remaining[j] == 0 {
                ready.insert(j);
            }
        }
    }
    if order.len() == n {
        Ok(order)
    } else {
        Err((0..n).filter(|&i| remaining[i] > 0).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::eval::References;
    use super::*;
    use serde_json::json;

    struct NoRefs;
    impl References for NoRefs {
        fn full_resource(&self, _: &str) -> Option<Value> {
            None
        }
    }

    fn scope(refs: &NoRefs) -> Scope<'_> {
        Scope {
            parameters: json!({"sa": "qwsstore", "saId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/qwsstore"})
                .as_object()
                .unwrap()
                .clone(),
            variables: Map::new(),
            subscription_id: "s".into(),
            resource_group: "rg".into(),
            resource_group_location: "eastus".into(),
            references: refs,
            steps: Default::default(),
        }
    }

    fn names(p: &[PlannedResource]) -> Vec<&str> {
        p.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn orders_by_dependencies_and_flattens_children() {
        let resources = json!([
            {"type": "Microsoft.Storage/storageAccounts/providers/roleAssignments", "name": "[concat(parameters('sa'), '/Microsoft.Authorization/r1')]",
             "dependsOn": ["[parameters('saId')]"]},
            {"type": "Microsoft.Resources/deployments", "name": "nested", "dependsOn": ["ws1"], "properties": {"template": {}}},
            {"type": "Microsoft.Storage/storageAccounts", "name": "[parameters('sa')]",
             "resources": [{"type": "fileServices", "name": "default", "dependsOn": ["[parameters('saId')]"]}]},
            {"type": "Microsoft.Quantum/workspaces", "name": "ws1", "dependsOn": ["Microsoft.Storage/storageAccounts/qwsstore"]},
        ]);
        let refs = NoRefs;
        let p = plan(resources.as_array().unwrap(), &scope(&refs)).unwrap();
        assert_eq!(
            names(&p),
            [
                "qwsstore",
                "qwsstore/Microsoft.Authorization/r1",
                "qwsstore/default",
                "ws1",
                "nested"
            ]
        );
        assert_eq!(
            p[2].resource_type,
            "Microsoft.Storage/storageAccounts/fileServices"
        );
        assert_eq!(p[2].id, "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/qwsstore/fileServices/default");
        assert_eq!(
            p[1].id,
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/qwsstore/providers/Microsoft.Authorization/roleAssignments/r1"
        );
        assert!(p[2].body.get("resources").is_none());
    }

    #[test]
    fn refuses_cycles_and_unknown_dependencies() {
        let refs = NoRefs;
        let cycle = json!([
            {"type": "Microsoft.Quantum/workspaces", "name": "a", "dependsOn": ["b"]},
            {"type": "Microsoft.Quantum/workspaces", "name": "b", "dependsOn": ["Microsoft.Quantum/workspaces/a"]},
            {"type": "Microsoft.Quantum/workspaces", "name": "c"},
        ]);
        let e = plan(cycle.as_array().unwrap(), &scope(&refs)).unwrap_err();
        assert_eq!(e.code, "InvalidTemplate");
        assert!(e.message.contains("Circular dependency"), "{}", e.message);
        assert!(e.message.contains("workspaces/a'") && e.message.contains("workspaces/b'"));
        assert!(!e.message.contains("workspaces/c'"));
        let unknown = json!([{"type": "Microsoft.Quantum/workspaces", "name": "a", "dependsOn": ["nothing"]}]);
        let e = plan(unknown.as_array().unwrap(), &scope(&refs)).unwrap_err();
        assert!(e.message.contains("'nothing'"), "{}", e.message);
    }

    #[test]
    fn conditions_skip_resources() {
        let refs = NoRefs;
        let r = json!([{"type": "Microsoft.Quantum/workspaces", "name": "a", "condition": "[false()]"},
                       {"type": "Microsoft.Quantum/workspaces", "name": "b", "condition": true}]);
        assert_eq!(
            names(&plan(r.as_array().unwrap(), &scope(&refs)).unwrap()),
            ["b"]
        );
    }

    #[test]
    fn validation_names_the_resource_the_type_and_the_function() {
        let e = validate(
            &json!({"resources": [{"type": "Microsoft.Compute/virtualMachines", "name": "vm1"}]}),
        )
        .unwrap_err();
        assert!(
            e.message.contains("'vm1'") && e.message.contains("Microsoft.Compute/virtualMachines"),
            "{}",
            e.message
        );
        let e = validate(&json!({"resources": [{"type": "Microsoft.Resources/deployments", "name": "inner",
            "properties": {"template": {"resources": [{"type": "Microsoft.Quantum/workspaces", "name": "ws",
            "location": "[uniqueString('x')]"}]}}}]})).unwrap_err();
        assert!(
            e.message.contains("'inner'")
                && e.message.contains("'ws'")
                && e.message.contains("'uniqueString'"),
            "{}",
            e.message
        );
        let e = validate(&json!({"resources": [{"type": "Microsoft.Quantum/workspaces", "name": "ws", "copy": {"count": 2}}]})).unwrap_err();
        assert!(e.message.contains("copy"));
        let e = validate(
            &json!({"resources": [{"type": "Microsoft.Storage/storageAccounts", "name": "sa",
            "resources": [{"type": "queueServices", "name": "default"}]}]}),
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("Microsoft.Storage/storageAccounts/queueServices"),
            "{}",
            e.message
        );
        assert!(validate(&json!("x")).is_err());
        assert!(validate(&json!({"resources": []})).is_ok());
    }
}

/// Binds a template's declared parameters into `scope.parameters`: the supplied value
/// (`{"value": …}`), else the declared `defaultValue` (evaluated, so it may use earlier
/// parameters or `resourceGroup()`), checked against the declared type and `allowedValues`. A
/// supplied parameter the template does not declare, or a missing one, is refused.
pub fn bind_parameters(
    template: &Value,
    supplied: &Map<String, Value>,
    scope: &mut Scope<'_>,
) -> Result<(), TemplateError> {
    let empty = Map::new();
    let declared = template
        .get("parameters")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if let Some(extra) = supplied
        .keys()
        .find(|k| !declared.keys().any(|d| d.eq_ignore_ascii_case(k)))
    {
        return Err(TemplateError::invalid(format!(
            "The template parameter '{extra}' is not valid: it is not declared in the template."
        )));
    }
    for (name, decl) in declared {
        let given = supplied
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v);
        let value = match given {
            Some(v) => match v.get("value") {
                Some(v) => v.clone(),
                None => {
                    return Err(TemplateError::invalid(format!(
                        "The parameter '{name}' must be given as {{\"value\": …}} (Key Vault references are not supported)."
                    )))
                }
            },
            None => match decl.get("defaultValue") {
                Some(d) => scope.eval_value(d)?,
                None => {
                    return Err(TemplateError::invalid(format!(
                        "The value for the template parameter '{name}' is not provided."
                    )))
                }
            },
        };
        let declared_type = decl.get("type").and_then(Value::as_str).unwrap_or("");
        let fits = match declared_type.to_ascii_lowercase().as_str() {
            "string" | "securestring" => value.is_string(),
            "int" => value.is_i64() || value.is_u64(),
            "bool" => value.is_boolean(),
            "object" | "secureobject" => value.is_object(),
            "array" => value.is_array(),
            _ => {
                return Err(TemplateError::invalid(format!(
                    "The template parameter '{name}' has an unknown type '{declared_type}'."
                )))
            }
        };
        if !fits {
            return Err(TemplateError::invalid(format!(
                "The value of the template parameter '{name}' is not of the declared type '{declared_type}'."
            )));
        }
        if let Some(Value::Array(allowed)) = decl.get("allowedValues") {
            if !allowed.contains(&value) {
                return Err(TemplateError::invalid(format!(
                    "The value of the template parameter '{name}' is not one of its allowed values."
                )));
            }
        }
        scope.parameters.insert(name.clone(), value);
    }
    Ok(())
}

#[cfg(test)]
mod parameter_tests {
    use super::super::eval::References;
    use super::*;
    use serde_json::json;

    struct NoRefs;
    impl References for NoRefs {
        fn full_resource(&self, _: &str) -> Option<Value> {
            None
        }
    }

    fn bind(template: Value, supplied: Value) -> Result<Map<String, Value>, TemplateError> {
        let refs = NoRefs;
        let mut scope = Scope {
            parameters: Map::new(),
            variables: Map::new(),
            subscription_id: "s".into(),
            resource_group: "rg".into(),
            resource_group_location: "westus".into(),
            references: &refs,
            steps: Default::default(),
        };
        bind_parameters(&template, supplied.as_object().unwrap(), &mut scope)?;
        Ok(scope.parameters)
    }

    #[test]
    fn binds_supplied_and_default_values() {
        let t = json!({"parameters": {
            "name": {"type": "string"},
            "loc": {"type": "string", "defaultValue": "[resourceGroup().location]"},
            "tags": {"type": "object", "defaultValue": {}},
            "shared": {"type": "bool", "defaultValue": false},
        }});
        let p = bind(
            t.clone(),
            json!({"NAME": {"value": "ws"}, "shared": {"value": true}}),
        )
        .unwrap();
        assert_eq!(
            Value::Object(p),
            json!({"name": "ws", "loc": "westus", "tags": {}, "shared": true})
        );
        assert!(bind(t.clone(), json!({}))
            .unwrap_err()
            .message
            .contains("'name' is not provided"));
        assert!(bind(t.clone(), json!({"name": {"value": 1}}))
            .unwrap_err()
            .message
            .contains("declared type 'string'"));
        assert!(bind(
            t.clone(),
            json!({"name": {"value": "a"}, "other": {"value": 1}})
        )
        .unwrap_err()
        .message
        .contains("'other'"));
        assert!(bind(t, json!({"name": "bare"})).is_err());
        let allowed = json!({"parameters": {"sku": {"type": "string", "allowedValues": ["A"]}}});
        assert!(bind(allowed, json!({"sku": {"value": "B"}})).is_err());
    }
}
