use super::*;
use crate::crypto::Crypto;
use crate::store::{Actor, Principal, SubscriptionRecord, WorkspaceSpec};
use qws_core::models::Tags;
use qws_core::names::SubscriptionId;
use qws_core::rbac::actions::*;
use qws_core::rbac::builtin::*;
use qws_core::rbac::{ActionKind, PrincipalType, RoleDefinition, Scope};

const T0: i64 = 1_800_000_000;
const TENANT: &str = "tenant-1";
const PASSWORD: &str = "Correct-Horse-1";

struct Fx {
    dir: tempfile::TempDir,
    store: Store,
    sub: SubscriptionId,
}

impl Fx {
    fn id(&self) -> Identity<'_> {
        self.store.identity_at(T0)
    }

    fn sub_scope(&self) -> Scope {
        Scope::subscription(&self.sub)
    }

    fn rg_scope(&self, rg: &str) -> Scope {
        Scope::parse(&format!("/subscriptions/{}/resourceGroups/{rg}", self.sub)).unwrap()
    }

    fn ws_scope(&self, rg: &str, ws: &str) -> Scope {
        Scope::parse(&format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Quantum/Workspaces/{ws}",
            self.sub
        ))
        .unwrap()
    }

    fn assign(&self, role: &str, principal: &str, scope: &Scope) -> qws_core::rbac::RoleAssignment {
        self.id()
            .put_role_assignment(AssignmentRequest {
                name: &uuid::Uuid::new_v4().to_string(),
                scope,
                role_definition_id: role,
                principal_id: principal,
                principal_type: None,
                description: None,
                actor: Some("tester"),
            })
            .unwrap()
            .0
    }

    fn allowed(&self, principal: &str, action: &str, kind: ActionKind, scope: &Scope) -> bool {
        self.id()
            .check_access(principal, action, kind, scope)
            .unwrap()
            .allowed
    }

    fn user(&self, upn: &str) -> User {
        self.id()
            .create_user(NewUser {
                tenant_id: TENANT,
                user_principal_name: upn,
                display_name: "Someone",
                password: PASSWORD,
            })
            .unwrap()
    }

    /// Raw bytes of the database and its WAL, to prove secrets never reach the disk.
    fn disk_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in ["qws.db", "qws.db-wal"] {
            if let Ok(b) = std::fs::read(self.dir.path().join(f)) {
                out.extend(b);
            }
        }
        out
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn fx() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Crypto::from_master_key(&[7; 32])).unwrap();
    let sub = SubscriptionId::from_uuid(uuid::Uuid::new_v4());
    store
        .create_subscription(&SubscriptionRecord {
            id: sub,
            tenant_id: TENANT.into(),
            display_name: "s".into(),
        })
        .unwrap();
    for rg in ["rg", "rg_1", "rgx1", "rg10"] {
        store
            .put_resource_group(
                &qws_core::resource_id::ResourceGroupId::parse(&sub.to_string(), rg).unwrap(),
                "eastus",
                &Tags::new(),
            )
            .unwrap();
    }
    Fx { dir, store, sub }
}

fn spec(identity: bool) -> WorkspaceSpec {
    WorkspaceSpec {
        location: "eastus".into(),
        tags: Tags::new(),
        providers: vec![],
        storage_account: None,
        identity_type: identity.then(|| "SystemAssigned".into()),
        api_key_enabled: true,
        workspace_kind: "V1".into(),
    }
}

fn actor() -> Actor {
    Actor {
        name: "tester".into(),
        kind: "Application".into(),
    }
}

// ---- users ------------------------------------------------------------------------------

#[test]
fn users_are_unique_per_tenant_and_passwords_hashed_with_argon2id() {
    let f = fx();
    let u = f.user("Alice@Contoso.example");
    assert_eq!(u.user_principal_name, "Alice@Contoso.example");
    assert!(u.enabled && u.locked_until.is_none());
    let again = f.id().create_user(NewUser {
        tenant_id: TENANT,
        user_principal_name: "alice@contoso.EXAMPLE",
        display_name: "Other",
        password: PASSWORD,
    });
    assert!(matches!(again, Err(IdentityError::UpnTaken(_))));
    // Another tenant may use the same name.
    f.id()
        .create_user(NewUser {
            tenant_id: "tenant-2",
            user_principal_name: "alice@contoso.example",
            display_name: "Alice 2",
            password: PASSWORD,
        })
        .unwrap();
    let bob = f.user("bob@contoso.example");
    let hashes: Vec<String> = {
        let conn = f.store.conn();
        let mut st = conn
            .prepare("SELECT password_hash FROM id_users WHERE tenant_id = ?1")
            .unwrap();
        st.query_map([TENANT], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(hashes.len(), 2);
    for h in &hashes {
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
    }
    assert_ne!(hashes[0], hashes[1], "same password, different salts");
    assert!(!contains(&f.disk_bytes(), PASSWORD));
    assert_eq!(
        f.id()
            .user_by_upn(TENANT, "BOB@contoso.example")
            .unwrap()
            .unwrap()
            .object_id,
        bob.object_id
    );
    assert_eq!(f.id().list_users(TENANT).unwrap().len(), 2);
}

#[test]
fn user_input_is_validated() {
    let f = fx();
    let mk = |upn: &str, pw: &str| {
        f.id().create_user(NewUser {
            tenant_id: TENANT,
            user_principal_name: upn,
            display_name: "x",
            password: pw,
        })
    };
    assert!(matches!(
        mk("no-at-sign", PASSWORD),
        Err(IdentityError::Invalid(_))
    ));
    assert!(matches!(
        mk("a b@c.example", PASSWORD),
        Err(IdentityError::Invalid(_))
    ));
    assert!(matches!(
        mk("a@c..example", PASSWORD),
        Err(IdentityError::Invalid(_))
    ));
    assert!(matches!(
        mk("a@c.example", "short"),
        Err(IdentityError::Password(PasswordError::Length))
    ));
    assert!(matches!(
        mk("a@c.example", "onlylowercase"),
        Err(IdentityError::Password(PasswordError::Complexity))
    ));
    assert!(f.id().list_users(TENANT).unwrap().is_empty());
    let dbg = format!(
        "{:?}",
        NewUser {
            tenant_id: TENANT,
            user_principal_name: "a@b.c",
            display_name: "d",
            password: PASSWORD
        }
    );
    assert!(!dbg.contains(PASSWORD));
}

#[test]
fn sign_in_checks_password_case_insensitive_name_and_enabled_flag() {
    let f = fx();
    let u = f.user("carol@contoso.example");
    match f
        .id()
        .sign_in(TENANT, "CAROL@contoso.example", PASSWORD)
        .unwrap()
    {
        SignIn::Success(got) => assert_eq!(got.object_id, u.object_id),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        f.id()
            .sign_in(TENANT, "carol@contoso.example", "Wrong-Horse-1")
            .unwrap(),
        SignIn::InvalidCredentials
    );
    assert_eq!(
        f.id()
            .sign_in(TENANT, "nobody@contoso.example", PASSWORD)
            .unwrap(),
        SignIn::InvalidCredentials
    );
    assert_eq!(
        f.id()
            .sign_in("tenant-2", "carol@contoso.example", PASSWORD)
            .unwrap(),
        SignIn::InvalidCredentials
    );
    f.id().set_enabled(&u.object_id, false).unwrap();
    // A disabled account is only reported as such to someone who knows the password.
    assert_eq!(
        f.id()
            .sign_in(TENANT, "carol@contoso.example", "Wrong-Horse-1")
            .unwrap(),
        SignIn::InvalidCredentials
    );
    assert_eq!(
        f.id()
            .sign_in(TENANT, "carol@contoso.example", PASSWORD)
            .unwrap(),
        SignIn::Disabled
    );
    f.id().set_enabled(&u.object_id, true).unwrap();
    assert!(matches!(
        f.id()
            .sign_in(TENANT, "carol@contoso.example", PASSWORD)
            .unwrap(),
        SignIn::Success(_)
    ));
}

#[test]
fn failed_sign_ins_lock_the_account_with_exponential_backoff() {
    let f = fx();
    let u = f.user("dave@contoso.example");
    let policy = LockoutPolicy {
        threshold: 3,
        base_secs: 60,
        max_secs: 600,
    };
    let at = |t: i64| f.store.identity_at(t).with_lockout(policy);
    let upn = "dave@contoso.example";
    for _ in 0..2 {
        assert_eq!(
            at(T0).sign_in(TENANT, upn, "Wrong-Horse-1").unwrap(),
            SignIn::InvalidCredentials
        );
    }
    assert_eq!(
        f.id().user(&u.object_id).unwrap().unwrap().locked_until,
        None
    );
    assert_eq!(
        at(T0).sign_in(TENANT, upn, "Wrong-Horse-1").unwrap(),
        SignIn::InvalidCredentials
    );
    // Third failure: locked for 60 s; even the right password is refused, and does not count.
    assert_eq!(
        at(T0 + 1).sign_in(TENANT, upn, PASSWORD).unwrap(),
        SignIn::LockedOut { until: T0 + 60 }
    );
    assert_eq!(
        at(T0 + 59).sign_in(TENANT, upn, "Wrong-Horse-1").unwrap(),
        SignIn::LockedOut { until: T0 + 60 }
    );
    assert_eq!(
        f.id().user(&u.object_id).unwrap().unwrap().failed_sign_ins,
        3
    );
    // After the lock, another failure locks twice as long.
    assert_eq!(
        at(T0 + 60).sign_in(TENANT, upn, "Wrong-Horse-1").unwrap(),
        SignIn::InvalidCredentials
    );
    assert_eq!(
        at(T0 + 61).sign_in(TENANT, upn, PASSWORD).unwrap(),
        SignIn::LockedOut { until: T0 + 180 }
    );
    assert_eq!(
        at(T0 + 180).sign_in(TENANT, upn, "Wrong-Horse-1").unwrap(),
        SignIn::InvalidCredentials
    );
    assert_eq!(
        f.id().user(&u.object_id).unwrap().unwrap().locked_until,
        Some(T0 + 180 + 240)
    );
    // Success after the lock clears the count.
    assert!(matches!(
        at(T0 + 420).sign_in(TENANT, upn, PASSWORD).unwrap(),
        SignIn::Success(_)
    ));
    let after = f.id().user(&u.object_id).unwrap().unwrap();
    assert_eq!((after.failed_sign_ins, after.locked_until), (0, None));
}

#[test]
fn password_reset_replaces_the_hash_clears_lockout_and_revokes_sessions() {
    let f = fx();
    let u = f.user("erin@contoso.example");
    let policy = LockoutPolicy {
        threshold: 1,
        base_secs: 600,
        max_secs: 600,
    };
    f.id()
        .with_lockout(policy)
        .sign_in(TENANT, "erin@contoso.example", "Wrong-Horse-1")
        .unwrap();
    assert!(matches!(
        f.id()
            .sign_in(TENANT, "erin@contoso.example", PASSWORD)
            .unwrap(),
        SignIn::LockedOut { .. }
    ));
    let rt = f
        .id()
        .issue_refresh_token(&u.object_id, "client", "openid", 3600)
        .unwrap();
    assert!(matches!(
        f.id().reset_password(&u.object_id, "weak"),
        Err(IdentityError::Password(_))
    ));
    f.id().reset_password(&u.object_id, "New-Horse-22").unwrap();
    assert_eq!(
        f.id()
            .sign_in(TENANT, "erin@contoso.example", PASSWORD)
            .unwrap(),
        SignIn::InvalidCredentials
    );
    assert!(matches!(
        f.id()
            .sign_in(TENANT, "erin@contoso.example", "New-Horse-22")
            .unwrap(),
        SignIn::Success(_)
    ));
    assert!(matches!(
        f.id().redeem_refresh_token(&rt.token, "client").unwrap(),
        Redeemed::Invalid
    ));
    assert!(matches!(
        f.id()
            .reset_password("00000000-0000-0000-0000-000000000000", "New-Horse-22"),
        Err(IdentityError::NotFound(_))
    ));
}

// ---- service principals -----------------------------------------------------------------

#[test]
fn service_principals_hold_several_expiring_hashed_secrets() {
    let f = fx();
    let sp = f.id().create_service_principal(TENANT, "ci").unwrap();
    assert_eq!(sp.kind, SpKind::Application);
    let a = f
        .id()
        .add_secret(&sp.object_id, Some("first"), T0 + 100)
        .unwrap();
    let b = f.id().add_secret(&sp.object_id, None, T0 + 1000).unwrap();
    assert_ne!(a.secret.as_str(), b.secret.as_str());
    assert_eq!(a.info.hint, &a.secret[..3]);
    assert_eq!(&a.secret[3..5], "Q~");
    assert!(a.secret.len() >= 40);
    assert!(!format!("{a:?}").contains(a.secret.as_str()));
    let listed = f.id().list_secrets(&sp.object_id).unwrap();
    assert_eq!(listed, vec![a.info.clone(), b.info.clone()]);
    assert!(!contains(&f.disk_bytes(), &a.secret));
    let app = sp.app_id.to_uppercase();
    for s in [&a.secret, &b.secret] {
        assert_eq!(
            f.id()
                .authenticate_client_secret(&app, s)
                .unwrap()
                .unwrap()
                .object_id,
            sp.object_id
        );
    }
    assert!(f
        .id()
        .authenticate_client_secret(&app, "nope")
        .unwrap()
        .is_none());
    assert!(f
        .id()
        .authenticate_client_secret("unknown-app", &a.secret)
        .unwrap()
        .is_none());
    // Expiry: the first secret dies at T0+100, the second still works.
    let later = f.store.identity_at(T0 + 100);
    assert!(later
        .authenticate_client_secret(&app, &a.secret)
        .unwrap()
        .is_none());
    assert!(later
        .authenticate_client_secret(&app, &b.secret)
        .unwrap()
        .is_some());
    assert!(matches!(
        f.id().add_secret(&sp.object_id, None, T0),
        Err(IdentityError::Invalid(_))
    ));
    // Removal.
    assert!(f.id().remove_secret(&sp.object_id, &b.info.key_id).unwrap());
    assert!(!f.id().remove_secret(&sp.object_id, &b.info.key_id).unwrap());
    assert!(f
        .id()
        .authenticate_client_secret(&app, &b.secret)
        .unwrap()
        .is_none());
    // Reset replaces everything.
    let c = f
        .id()
        .reset_secrets(&sp.object_id, Some("rotated"), T0 + 5000)
        .unwrap();
    assert_eq!(
        f.id().list_secrets(&sp.object_id).unwrap(),
        vec![c.info.clone()]
    );
    assert!(f
        .id()
        .authenticate_client_secret(&app, &a.secret)
        .unwrap()
        .is_none());
    assert!(f
        .id()
        .authenticate_client_secret(&app, &c.secret)
        .unwrap()
        .is_some());
    // Disabled principals cannot sign in.
    f.id().set_enabled(&sp.object_id, false).unwrap();
    assert!(f
        .id()
        .authenticate_client_secret(&app, &c.secret)
        .unwrap()
        .is_none());
}

#[test]
fn secrets_per_principal_are_bounded() {
    let f = fx();
    let sp = f.id().create_service_principal(TENANT, "many").unwrap();
    for _ in 0..MAX_SECRETS_PER_PRINCIPAL {
        f.id().add_secret(&sp.object_id, None, T0 + 10).unwrap();
    }
    assert!(matches!(
        f.id().add_secret(&sp.object_id, None, T0 + 10),
        Err(IdentityError::LimitReached(_))
    ));
    assert!(matches!(
        f.id().add_secret("no-such-object", None, T0 + 10),
        Err(IdentityError::NotFound(_))
    ));
}

#[test]
fn workspaces_with_a_system_identity_get_a_managed_identity() {
    let f = fx();
    let (ws, _) = f
        .store
        .put_workspace(
            &qws_core::resource_id::WorkspaceId::from_parts(&f.sub.to_string(), "rg", "ws1")
                .unwrap(),
            &spec(true),
            &actor(),
        )
        .unwrap();
    let mi = f
        .id()
        .managed_identity_of_workspace(&ws.uid)
        .unwrap()
        .unwrap();
    assert_eq!(Some(mi.object_id.clone()), ws.identity_principal_id);
    assert_eq!(
        (mi.kind, mi.tenant_id.as_str(), mi.display_name.as_str()),
        (SpKind::ManagedIdentity, TENANT, "ws1")
    );
    assert_eq!(
        uuid::Uuid::parse_str(&mi.app_id).unwrap().to_string(),
        mi.app_id
    );
    assert!(matches!(
        f.id().add_secret(&mi.object_id, None, T0 + 10),
        Err(IdentityError::Invalid(_))
    ));
    // Roles can be assigned to it like any service principal.
    let sa = Scope::parse(&format!(
        "/subscriptions/{}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa",
        f.sub
    ))
    .unwrap();
    f.assign(STORAGE_BLOB_DATA_CONTRIBUTOR, &mi.object_id, &sa);
    let blob_write = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write";
    assert!(f.allowed(&mi.object_id, blob_write, ActionKind::Data, &sa));
    // No identity, no principal; deleting the workspace deletes its identity.
    let (plain, _) = f
        .store
        .put_workspace(
            &qws_core::resource_id::WorkspaceId::from_parts(&f.sub.to_string(), "rg", "ws2")
                .unwrap(),
            &spec(false),
            &actor(),
        )
        .unwrap();
    assert!(f
        .id()
        .managed_identity_of_workspace(&plain.uid)
        .unwrap()
        .is_none());
    f.store
        .delete_workspace(
            &qws_core::resource_id::WorkspaceId::from_parts(&f.sub.to_string(), "rg", "ws1")
                .unwrap(),
        )
        .unwrap();
    assert!(f
        .id()
        .managed_identity_of_workspace(&ws.uid)
        .unwrap()
        .is_none());
    assert!(f.id().object(&mi.object_id).unwrap().is_none());
}

// ---- groups -----------------------------------------------------------------------------

#[test]
fn roles_assigned_to_a_group_apply_to_its_members() {
    let f = fx();
    let u = f.user("frank@contoso.example");
    let sp = f.id().create_service_principal(TENANT, "bot").unwrap();
    let g = f
        .id()
        .create_group(TENANT, "researchers", Some("quantum people"))
        .unwrap();
    assert!(f.id().add_group_member(&g.object_id, &u.object_id).unwrap());
    assert!(!f.id().add_group_member(&g.object_id, &u.object_id).unwrap());
    assert!(f
        .id()
        .add_group_member(&g.object_id, &sp.object_id)
        .unwrap());
    let other = f.id().create_group(TENANT, "other", None).unwrap();
    assert!(matches!(
        f.id().add_group_member(&g.object_id, &other.object_id),
        Err(IdentityError::Invalid(_))
    ));
    assert!(matches!(
        f.id().add_group_member(&g.object_id, "missing"),
        Err(IdentityError::NotFound(_))
    ));
    assert!(matches!(
        f.id().add_group_member(&u.object_id, &sp.object_id),
        Err(IdentityError::NotFound(_))
    ));
    let members: Vec<ObjectKind> = f
        .id()
        .group_members(&g.object_id)
        .unwrap()
        .iter()
        .map(|m| m.kind)
        .collect();
    assert_eq!(members.len(), 2);
    assert!(members.contains(&ObjectKind::User) && members.contains(&ObjectKind::ServicePrincipal));
    assert_eq!(
        f.id().groups_of(&u.object_id).unwrap(),
        vec![g.object_id.clone()]
    );

    let ws = f.ws_scope("rg", "w");
    let ra = f.assign(
        QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
        &g.object_id,
        &f.rg_scope("rg"),
    );
    assert_eq!(ra.principal_type, PrincipalType::Group);
    for p in [&u.object_id, &sp.object_id] {
        assert!(f.allowed(p, JOBS_WRITE, ActionKind::Data, &ws));
        let d = f
            .id()
            .check_access(p, JOBS_READ, ActionKind::Data, &ws)
            .unwrap();
        assert_eq!(d.matched_assignment.unwrap().name, ra.name);
    }
    assert!(!f.allowed(&u.object_id, LIST_KEYS_ACTION, ActionKind::Control, &ws));
    let assigned = f.id().role_assignments_assigned_to(&u.object_id).unwrap();
    assert_eq!(assigned.len(), 1);
    assert!(f
        .id()
        .role_assignments_of_principal(&u.object_id)
        .unwrap()
        .is_empty());
    // Removal takes effect on the next check.
    assert!(f
        .id()
        .remove_group_member(&g.object_id, &u.object_id)
        .unwrap());
    assert!(!f.allowed(&u.object_id, JOBS_WRITE, ActionKind::Data, &ws));
    assert!(f.allowed(&sp.object_id, JOBS_WRITE, ActionKind::Data, &ws));
    // Deleting the group removes its memberships.
    assert!(f.id().delete_object(&g.object_id).unwrap());
    assert!(!f.allowed(&sp.object_id, JOBS_WRITE, ActionKind::Data, &ws));
    assert!(f.id().groups_of(&sp.object_id).unwrap().is_empty());
}

const LIST_KEYS_ACTION: &str = WORKSPACE_LIST_KEYS;

// ---- role assignments -------------------------------------------------------------------

#[test]
fn assignments_inherit_down_the_scope_tree_and_changes_apply_at_once() {
    let f = fx();
    let u = f.user("gina@contoso.example");
    let ws = f.ws_scope("rg", "w1");
    assert!(
        !f.allowed(&u.object_id, WORKSPACE_READ, ActionKind::Control, &ws),
        "deny by default"
    );
    let reader = f.assign(READER, &u.object_id, &f.sub_scope());
    assert!(f.allowed(&u.object_id, WORKSPACE_READ, ActionKind::Control, &ws));
    assert!(!f.allowed(&u.object_id, WORKSPACE_WRITE, ActionKind::Control, &ws));
    let contrib = f.assign(CONTRIBUTOR, &u.object_id, &f.rg_scope("RG"));
    assert!(f.allowed(&u.object_id, WORKSPACE_WRITE, ActionKind::Control, &ws));
    assert!(!f.allowed(
        &u.object_id,
        WORKSPACE_WRITE,
        ActionKind::Control,
        &f.ws_scope("rg10", "w1")
    ));
    assert!(!f.allowed(
        &u.object_id,
        ROLE_ASSIGNMENTS_WRITE,
        ActionKind::Control,
        &ws
    ));
    assert!(!f.allowed(&u.object_id, JOBS_READ, ActionKind::Data, &ws));
    f.id()
        .delete_role_assignment(&contrib.name)
        .unwrap()
        .unwrap();
    assert!(!f.allowed(&u.object_id, WORKSPACE_WRITE, ActionKind::Control, &ws));
    f.id()
        .delete_role_assignment(&reader.name)
        .unwrap()
        .unwrap();
    assert!(!f.allowed(&u.object_id, WORKSPACE_READ, ActionKind::Control, &ws));
    assert!(f
        .id()
        .delete_role_assignment(&reader.name)
        .unwrap()
        .is_none());
    // A role at the tenant root applies everywhere.
    f.assign(OWNER, &u.object_id, &Scope::root());
    assert!(f.allowed(
        &u.object_id,
        ROLE_ASSIGNMENTS_WRITE,
        ActionKind::Control,
        &ws
    ));
}

#[test]
fn assignment_puts_are_validated_like_arm() {
    let f = fx();
    let u = f.user("hal@contoso.example");
    let scope = f.rg_scope("rg");
    let name = uuid::Uuid::new_v4().to_string();
    let req = AssignmentRequest {
        name: &name,
        scope: &scope,
        role_definition_id: &format!(
            "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{}",
            f.sub,
            READER.to_uppercase()
        ),
        principal_id: &u.object_id,
        principal_type: Some(PrincipalType::User),
        description: Some("first"),
        actor: Some("admin-oid"),
    };
    let (a, created) = f.id().put_role_assignment(req).unwrap();
    assert!(created);
    assert_eq!(
        (a.role_definition_id.as_str(), a.created_by.as_deref()),
        (READER, Some("admin-oid"))
    );
    assert_eq!(a.created_on, T0);
    // The same PUT again is accepted and changes nothing but the description.
    let (b, created) = f
        .id()
        .put_role_assignment(AssignmentRequest {
            description: Some("second"),
            ..req
        })
        .unwrap();
    assert!(!created);
    assert_eq!(
        (b.name, b.description.as_deref()),
        (a.name.clone(), Some("second"))
    );
    let other_scope = f.rg_scope("rg10");
    let cases: Vec<(AssignmentRequest<'_>, &str)> = vec![
        (
            AssignmentRequest {
                scope: &other_scope,
                ..req
            },
            "update",
        ),
        (
            AssignmentRequest {
                role_definition_id: CONTRIBUTOR,
                ..req
            },
            "update",
        ),
        (
            AssignmentRequest {
                name: "not-a-guid",
                ..req
            },
            "invalid",
        ),
        (
            AssignmentRequest {
                role_definition_id: "bogus",
                ..req
            },
            "invalid",
        ),
        (
            AssignmentRequest {
                principal_type: Some(PrincipalType::ServicePrincipal),
                ..req
            },
            "invalid",
        ),
    ];
    for (c, want) in cases {
        let got = f.id().put_role_assignment(c);
        match want {
            "update" => assert!(
                matches!(got, Err(IdentityError::AssignmentUpdateNotPermitted)),
                "{got:?}"
            ),
            _ => assert!(matches!(got, Err(IdentityError::Invalid(_))), "{got:?}"),
        }
    }
    let fresh = uuid::Uuid::new_v4().to_string();
    let dup = f.id().put_role_assignment(AssignmentRequest {
        name: &fresh,
        ..req
    });
    assert!(
        matches!(dup, Err(IdentityError::AssignmentExists { ref existing }) if *existing == a.name)
    );
    let unknown_role = f.id().put_role_assignment(AssignmentRequest {
        name: &fresh,
        role_definition_id: "00000000-0000-0000-0000-000000000001",
        ..req
    });
    assert!(matches!(
        unknown_role,
        Err(IdentityError::RoleDefinitionNotFound(_))
    ));
    let nobody = f.id().put_role_assignment(AssignmentRequest {
        name: &fresh,
        principal_id: "00000000-0000-0000-0000-000000000002",
        principal_type: None,
        ..req
    });
    assert!(matches!(nobody, Err(IdentityError::PrincipalNotFound(_))));
}

#[test]
fn assignment_listings_by_scope_and_principal() {
    let f = fx();
    let u = f.user("ivy@contoso.example");
    let v = f.user("jack@contoso.example");
    let at_sub = f.assign(READER, &u.object_id, &f.sub_scope());
    let at_rg = f.assign(CONTRIBUTOR, &u.object_id, &f.rg_scope("rg_1"));
    let at_ws = f.assign(OWNER, &v.object_id, &f.ws_scope("rg_1", "w"));
    let at_like = f.assign(OWNER, &v.object_id, &f.rg_scope("rgx1"));
    let names = |v: Vec<qws_core::rbac::RoleAssignment>| {
        let mut n: Vec<String> = v.into_iter().map(|a| a.name).collect();
        n.sort();
        n
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        names(
            f.id()
                .role_assignments_at_or_above(&f.rg_scope("RG_1"))
                .unwrap()
        ),
        sorted(vec![at_sub.name.clone(), at_rg.name.clone()])
    );
    // Below includes the workspace, but '_' is not a wildcard: rgx1 is not under rg_1.
    assert_eq!(
        names(f.id().role_assignments_around(&f.rg_scope("rg_1")).unwrap()),
        sorted(vec![
            at_sub.name.clone(),
            at_rg.name.clone(),
            at_ws.name.clone()
        ])
    );
    assert_eq!(
        f.id()
            .role_assignments_around(&Scope::root())
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        names(
            f.id()
                .role_assignments_of_principal(&v.object_id.to_uppercase())
                .unwrap()
        ),
        sorted(vec![at_ws.name.clone(), at_like.name.clone()])
    );
    assert_eq!(
        names(
            f.id()
                .effective_role_assignments(&u.object_id, &f.ws_scope("rg_1", "w"))
                .unwrap()
        ),
        sorted(vec![at_sub.name.clone(), at_rg.name.clone()])
    );
    assert_eq!(
        f.id()
            .role_assignment(&at_ws.name.to_uppercase())
            .unwrap()
            .unwrap(),
        at_ws
    );
}

// ---- custom roles -----------------------------------------------------------------------

fn submitter_role(f: &Fx, name: &str) -> RoleDefinition {
    RoleDefinition::custom_from_properties(
        &uuid::Uuid::new_v4().to_string(),
        &serde_json::json!({
            "roleName": name,
            "description": "submit, never read",
            "permissions": [{
                "actions": ["Microsoft.Quantum/Workspaces/read"],
                "dataActions": ["Microsoft.Quantum/Workspaces/jobs/*"],
                "notDataActions": ["Microsoft.Quantum/Workspaces/jobs/read"]
            }],
            "assignableScopes": [f.rg_scope("rg").as_str()]
        }),
    )
    .unwrap()
}

#[test]
fn custom_roles_are_stored_checked_and_protected_while_assigned() {
    let f = fx();
    let u = f.user("kim@contoso.example");
    let role = submitter_role(&f, "Job Submitter");
    let (stored, created) = f.id().put_custom_role(&role, Some("admin")).unwrap();
    assert!(created);
    assert_eq!(
        (stored.role_name.as_str(), stored.created_on),
        ("Job Submitter", Some(T0))
    );
    let mut renamed = role.clone();
    renamed.description = "changed".into();
    let (updated, created) = f.id().put_custom_role(&renamed, None).unwrap();
    assert!(!created);
    assert_eq!(updated.description, "changed");
    // Names are unique, built-ins included.
    let clash = submitter_role(&f, "job submitter");
    assert!(matches!(
        f.id().put_custom_role(&clash, None),
        Err(IdentityError::RoleNameTaken(_))
    ));
    let clash = submitter_role(&f, "Reader");
    assert!(matches!(
        f.id().put_custom_role(&clash, None),
        Err(IdentityError::RoleNameTaken(_))
    ));
    let mut builtin = role.clone();
    builtin.id = OWNER.into();
    assert!(matches!(
        f.id().put_custom_role(&builtin, None),
        Err(IdentityError::BuiltInRole)
    ));
    // Look-ups.
    assert_eq!(
        f.id()
            .role_definition(&role.id.to_uppercase())
            .unwrap()
            .unwrap()
            .description,
        "changed"
    );
    assert_eq!(
        f.id().role_definition(READER).unwrap().unwrap().role_name,
        "Reader"
    );
    assert_eq!(
        f.id()
            .role_definitions(Some("JOB SUBMITTER"))
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        f.id().role_definitions(Some("reader")).unwrap()[0].id,
        READER
    );
    assert_eq!(
        f.id().role_definitions(None).unwrap().len(),
        builtin_roles().len() + 1
    );
    // Assignable only inside its assignable scopes.
    let outside = f.id().put_role_assignment(AssignmentRequest {
        name: &uuid::Uuid::new_v4().to_string(),
        scope: &f.sub_scope(),
        role_definition_id: &role.id,
        principal_id: &u.object_id,
        principal_type: None,
        description: None,
        actor: None,
    });
    assert!(matches!(
        outside,
        Err(IdentityError::RoleNotAssignableAtScope { .. })
    ));
    let ra = f.assign(&role.id, &u.object_id, &f.ws_scope("rg", "w"));
    let ws = f.ws_scope("rg", "w");
    assert!(f.allowed(&u.object_id, JOBS_WRITE, ActionKind::Data, &ws));
    assert!(!f.allowed(&u.object_id, JOBS_READ, ActionKind::Data, &ws));
    assert!(f.allowed(&u.object_id, WORKSPACE_READ, ActionKind::Control, &ws));
    assert!(matches!(
        f.id().delete_custom_role(&role.id),
        Err(IdentityError::RoleHasAssignments(1))
    ));
    assert!(matches!(
        f.id().delete_custom_role(READER),
        Err(IdentityError::BuiltInRole)
    ));
    f.id().delete_role_assignment(&ra.name).unwrap();
    assert_eq!(
        f.id().delete_custom_role(&role.id).unwrap().unwrap().id,
        role.id
    );
    assert!(f.id().delete_custom_role(&role.id).unwrap().is_none());
}

// ---- refresh tokens ---------------------------------------------------------------------

#[test]
fn refresh_tokens_rotate_on_use_and_reuse_revokes_the_family() {
    let f = fx();
    let u = f.user("lee@contoso.example");
    let first = f
        .id()
        .issue_refresh_token(&u.object_id, "cli-app", "openid profile", 1000)
        .unwrap();
    assert!(first.token.starts_with(REFRESH_TOKEN_PREFIX));
    assert!(!format!("{first:?}").contains(first.token.as_str()));
    assert!(!contains(&f.disk_bytes(), &first.token));
    let second = match f
        .id()
        .redeem_refresh_token(&first.token, "cli-app")
        .unwrap()
    {
        Redeemed::Rotated {
            object_id,
            client_id,
            scope,
            next,
        } => {
            assert_eq!(
                (object_id.as_str(), client_id.as_str(), scope.as_str()),
                (u.object_id.as_str(), "cli-app", "openid profile")
            );
            assert_eq!(next.family_id, first.family_id);
            assert_eq!(next.expires_at, T0 + 1000);
            next
        }
        other => panic!("{other:?}"),
    };
    assert_ne!(first.token.as_str(), second.token.as_str());
    // The first token was used: presenting it again revokes the whole family.
    assert!(matches!(
        f.id()
            .redeem_refresh_token(&first.token, "cli-app")
            .unwrap(),
        Redeemed::Reused
    ));
    assert!(matches!(
        f.id()
            .redeem_refresh_token(&second.token, "cli-app")
            .unwrap(),
        Redeemed::Invalid
    ));
    // Wrong client, garbage, and expiry.
    let t = f
        .id()
        .issue_refresh_token(&u.object_id, "cli-app", "openid", 100)
        .unwrap();
    assert!(matches!(
        f.id().redeem_refresh_token(&t.token, "other-app").unwrap(),
        Redeemed::Invalid
    ));
    assert!(matches!(
        f.id()
            .redeem_refresh_token("qws_rt.garbage", "cli-app")
            .unwrap(),
        Redeemed::Invalid
    ));
    assert!(matches!(
        f.id()
            .redeem_refresh_token(&"x".repeat(10_000), "cli-app")
            .unwrap(),
        Redeemed::Invalid
    ));
    assert!(matches!(
        f.store
            .identity_at(T0 + 100)
            .redeem_refresh_token(&t.token, "cli-app")
            .unwrap(),
        Redeemed::Invalid
    ));
    assert_eq!(
        f.store
            .identity_at(T0 + 100)
            .purge_expired_refresh_tokens()
            .unwrap(),
        1
    );
    assert!(matches!(
        f.id().redeem_refresh_token(&t.token, "cli-app").unwrap(),
        Redeemed::Invalid
    ));
}

#[test]
fn refresh_tokens_are_revoked_per_principal_and_when_disabled_or_deleted() {
    let f = fx();
    let u = f.user("max@contoso.example");
    let v = f.user("nia@contoso.example");
    let a = f
        .id()
        .issue_refresh_token(&u.object_id, "c", "s", 1000)
        .unwrap();
    let b = f
        .id()
        .issue_refresh_token(&u.object_id, "c", "s", 1000)
        .unwrap();
    let keep = f
        .id()
        .issue_refresh_token(&v.object_id, "c", "s", 1000)
        .unwrap();
    assert_eq!(f.id().revoke_refresh_tokens(&u.object_id).unwrap(), 2);
    for t in [&a, &b] {
        assert!(matches!(
            f.id().redeem_refresh_token(&t.token, "c").unwrap(),
            Redeemed::Invalid
        ));
    }
    let keep = match f.id().redeem_refresh_token(&keep.token, "c").unwrap() {
        Redeemed::Rotated { next, .. } => next,
        other => panic!("{other:?}"),
    };
    f.id().set_enabled(&v.object_id, false).unwrap();
    assert!(matches!(
        f.id().redeem_refresh_token(&keep.token, "c").unwrap(),
        Redeemed::Invalid
    ));
    f.id().set_enabled(&v.object_id, true).unwrap();
    let t = f
        .id()
        .issue_refresh_token(&v.object_id, "c", "s", 1000)
        .unwrap();
    assert!(f.id().delete_object(&v.object_id).unwrap());
    assert!(matches!(
        f.id().redeem_refresh_token(&t.token, "c").unwrap(),
        Redeemed::Invalid
    ));
    assert!(f.id().user(&v.object_id).unwrap().is_none());
}

// ---- the bootstrap administrator and the migration ----------------------------------------

#[test]
fn create_principal_keeps_the_old_api_and_makes_an_owner() {
    let f = fx();
    let p = Principal {
        client_id: "AAAAAAAA-0000-0000-0000-000000000001".into(),
        object_id: "bbbbbbbb-0000-0000-0000-000000000002".into(),
        tenant_id: TENANT.into(),
        display_name: "qws administrator".into(),
        is_admin: true,
    };
    f.store
        .create_principal(&p, "qws~bootstrap-secret")
        .unwrap();
    let got = f
        .store
        .authenticate_client(
            "aaaaaaaa-0000-0000-0000-000000000001",
            "qws~bootstrap-secret",
        )
        .unwrap()
        .unwrap();
    assert!(got.is_admin);
    assert_eq!(got.client_id, "aaaaaaaa-0000-0000-0000-000000000001");
    assert_eq!(
        f.store
            .principal_by_object_id(&p.object_id)
            .unwrap()
            .unwrap(),
        got
    );
    assert_eq!(
        f.store
            .principal_by_client_id(&p.client_id)
            .unwrap()
            .unwrap(),
        got
    );
    let secrets = f.id().list_secrets(&p.object_id).unwrap();
    assert_eq!(
        (
            secrets.len(),
            secrets[0].expires_at,
            secrets[0].hint.as_str()
        ),
        (1, None, "qws")
    );
    let owner = f.id().role_assignments_of_principal(&p.object_id).unwrap();
    assert_eq!(owner.len(), 1);
    assert_eq!(
        (owner[0].role_definition_id.as_str(), owner[0].scope.clone()),
        (OWNER, f.sub_scope())
    );
    assert!(f.allowed(
        &p.object_id,
        LIST_KEYS_ACTION,
        ActionKind::Control,
        &f.ws_scope("rg", "w")
    ));
    assert!(!f.allowed(
        &p.object_id,
        JOBS_WRITE,
        ActionKind::Data,
        &f.ws_scope("rg", "w")
    ));
}

#[test]
fn a_version_4_database_migrates_its_principals_and_workspace_identities() {
    if crate::db::test_cluster::wanted() {
        // An upgrade of a SQLite file written by older versions; PostgreSQL support began
        // after this migration, so no such PostgreSQL database exists.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let crypto = Crypto::from_master_key(&[3; 32]);
    let sub = "0a0a0a0a-0000-0000-0000-000000000001";
    let secret_hash = crypto.secret_hash("qws~old-secret");
    {
        let mut conn = rusqlite::Connection::open(dir.path().join(crate::store::DB_FILE)).unwrap();
        for sql in &crate::schema::MIGRATIONS[..4] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 4).unwrap();
        let tx = conn.transaction().unwrap();
        tx.execute(
            "INSERT INTO subscriptions VALUES (?1, 'old-tenant', 'sub')",
            [sub],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO principals VALUES ('c1c1c1c1-0000-0000-0000-000000000001', 'd1d1d1d1-0000-0000-0000-000000000001', 'old-tenant', 'qws administrator', ?1, 1)",
            [&secret_hash],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO resource_groups VALUES (?1, 'rg', 'rg', 'eastus', '{}', 0)",
            [sub],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO workspaces (uid, subscription_id, rg_key, name_key, name, location, tags, providers, identity_type,
               identity_principal_id, api_key_enabled, workspace_kind, etag, created_at, created_by, created_by_type,
               modified_at, modified_by, modified_by_type)
             VALUES ('ws-uid', ?1, 'rg', 'old', 'Old', 'eastus', '{}', '[]', 'SystemAssigned',
               'e1e1e1e1-0000-0000-0000-000000000001', 1, 'V1', 'e', 0, 'x', 'Application', 0, 'x', 'Application')",
            [sub],
        )
        .unwrap();
        tx.commit().unwrap();
    }
    let store = Store::open(dir.path(), crypto).unwrap();
    let admin = store
        .authenticate_client("C1C1C1C1-0000-0000-0000-000000000001", "qws~old-secret")
        .unwrap()
        .unwrap();
    assert!(admin.is_admin);
    assert_eq!(admin.object_id, "d1d1d1d1-0000-0000-0000-000000000001");
    assert!(store
        .authenticate_client("c1c1c1c1-0000-0000-0000-000000000001", "qws~wrong")
        .unwrap()
        .is_none());
    let id = store.identity();
    let ws = Scope::parse(&format!(
        "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Quantum/Workspaces/Old"
    ))
    .unwrap();
    let d = id
        .check_access(&admin.object_id, WORKSPACE_DELETE, ActionKind::Control, &ws)
        .unwrap();
    assert!(d.allowed);
    assert_eq!(
        d.matched_assignment.unwrap().scope.as_str(),
        format!("/subscriptions/{sub}")
    );
    let mi = id.managed_identity_of_workspace("ws-uid").unwrap().unwrap();
    assert_eq!(
        (mi.object_id.as_str(), mi.tenant_id.as_str(), mi.kind),
        (
            "e1e1e1e1-0000-0000-0000-000000000001",
            "old-tenant",
            SpKind::ManagedIdentity
        )
    );
    let gone: Option<String> = store
        .conn()
        .query_row(
            "SELECT name FROM sqlite_master WHERE name = 'principals'",
            [],
            |r| r.get(0),
        )
        .optional()
        .unwrap();
    assert_eq!(gone, None);
}

#[test]
fn cached_access_is_served_until_an_identity_table_changes() {
    let f = fx();
    let alice = f.user("alice@qws.local");
    let access = |f: &Fx| f.id().access_of(&alice.object_id).unwrap();
    let first = access(&f);
    assert!(first.assignments.is_empty());
    // Nothing changed: the very same grants, from memory.
    assert!(std::sync::Arc::ptr_eq(&first, &access(&f)));

    // A new assignment is seen by the next read.
    let a = f.assign(READER, &alice.object_id, &f.sub_scope());
    let second = access(&f);
    assert_eq!(second.assignments.len(), 1);
    assert!(std::sync::Arc::ptr_eq(&second, &access(&f)));

    // So are a group's assignment and the membership that brings it.
    let g = f.id().create_group(TENANT, "team", None).unwrap();
    f.assign(OWNER, &g.object_id, &f.rg_scope("rg"));
    assert_eq!(access(&f).assignments.len(), 1);
    f.id()
        .add_group_member(&g.object_id, &alice.object_id)
        .unwrap();
    assert_eq!(access(&f).assignments.len(), 2);
    f.id()
        .remove_group_member(&g.object_id, &alice.object_id)
        .unwrap();
    assert_eq!(access(&f).assignments.len(), 1);

    // And a deletion.
    f.id().delete_role_assignment(&a.name).unwrap();
    assert!(access(&f).assignments.is_empty());
}

#[test]
fn on_postgres_a_change_made_by_another_node_invalidates_cached_access() {
    if !crate::db::test_cluster::wanted() {
        // SQLite has one writing process per database, whose own writes move the generation
        // (the test above); nodes sharing a database exist only on PostgreSQL.
        return;
    }
    let f = fx();
    let alice = f.user("alice@qws.local");
    // A second node: another Store (its own connection and cache) on the same database.
    let other = Store::open(f.dir.path(), Crypto::from_master_key(&[7; 32])).unwrap();
    let cached = other.identity().access_of(&alice.object_id).unwrap();
    assert!(cached.assignments.is_empty());
    assert!(std::sync::Arc::ptr_eq(
        &cached,
        &other.identity().access_of(&alice.object_id).unwrap()
    ));
    // The first node assigns a role; the second sees it on its next read.
    let a = f.assign(READER, &alice.object_id, &f.sub_scope());
    assert_eq!(
        other
            .identity()
            .access_of(&alice.object_id)
            .unwrap()
            .assignments
            .len(),
        1
    );
    f.id().delete_role_assignment(&a.name).unwrap();
    assert!(other
        .identity()
        .access_of(&alice.object_id)
        .unwrap()
        .assignments
        .is_empty());
}
