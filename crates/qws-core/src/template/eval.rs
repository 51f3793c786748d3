//! Evaluation of template expressions against a deployment's scope ([`Scope`]): parameters,
//! variables, the target resource group, and the resources deployed so far (for `reference`).
//!
//! Functions: `parameters`, `variables`, `concat`, `guid`, `resourceId`, `reference` (with
//! `'Full'`), `resourceGroup`, `subscription`, `toLower`, `toUpper`, `string`, `true`, `false`.
//! Any other function is refused by name ([`SUPPORTED_FUNCTIONS`], [`check_functions`]).

use super::expr::{self, classify, Expr, StringKind};
use super::TemplateError;
use serde_json::{Map, Value};

/// The functions evaluated (lower case).
pub const SUPPORTED_FUNCTIONS: &[&str] = &[
    "parameters",
    "variables",
    "concat",
    "guid",
    "resourceid",
    "reference",
    "resourcegroup",
    "subscription",
    "tolower",
    "toupper",
    "string",
    "true",
    "false",
];

/// Namespace of the name-based UUIDs `guid()` returns (fixed, so equal arguments give equal
/// GUIDs on every run and every server).
const GUID_NAMESPACE: uuid::Uuid = uuid::uuid!("11fb06fb-712d-4ddd-98c7-e71bbd588830");
/// How deep variables may refer to variables.
const MAX_VARIABLE_DEPTH: usize = 32;
/// Most function calls one scope evaluates (variables referring to variables twice over could
/// otherwise take exponential time).
pub const MAX_STEPS: u32 = 100_000;
/// Longest string or array an expression may build.
pub const MAX_VALUE_LEN: usize = 1024 * 1024;

/// Resources that `reference()` can read: the deployment's view of existing resources.
pub trait References {
    /// The resource with this id, in its full ARM representation (`id`, `name`, `type`,
    /// `location`, `identity`, `properties`, …); `None` if it does not exist.
    fn full_resource(&self, id: &str) -> Option<Value>;
}

/// Everything an expression can see.
pub struct Scope<'a> {
    /// Parameter values (declared parameters with their supplied or default values).
    pub parameters: Map<String, Value>,
    /// Variable definitions (evaluated on use).
    pub variables: Map<String, Value>,
    /// Target subscription id.
    pub subscription_id: String,
    /// Target resource group name.
    pub resource_group: String,
    /// Target resource group location.
    pub resource_group_location: String,
    /// Existing resources.
    pub references: &'a dyn References,
    /// Function calls evaluated so far (bounded by [`MAX_STEPS`]); start at `Default::default()`.
    pub steps: std::cell::Cell<u32>,
}

/// Checks that every expression in `v` parses and calls only supported functions; the error
/// names the function (or the parse problem).
pub fn check_functions(v: &Value) -> Result<(), TemplateError> {
    match v {
        Value::String(s) => {
            if let StringKind::Expression(text) = classify(s) {
                let e = expr::parse(text)?;
                let mut names = Vec::new();
                expr::functions(&e, &mut names);
                if let Some(bad) = names
                    .iter()
                    .find(|n| !SUPPORTED_FUNCTIONS.contains(&n.to_ascii_lowercase().as_str()))
                {
                    return Err(unknown_function(bad));
                }
            }
            Ok(())
        }
        Value::Array(a) => a.iter().try_for_each(check_functions),
        Value::Object(o) => o.values().try_for_each(check_functions),
        _ => Ok(()),
    }
}

fn too_long(fname: &str) -> TemplateError {
    TemplateError::invalid(format!(
        "The template function '{fname}' would build a value longer than {MAX_VALUE_LEN} bytes."
    ))
}

fn unknown_function(name: &str) -> TemplateError {
    TemplateError::invalid(format!(
        "The template function '{}' is not valid. Supported functions: parameters, variables, concat, guid, resourceId, reference, resourceGroup, subscription, toLower, toUpper, string, true, false.",
        name.chars().take(64).collect::<String>()
    ))
}

impl Scope<'_> {
    /// Evaluates every expression inside a JSON value (objects and arrays recursively).
    pub fn eval_value(&self, v: &Value) -> Result<Value, TemplateError> {
        self.eval_value_at(v, 0)
    }

    fn eval_value_at(&self, v: &Value, depth: usize) -> Result<Value, TemplateError> {
        Ok(match v {
            Value::String(s) => match classify(s) {
                StringKind::Literal(l) => Value::String(l.into_owned()),
                StringKind::Expression(text) => self.eval(&expr::parse(text)?, depth)?,
            },
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.eval_value_at(x, depth))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| Ok((k.clone(), self.eval_value_at(x, depth)?)))
                    .collect::<Result<_, TemplateError>>()?,
            ),
            other => other.clone(),
        })
    }

    /// Evaluates a string field that must produce a string (names, types, dependsOn entries).
    pub fn eval_string(&self, v: &Value, what: &str) -> Result<String, TemplateError> {
        match self.eval_value(v)? {
            Value::String(s) => Ok(s),
            other => Err(TemplateError::invalid(format!(
                "The {what} must be a string, not {}.",
                type_name(&other)
            ))),
        }
    }

    /// The id of a resource of `resource_type` named `names` (one name per type segment) in
    /// the target resource group.
    pub fn resource_id(
        &self,
        resource_type: &str,
        names: &[&str],
    ) -> Result<String, TemplateError> {
        group_resource_id(
            &self.subscription_id,
            &self.resource_group,
            resource_type,
            names,
        )
    }

    fn eval(&self, e: &Expr, depth: usize) -> Result<Value, TemplateError> {
        match e {
            Expr::Str(s) => Ok(Value::String(s.clone())),
            Expr::Int(i) => Ok(Value::from(*i)),
            Expr::Member(inner, prop) => {
                let v = self.eval(inner, depth)?;
                member(&v, prop)
            }
            Expr::Index(inner, index) => {
                let v = self.eval(inner, depth)?;
                match (&v, self.eval(index, depth)?) {
                    (Value::Array(a), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|i| a.get(i as usize))
                        .cloned()
                        .ok_or_else(|| {
                            TemplateError::invalid(format!(
                                "The array index '{n}' is out of bounds."
                            ))
                        }),
                    (_, Value::String(s)) => member(&v, &s),
                    _ => Err(TemplateError::invalid(
                        "An index must be a number (arrays) or a string (objects).".into(),
                    )),
                }
            }
            Expr::Call { name, args } => self.call(name, args, depth),
        }
    }

    fn strings(
        &self,
        fname: &str,
        args: &[Expr],
        depth: usize,
    ) -> Result<Vec<String>, TemplateError> {
        args.iter()
            .map(|a| match self.eval(a, depth)? {
                Value::String(s) => Ok(s),
                other => Err(TemplateError::invalid(format!(
                    "The template function '{fname}' expects string arguments, not {}.",
                    type_name(&other)
                ))),
            })
            .collect()
    }

    fn call(&self, name: &str, args: &[Expr], depth: usize) -> Result<Value, TemplateError> {
        let steps = self.steps.get() + 1;
        if steps > MAX_STEPS {
            return Err(TemplateError::invalid(format!(
                "The template takes more than {MAX_STEPS} function calls to evaluate."
            )));
        }
        self.steps.set(steps);
        let arity = |min: usize, max: usize| {
            if args.len() < min || args.len() > max {
                Err(TemplateError::invalid(format!(
                    "The template function '{name}' takes {} argument(s), not {}.",
                    if min == max {
                        min.to_string()
                    } else {
                        format!("{min} to {max}")
                    },
                    args.len()
                )))
            } else {
                Ok(())
            }
        };
        match name.to_ascii_lowercase().as_str() {
            "parameters" => {
                arity(1, 1)?;
                let [p] = <[String; 1]>::try_from(self.strings(name, args, depth)?).expect("arity");
                lookup(&self.parameters, &p).cloned().ok_or_else(|| {
                    TemplateError::invalid(format!("The template parameter '{p}' is not found."))
                })
            }
            "variables" => {
                arity(1, 1)?;
                let [v] = <[String; 1]>::try_from(self.strings(name, args, depth)?).expect("arity");
                if depth >= MAX_VARIABLE_DEPTH {
                    return Err(TemplateError::invalid(format!(
                        "The template variable '{v}' refers to itself, or variables refer to variables more than {MAX_VARIABLE_DEPTH} levels deep."
                    )));
                }
                let def = lookup(&self.variables, &v).ok_or_else(|| {
                    TemplateError::invalid(format!("The template variable '{v}' is not found."))
                })?;
                self.eval_value_at(def, depth + 1)
            }
            "concat" => {
                let vals: Vec<Value> = args
                    .iter()
                    .map(|a| self.eval(a, depth))
                    .collect::<Result<_, _>>()?;
                if !vals.is_empty() && vals.iter().all(Value::is_array) {
                    let len: usize = vals.iter().filter_map(Value::as_array).map(Vec::len).sum();
                    if len > MAX_VALUE_LEN / 64 {
                        return Err(too_long(name));
                    }
                    return Ok(Value::Array(
                        vals.into_iter()
                            .flat_map(|v| match v {
                                Value::Array(a) => a,
                                _ => unreachable!("checked"),
                            })
                            .collect(),
                    ));
                }
                let mut out = String::new();
                for v in &vals {
                    out.push_str(&as_text(v, name)?);
                    if out.len() > MAX_VALUE_LEN {
                        return Err(too_long(name));
                    }
                }
                Ok(Value::String(out))
            }
            "guid" => {
                if args.is_empty() {
                    arity(1, usize::MAX)?;
                }
                let parts = self.strings(name, args, depth)?;
                Ok(Value::String(guid(&parts)))
            }
            "resourceid" => {
                let parts = self.strings(name, args, depth)?;
                let Some(t) = parts.iter().position(|p| is_type(p)) else {
                    return Err(TemplateError::invalid(
                        "The template function 'resourceId' needs a resource type of the form 'Namespace/type'.".into(),
                    ));
                };
                let (sub, rg) = match t {
                    0 => (self.subscription_id.as_str(), self.resource_group.as_str()),
                    1 => (self.subscription_id.as_str(), parts[0].as_str()),
                    2 => (parts[0].as_str(), parts[1].as_str()),
                    _ => {
                        return Err(TemplateError::invalid(
                            "The template function 'resourceId' takes at most a subscription id and a resource group name before the type.".into(),
                        ))
                    }
                };
                let names: Vec<&str> = parts[t + 1..].iter().map(String::as_str).collect();
                Ok(Value::String(group_resource_id(
                    sub, rg, &parts[t], &names,
                )?))
            }
            "reference" => {
                arity(1, 3)?;
                let parts = self.strings(name, args, depth)?;
                let full = parts.get(2).is_some_and(|f| f.eq_ignore_ascii_case("Full"));
                let id = self.reference_id(&parts[0])?;
                let resource = self.references.full_resource(&id).ok_or_else(|| {
                    TemplateError::invalid(format!(
                        "The resource '{id}' referenced by the template function 'reference' does not exist."
                    ))
                })?;
                if full {
                    Ok(resource)
                } else {
                    Ok(resource.get("properties").cloned().unwrap_or(Value::Null))
                }
            }
            "resourcegroup" => {
                arity(0, 0)?;
                Ok(serde_json::json!({
                    "id": format!("/subscriptions/{}/resourceGroups/{}", self.subscription_id, self.resource_group),
                    "name": self.resource_group,
                    "type": "Microsoft.Resources/resourceGroups",
                    "location": self.resource_group_location,
                    "properties": {"provisioningState": "Succeeded"},
                }))
            }
            "subscription" => {
                arity(0, 0)?;
                Ok(serde_json::json!({
                    "id": format!("/subscriptions/{}", self.subscription_id),
                    "subscriptionId": self.subscription_id,
                }))
            }
            "tolower" | "toupper" => {
                arity(1, 1)?;
                let [s] = <[String; 1]>::try_from(self.strings(name, args, depth)?).expect("arity");
                Ok(Value::String(if name.eq_ignore_ascii_case("toLower") {
                    s.to_lowercase()
                } else {
                    s.to_uppercase()
                }))
            }
            "string" => {
                arity(1, 1)?;
                let v = self.eval(&args[0], depth)?;
                Ok(Value::String(match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                }))
            }
            "true" => arity(0, 0).map(|_| Value::Bool(true)),
            "false" => arity(0, 0).map(|_| Value::Bool(false)),
            _ => Err(unknown_function(name)),
        }
    }

    /// The id `reference()`'s first argument names: a full id, or `Namespace/type/name` in the
    /// target resource group.
    fn reference_id(&self, r: &str) -> Result<String, TemplateError> {
        if r.starts_with('/') {
            return Ok(r.to_string());
        }
        let segs: Vec<&str> = r.split('/').collect();
        if segs.len() >= 3 && segs.len() % 2 == 1 {
            let types: Vec<&str> = std::iter::once(segs[0])
                .chain(segs[1..].iter().step_by(2).copied())
                .collect();
            let names: Vec<&str> = segs[2..].iter().step_by(2).copied().collect();
            return self.resource_id(&types.join("/"), &names);
        }
        Err(TemplateError::invalid(format!(
            "The template function 'reference' needs a resource id or 'Namespace/type/name', not '{}'.",
            r.chars().take(200).collect::<String>()
        )))
    }
}

/// `/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{t1}/{n1}[/{t2}/{n2}…]`; the number
/// of names must match the number of type segments after the namespace.
pub fn group_resource_id(
    sub: &str,
    rg: &str,
    resource_type: &str,
    names: &[&str],
) -> Result<String, TemplateError> {
    let mut segs = resource_type.split('/');
    let ns = segs.next().unwrap_or("");
    let types: Vec<&str> = segs.collect();
    if ns.is_empty() || types.is_empty() || types.iter().any(|t| t.is_empty()) {
        return Err(TemplateError::invalid(format!(
            "'{}' is not a resource type of the form 'Namespace/type'.",
            resource_type.chars().take(200).collect::<String>()
        )));
    }
    if types.len() != names.len() || names.iter().any(|n| n.is_empty()) {
        return Err(TemplateError::invalid(format!(
            "The resource type '{resource_type}' needs {} name segment(s), but {} were given ('{}').",
            types.len(),
            names.len(),
            names.join("/").chars().take(200).collect::<String>()
        )));
    }
    let path: Vec<String> = types
        .iter()
        .zip(names)
        .map(|(t, n)| format!("{t}/{n}"))
        .collect();
    Ok(format!(
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{}",
        path.join("/")
    ))
}

/// A name-based GUID of the arguments (ARM's `guid`): deterministic, so a re-run of a
/// deployment names the same resources.
pub fn guid(parts: &[String]) -> String {
    let name = parts.join("-");
    let mut data = GUID_NAMESPACE.as_bytes().to_vec();
    data.extend_from_slice(name.as_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &data);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_sha1_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// True for `Namespace/type[/type…]` (a namespace has a dot: `Microsoft.Storage`).
fn is_type(s: &str) -> bool {
    s.split_once('/')
        .is_some_and(|(ns, rest)| ns.contains('.') && !rest.is_empty() && !s.starts_with('/'))
}

/// Case-insensitive key lookup (ARM property names are case-insensitive).
fn lookup<'m>(m: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    m.get(key).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn member(v: &Value, prop: &str) -> Result<Value, TemplateError> {
    match v {
        Value::Object(o) => lookup(o, prop).cloned().ok_or_else(|| {
            TemplateError::invalid(format!(
                "The language expression property '{prop}' doesn't exist, available properties are '{}'.",
                o.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        }),
        other => Err(TemplateError::invalid(format!(
            "The language expression property '{prop}' cannot be read from {}.",
            type_name(other)
        ))),
    }
}

fn as_text(v: &Value, fname: &str) -> Result<String, TemplateError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(TemplateError::invalid(format!(
            "The template function '{fname}' cannot join {} with strings.",
            type_name(other)
        ))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Existing(Vec<Value>);
    impl References for Existing {
        fn full_resource(&self, id: &str) -> Option<Value> {
            self.0
                .iter()
                .find(|r| r["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
                .cloned()
        }
    }

    const SUB: &str = "00000000-0000-0000-0000-000000000001";
    const WS_ID: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Quantum/Workspaces/ws1";

    fn scope(refs: &Existing) -> Scope<'_> {
        Scope {
            parameters: json!({"name": "ws1", "n": 3, "list": ["a"], "obj": {"K": "v"}})
                .as_object()
                .unwrap()
                .clone(),
            variables: json!({"role": "17d1049b", "twice": "[concat(variables('role'), '-', variables('role'))]", "loop": "[variables('loop')]"})
                .as_object()
                .unwrap()
                .clone(),
            subscription_id: SUB.into(),
            resource_group: "rg".into(),
            resource_group_location: "eastus".into(),
            references: refs,
            steps: Default::default(),
        }
    }

    fn ev(s: &Scope<'_>, text: &str) -> Result<Value, TemplateError> {
        s.eval_value(&json!(text))
    }

    #[test]
    fn parameters_and_variables() {
        let refs = Existing(vec![]);
        let s = scope(&refs);
        assert_eq!(ev(&s, "[parameters('name')]").unwrap(), json!("ws1"));
        assert_eq!(
            ev(&s, "[parameters('NAME')]").unwrap(),
            json!("ws1"),
            "case-insensitive"
        );
        assert_eq!(ev(&s, "[parameters('obj').k]").unwrap(), json!("v"));
        assert_eq!(
            ev(&s, "[variables('twice')]").unwrap(),
            json!("17d1049b-17d1049b")
        );
        assert!(ev(&s, "[parameters('missing')]")
            .unwrap_err()
            .message
            .contains("'missing' is not found"));
        assert!(ev(&s, "[variables('loop')]")
            .unwrap_err()
            .message
            .contains("refers to itself"));
        assert_eq!(ev(&s, "[[literal]").unwrap(), json!("[literal]"));
        assert_eq!(
            s.eval_value(&json!({"a": ["[parameters('n')]"]})).unwrap(),
            json!({"a": [3]})
        );
    }

    #[test]
    fn concat_strings_numbers_and_arrays() {
        let refs = Existing(vec![]);
        let s = scope(&refs);
        assert_eq!(
            ev(&s, "[concat('a', parameters('n'), 'b')]").unwrap(),
            json!("a3b")
        );
        assert_eq!(
            ev(&s, "[concat(parameters('list'), parameters('list'))]").unwrap(),
            json!(["a", "a"])
        );
        assert!(ev(&s, "[concat('a', parameters('obj'))]").is_err());
    }

    #[test]
    fn guid_is_deterministic_and_depends_on_every_argument() {
        let refs = Existing(vec![]);
        let s = scope(&refs);
        let a = ev(&s, "[guid('x', 'y')]").unwrap();
        assert_eq!(a, ev(&s, "[guid('x', 'y')]").unwrap());
        assert_ne!(a, ev(&s, "[guid('x', 'z')]").unwrap());
        let text = a.as_str().unwrap();
        let u = uuid::Uuid::parse_str(text).unwrap();
        assert_eq!((u.get_version_num(), text.len()), (5, 36));
    }

    #[test]
    fn resource_ids() {
        let refs = Existing(vec![]);
        let s = scope(&refs);
        assert_eq!(
            ev(
                &s,
                "[resourceId('Microsoft.Quantum/Workspaces', parameters('name'))]"
            )
            .unwrap(),
            json!(WS_ID)
        );
        assert_eq!(
            ev(&s, "[resourceId('other', 'Microsoft.Storage/storageAccounts/fileServices', 'sa', 'default')]").unwrap(),
            json!(format!("/subscriptions/{SUB}/resourceGroups/other/providers/Microsoft.Storage/storageAccounts/sa/fileServices/default"))
        );
        assert!(ev(
            &s,
            "[resourceId('Microsoft.Storage/storageAccounts/fileServices', 'sa')]"
        )
        .is_err());
        assert!(ev(&s, "[resourceId('noType', 'x')]").is_err());
    }

    #[test]
    fn reference_reads_existing_resources() {
        let refs = Existing(vec![
            json!({"id": WS_ID, "identity": {"principalId": "p-1"}, "properties": {"usable": "Yes"}}),
        ]);
        let s = scope(&refs);
        assert_eq!(
            ev(&s, "[reference(concat('Microsoft.Quantum/Workspaces/', parameters('name')), '2025-12-15-preview', 'Full').identity.principalId]").unwrap(),
            json!("p-1")
        );
        assert_eq!(
            ev(&s, &format!("[reference('{WS_ID}').usable]")).unwrap(),
            json!("Yes")
        );
        let e = ev(
            &s,
            "[reference('Microsoft.Quantum/Workspaces/nope', '2025-12-15-preview', 'Full')]",
        )
        .unwrap_err();
        assert!(e.message.contains("does not exist"), "{}", e.message);
        assert!(ev(
            &s,
            "[reference('Microsoft.Quantum/Workspaces/ws1', '1', 'Full').nothing]"
        )
        .is_err());
    }

    #[test]
    fn other_functions() {
        let refs = Existing(vec![]);
        let s = scope(&refs);
        assert_eq!(
            ev(&s, "[resourceGroup().location]").unwrap(),
            json!("eastus")
        );
        assert_eq!(
            ev(&s, "[subscription().subscriptionId]").unwrap(),
            json!(SUB)
        );
        assert_eq!(ev(&s, "[toUpper(toLower('aB'))]").unwrap(), json!("AB"));
        assert_eq!(ev(&s, "[string(parameters('n'))]").unwrap(), json!("3"));
        assert_eq!(ev(&s, "[true()]").unwrap(), json!(true));
        assert_eq!(ev(&s, "[parameters('list')[0]]").unwrap(), json!("a"));
    }

    #[test]
    fn runaway_evaluation_is_bounded() {
        let refs = Existing(vec![]);
        let mut s = scope(&refs);
        // Each variable uses the previous one twice: 2^30 calls without a bound.
        let mut vars = serde_json::Map::new();
        vars.insert("v0".into(), json!("x"));
        for i in 1..=30 {
            vars.insert(
                format!("v{i}"),
                json!(format!(
                    "[concat(variables('v{}'), variables('v{}'))]",
                    i - 1,
                    i - 1
                )),
            );
        }
        s.variables = vars;
        let e = ev(&s, "[variables('v30')]").unwrap_err();
        assert!(
            e.message.contains("function calls") || e.message.contains("longer than"),
            "{}",
            e.message
        );
    }

    #[test]
    fn unknown_functions_are_refused_by_name() {
        let refs = Existing(vec![]);
        let s = scope(&refs);
        let e = ev(&s, "[uniqueString('x')]").unwrap_err();
        assert_eq!(e.code, "InvalidTemplate");
        assert!(
            e.message.contains("'uniqueString' is not valid"),
            "{}",
            e.message
        );
        let e = check_functions(&json!({"a": ["[concat('x', listKeys('y', '1'))]"]})).unwrap_err();
        assert!(e.message.contains("'listKeys'"), "{}", e.message);
        assert!(check_functions(
            &json!({"a": "[concat('x', parameters('y'))]", "b": "[[notAnExpression()]"})
        )
        .is_ok());
    }
}
