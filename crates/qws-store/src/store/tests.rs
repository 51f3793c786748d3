use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    sub: SubscriptionId,
}

fn actor() -> Actor {
    Actor {
        name: "tester".into(),
        kind: "Application".into(),
    }
}

fn spec(location: &str) -> WorkspaceSpec {
    WorkspaceSpec {
        location: location.into(),
        tags: Tags::new(),
        providers: vec![],
        storage_account: None,
        identity_type: Some("SystemAssigned".into()),
        api_key_enabled: true,
        workspace_kind: "V1".into(),
    }
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Crypto::from_master_key(&[9; 32])).unwrap();
    let sub = SubscriptionId::from_uuid(uuid::Uuid::new_v4());
    store
        .create_subscription(&SubscriptionRecord {
            id: sub,
            tenant_id: "t".into(),
            display_name: "s".into(),
        })
        .unwrap();
    store
        .put_resource_group(&gid(&sub, "RG"), "eastus", &Tags::new())
        .unwrap();
    Fixture {
        _dir: dir,
        store,
        sub,
    }
}

#[test]
fn workspace_lifecycle_is_case_insensitive() {
    let f = fixture();
    let (w, created) = f
        .store
        .put_workspace(&wid(&f.sub, "rg", "MyWs"), &spec("eastus"), &actor())
        .unwrap();
    assert!(created);
    assert_eq!(w.resource_group, "RG");
    assert_eq!(w.name, "MyWs");
    let (w2, created) = f
        .store
        .put_workspace(&wid(&f.sub, "RG", "myws"), &spec("eastus"), &actor())
        .unwrap();
    assert!(!created);
    assert_eq!(w2.uid, w.uid);
    assert_eq!(w2.name, "MyWs");
    assert_ne!(w2.etag, w.etag);
    assert!(matches!(
        f.store
            .put_workspace(&wid(&f.sub, "rg", "myws"), &spec("westus"), &actor()),
        Err(StoreError::LocationChange { .. })
    ));
    assert!(matches!(
        f.store
            .put_workspace(&wid(&f.sub, "nope", "x1"), &spec("eastus"), &actor()),
        Err(StoreError::ResourceGroupNotFound)
    ));
    assert!(f
        .store
        .delete_workspace(&wid(&f.sub, "rg", "MYWS"))
        .unwrap()
        .is_some());
    assert!(f
        .store
        .get_workspace(&wid(&f.sub, "rg", "myws"))
        .unwrap()
        .is_none());
    assert!(f
        .store
        .delete_workspace(&wid(&f.sub, "rg", "myws"))
        .unwrap()
        .is_none());
}

#[test]
fn paging_is_ordered_and_complete() {
    let f = fixture();
    f.store
        .put_resource_group(&gid(&f.sub, "other"), "eastus", &Tags::new())
        .unwrap();
    for (rg, n) in [("rg", "b1"), ("rg", "a1"), ("other", "c1"), ("rg", "c2")] {
        f.store
            .put_workspace(&wid(&f.sub, rg, n), &spec("eastus"), &actor())
            .unwrap();
    }
    let mut seen = vec![];
    let mut after: Option<(String, String)> = None;
    loop {
        let page = f
            .store
            .list_workspaces(
                &f.sub,
                None,
                after.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                3,
            )
            .unwrap();
        if page.is_empty() {
            break;
        }
        let last = page.last().unwrap();
        after = Some((last.resource_group.to_lowercase(), last.name.to_lowercase()));
        seen.extend(page.into_iter().map(|w| w.name));
    }
    assert_eq!(seen, ["c1", "a1", "b1", "c2"]);
    let rg_only = f
        .store
        .list_workspaces(
            &f.sub,
            Some(&ResourceGroupName::parse("RG").unwrap()),
            None,
            10,
        )
        .unwrap();
    assert_eq!(rg_only.len(), 3);
}

#[test]
fn keys_check_regenerate_disable() {
    let f = fixture();
    let (w, _) = f
        .store
        .put_workspace(&wid(&f.sub, "rg", "ws1"), &spec("eastus"), &actor())
        .unwrap();
    let (other, _) = f
        .store
        .put_workspace(&wid(&f.sub, "rg", "ws2"), &spec("eastus"), &actor())
        .unwrap();
    let keys = f.store.workspace_keys(&w.uid).unwrap();
    assert!(keys.enabled);
    let p = keys.keys[0].key.clone();
    let s = keys.keys[1].key.clone();
    assert_eq!(keys.keys[0].slot, KeySlot::Primary);
    assert!(p.is_well_formed() && s.is_well_formed() && p != s);
    assert_eq!(
        f.store.check_api_key(&w.uid, p.expose()).unwrap(),
        KeyCheck::Primary
    );
    assert_eq!(
        f.store.check_api_key(&w.uid, s.expose()).unwrap(),
        KeyCheck::Secondary
    );
    assert_eq!(
        f.store.check_api_key(&other.uid, p.expose()).unwrap(),
        KeyCheck::Refused
    );
    assert_eq!(
        f.store.check_api_key(&w.uid, "garbage").unwrap(),
        KeyCheck::Refused
    );

    f.store
        .regenerate_keys(&w.uid, &[KeySlot::Primary])
        .unwrap();
    let after = f.store.workspace_keys(&w.uid).unwrap();
    assert_ne!(after.keys[0].key, p);
    assert_eq!(after.keys[1].key, s);
    assert_eq!(
        f.store.check_api_key(&w.uid, p.expose()).unwrap(),
        KeyCheck::Refused
    );
    assert_eq!(
        f.store
            .check_api_key(&w.uid, after.keys[0].key.expose())
            .unwrap(),
        KeyCheck::Primary
    );

    let mut disabled = spec("eastus");
    disabled.api_key_enabled = false;
    f.store
        .put_workspace(&wid(&f.sub, "rg", "ws1"), &disabled, &actor())
        .unwrap();
    assert_eq!(
        f.store.check_api_key(&w.uid, s.expose()).unwrap(),
        KeyCheck::Refused
    );
    assert!(matches!(
        f.store.regenerate_keys(&w.uid, &[KeySlot::Secondary]),
        Err(StoreError::KeysDisabled)
    ));
    f.store
        .put_workspace(&wid(&f.sub, "rg", "ws1"), &spec("eastus"), &actor())
        .unwrap();
    let restored = f.store.workspace_keys(&w.uid).unwrap();
    assert_eq!(restored.keys[0].key, after.keys[0].key);
    assert_eq!(restored.keys[1].key, s);
}

#[test]
fn no_plaintext_key_in_database_files() {
    let f = fixture();
    let (w, _) = f
        .store
        .put_workspace(&wid(&f.sub, "rg", "ws1"), &spec("eastus"), &actor())
        .unwrap();
    let keys = f.store.workspace_keys(&w.uid).unwrap();
    for entry in std::fs::read_dir(f._dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for k in &keys.keys {
            let needle = k.key.expose().as_bytes();
            assert!(!bytes.windows(needle.len()).any(|win| win == needle));
        }
    }
}

#[test]
fn wrong_master_key_is_refused_and_secrets_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Crypto::from_master_key(&[1; 32])).unwrap();
    let p = Principal {
        client_id: "c1".into(),
        object_id: "o1".into(),
        tenant_id: "t".into(),
        display_name: "admin".into(),
        is_admin: true,
    };
    store.create_principal(&p, "s3cret").unwrap();
    assert_eq!(
        store.authenticate_client("C1", "s3cret").unwrap(),
        Some(p.clone())
    );
    assert_eq!(store.authenticate_client("c1", "wrong").unwrap(), None);
    assert_eq!(store.authenticate_client("nobody", "s3cret").unwrap(), None);
    assert_eq!(store.principal_by_object_id("o1").unwrap(), Some(p));
    drop(store);
    assert!(matches!(
        Store::open(dir.path(), Crypto::from_master_key(&[2; 32])),
        Err(StoreError::WrongMasterKey)
    ));
}

#[test]
fn resource_group_delete_cascades() {
    let f = fixture();
    let (w, _) = f
        .store
        .put_workspace(&wid(&f.sub, "rg", "ws1"), &spec("eastus"), &actor())
        .unwrap();
    assert_eq!(
        f.store.delete_resource_group(&gid(&f.sub, "Rg")).unwrap(),
        Some(vec!["ws1".to_string()])
    );
    assert!(f.store.get_workspace_by_uid(&w.uid).unwrap().is_none());
    assert_eq!(
        f.store.check_api_key(&w.uid, "x").unwrap(),
        KeyCheck::Refused
    );
    assert_eq!(
        f.store.delete_resource_group(&gid(&f.sub, "rg")).unwrap(),
        None
    );
}

#[test]
fn tags_and_operations() {
    let f = fixture();
    let mut s = spec("eastus");
    s.tags.insert("a".into(), "1".into());
    f.store
        .put_workspace(&wid(&f.sub, "rg", "ws1"), &s, &actor())
        .unwrap();
    let mut t = Tags::new();
    t.insert("b".into(), "2".into());
    let w = f
        .store
        .set_workspace_tags(&wid(&f.sub, "rg", "ws1"), &t, &actor())
        .unwrap();
    assert_eq!(w.tags, t);
    let op = OperationRecord {
        id: "op1".into(),
        subscription: f.sub,
        location: "eastus".into(),
        resource_id: "/x".into(),
        status: "Succeeded".into(),
        start_time: 1,
        end_time: Some(2),
    };
    f.store.put_operation(&op).unwrap();
    assert_eq!(f.store.get_operation("op1").unwrap(), Some(op));
}

#[test]
fn workspace_names_are_unique_per_location() {
    let f = fixture();
    let other_sub = SubscriptionId::from_uuid(uuid::Uuid::new_v4());
    f.store
        .create_subscription(&SubscriptionRecord {
            id: other_sub,
            tenant_id: "t".into(),
            display_name: "s2".into(),
        })
        .unwrap();
    f.store
        .put_resource_group(&gid(&other_sub, "rg"), "eastus", &Tags::new())
        .unwrap();
    f.store
        .put_resource_group(&gid(&f.sub, "rg2"), "eastus", &Tags::new())
        .unwrap();
    f.store
        .put_workspace(&wid(&f.sub, "rg", "Shared"), &spec("eastus"), &actor())
        .unwrap();
    // Same region, other group or other subscription, any case: refused, nothing stored.
    for (sub, rg) in [(f.sub, "rg2"), (other_sub, "rg")] {
        match f
            .store
            .put_workspace(&wid(&sub, rg, "SHARED"), &spec("eastus"), &actor())
        {
            Err(StoreError::NameNotAvailable { name, location }) => {
                assert_eq!((name.as_str(), location.as_str()), ("SHARED", "eastus"));
            }
            other => panic!("expected NameNotAvailable, got {other:?}"),
        }
        assert!(f
            .store
            .get_workspace(&wid(&sub, rg, "shared"))
            .unwrap()
            .is_none());
    }
    // Updating the existing workspace is unaffected; another region is fine.
    let (_, created) = f
        .store
        .put_workspace(&wid(&f.sub, "rg", "shared"), &spec("eastus"), &actor())
        .unwrap();
    assert!(!created);
    let (_, created) = f
        .store
        .put_workspace(&wid(&other_sub, "rg", "shared"), &spec("westus"), &actor())
        .unwrap();
    assert!(created);
    assert_eq!(
        f.store.find_workspaces_by_name("shared", 10).unwrap().len(),
        2
    );
}

#[test]
fn concurrent_creates_of_one_name_have_one_winner() {
    let f = fixture();
    let groups: Vec<String> = (0..8).map(|i| format!("race{i}")).collect();
    for g in &groups {
        f.store
            .put_resource_group(&gid(&f.sub, g), "eastus", &Tags::new())
            .unwrap();
    }
    let store = &f.store;
    let sub = f.sub;
    let outcomes: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = groups
            .iter()
            .map(|g| {
                s.spawn(move || {
                    match store.put_workspace(&wid(&sub, g, "contested"), &spec("eastus"), &actor())
                    {
                        Ok((_, created)) => created,
                        Err(StoreError::NameNotAvailable { .. }) => false,
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(outcomes.iter().filter(|c| **c).count(), 1);
    assert_eq!(
        f.store
            .find_workspaces_by_name("contested", 100)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn live_key_version_follows_regeneration_disabling_and_deletion() {
    let f = fixture();
    let (w, _) = f
        .store
        .put_workspace(&wid(&f.sub, "rg", "ws1"), &spec("eastus"), &actor())
        .unwrap();
    let live = |slot| f.store.live_key_version(&w.uid, slot).unwrap();
    assert_eq!(live(KeySlot::Primary), Some(1));
    assert_eq!(live(KeySlot::Secondary), Some(1));
    f.store
        .regenerate_keys(&w.uid, &[KeySlot::Primary])
        .unwrap();
    assert_eq!(live(KeySlot::Primary), Some(2));
    assert_eq!(live(KeySlot::Secondary), Some(1));
    let mut disabled = spec("eastus");
    disabled.api_key_enabled = false;
    f.store
        .put_workspace(&wid(&f.sub, "rg", "ws1"), &disabled, &actor())
        .unwrap();
    assert_eq!(live(KeySlot::Primary), None);
    assert_eq!(live(KeySlot::Secondary), None);
    f.store
        .put_workspace(&wid(&f.sub, "rg", "ws1"), &spec("eastus"), &actor())
        .unwrap();
    assert_eq!(live(KeySlot::Primary), Some(2));
    f.store.delete_workspace(&wid(&f.sub, "rg", "ws1")).unwrap();
    assert_eq!(live(KeySlot::Primary), None);
}

#[test]
fn deleting_a_workspace_purges_its_data_plane_rows_only() {
    let f = fixture();
    let (w, _) = f
        .store
        .put_workspace(&wid(&f.sub, "rg", "ws1"), &spec("eastus"), &actor())
        .unwrap();
    let (other, _) = f
        .store
        .put_workspace(&wid(&f.sub, "rg", "ws2"), &spec("eastus"), &actor())
        .unwrap();
    let js = crate::jobs::JobStore::open(f._dir.path()).unwrap();
    for (uid, id) in [(&w.uid, "a"), (&other.uid, "b")] {
        let row = crate::jobs::ItemRow {
            workspace_uid: uid.clone(),
            id: id.into(),
            item_type: "Job".into(),
            session_id: None,
            status: "Waiting".into(),
            created_at: 1,
            doc: "{}".into(),
        };
        js.insert_job(&row, "ionq", "2026-12", None)
            .unwrap()
            .unwrap();
        assert!(js.claim_container(uid, &format!("job-{id}")).unwrap());
    }
    assert_eq!(
        js.active_job_ids(&w.uid, 10).unwrap(),
        vec!["a".to_string()]
    );
    f.store.delete_workspace(&wid(&f.sub, "rg", "ws1")).unwrap();
    assert!(js.get_item(&w.uid, "a").unwrap().is_none());
    assert!(js.quota_usage(&w.uid, "2026-12").unwrap().is_empty());
    assert_eq!(js.container_owner("job-a").unwrap(), None);
    // A late scheduler update of the purged job finds no row and writes nothing.
    assert!(js
        .update_item(&w.uid, "a", |_| Some(("Succeeded".into(), "{}".into())))
        .unwrap()
        .is_none());
    assert!(js.get_item(&w.uid, "a").unwrap().is_none());
    // The other workspace keeps everything.
    assert!(js.get_item(&other.uid, "b").unwrap().is_some());
    assert_eq!(
        js.container_owner("job-b").unwrap().as_deref(),
        Some(other.uid.as_str())
    );
    f.store.delete_resource_group(&gid(&f.sub, "rg")).unwrap();
    assert!(js.get_item(&other.uid, "b").unwrap().is_none());
    assert!(js.quota_usage(&other.uid, "2026-12").unwrap().is_empty());
}

/// The workspace `sub/rg/ws` (names valid in every test).
fn wid(sub: &SubscriptionId, rg: &str, ws: &str) -> WorkspaceId {
    WorkspaceId::from_parts(&sub.to_string(), rg, ws).unwrap()
}

/// The resource group `sub/rg`.
fn gid(sub: &SubscriptionId, rg: &str) -> ResourceGroupId {
    ResourceGroupId::parse(&sub.to_string(), rg).unwrap()
}

#[test]
fn key_uses_are_recorded_per_slot_and_reset_by_regeneration() {
    let f = fixture();
    let (w, _) = f
        .store
        .put_workspace(&wid(&f.sub, "rg", "used"), &spec("eastus"), &actor())
        .unwrap();
    let last_used = |slot| {
        let keys = f.store.workspace_keys(&w.uid).unwrap();
        keys.keys
            .into_iter()
            .find(|k| k.slot == slot)
            .unwrap()
            .last_used
    };
    assert_eq!(last_used(KeySlot::Primary), None);
    let created = f.store.workspace_keys(&w.uid).unwrap().keys[0].created_at;
    let used = KeyUse {
        at: created + 5,
        from: "127.0.0.1".into(),
    };
    f.store
        .record_key_uses(&[(w.uid.clone(), KeySlot::Primary, used.clone())])
        .unwrap();
    assert_eq!(last_used(KeySlot::Primary), Some(used));
    assert_eq!(last_used(KeySlot::Secondary), None);

    f.store
        .regenerate_keys(&w.uid, &[KeySlot::Primary])
        .unwrap();
    assert_eq!(last_used(KeySlot::Primary), None);
    // A use noted before the regeneration is not attributed to the new key.
    let stale = KeyUse {
        at: created - 1,
        from: "127.0.0.2".into(),
    };
    f.store
        .record_key_uses(&[(w.uid.clone(), KeySlot::Primary, stale)])
        .unwrap();
    assert_eq!(last_used(KeySlot::Primary), None);
}

/// A second store on the same database file: what another process (or node) sharing it sees.
fn second_store(f: &Fixture) -> Store {
    Store::open(f._dir.path(), Crypto::from_master_key(&[9; 32])).unwrap()
}

#[test]
fn cached_credentials_see_changes_made_through_another_connection_at_once() {
    let f = fixture();
    let other = second_store(&f);
    let id = wid(&f.sub, "rg", "shared");
    let (w, _) = f
        .store
        .put_workspace(&id, &spec("eastus"), &actor())
        .unwrap();
    let key = |slot: usize| {
        f.store.workspace_keys(&w.uid).unwrap().keys[slot]
            .key
            .expose()
            .to_string()
    };
    let check = |presented: &str| {
        let creds = f.store.workspace_credentials(&id).unwrap();
        f.store.match_access_key(creds.as_deref(), presented)
    };
    // The key versions SAS name, as the credentials carry them and as the database has them.
    let versions = |slot: KeySlot| {
        let cached = f
            .store
            .workspace_credentials(&id)
            .unwrap()
            .and_then(|c| c.live_key_version(slot));
        assert_eq!(cached, f.store.live_key_version(&w.uid, slot).unwrap());
        cached
    };
    let (primary, secondary) = (key(0), key(1));
    assert_eq!(check(&primary), KeyCheck::Primary);
    let v = f.store.change_version().unwrap();
    assert!(
        f.store.cached_workspace_credentials(&id, v).is_some(),
        "served from memory while nothing changed"
    );
    let first = versions(KeySlot::Primary).expect("keys are enabled");

    // Regenerated by the other store: the old key is refused on the next check.
    other.regenerate_keys(&w.uid, &[KeySlot::Primary]).unwrap();
    assert!(f
        .store
        .cached_workspace_credentials(&id, f.store.change_version().unwrap())
        .is_none());
    assert_eq!(check(&primary), KeyCheck::Refused);
    assert_eq!(check(&key(0)), KeyCheck::Primary);
    assert!(versions(KeySlot::Primary).expect("still enabled") > first);

    // Keys disabled by the other store.
    let mut off = spec("eastus");
    off.api_key_enabled = false;
    other.put_workspace(&id, &off, &actor()).unwrap();
    assert_eq!(check(&secondary), KeyCheck::Refused);
    assert_eq!(
        versions(KeySlot::Secondary),
        None,
        "no SAS stand on disabled keys"
    );
    other.put_workspace(&id, &spec("eastus"), &actor()).unwrap();
    assert_eq!(check(&secondary), KeyCheck::Secondary);

    // Deleted by the other store.
    other.delete_workspace(&id).unwrap();
    assert!(f.store.workspace_credentials(&id).unwrap().is_none());
    assert_eq!(check(&secondary), KeyCheck::Refused);
}

#[test]
fn key_usage_does_not_move_the_change_version_but_access_changes_do() {
    let f = fixture();
    let id = wid(&f.sub, "rg", "quiet");
    let (w, _) = f
        .store
        .put_workspace(&id, &spec("eastus"), &actor())
        .unwrap();
    let before = f.store.change_version().unwrap();
    let used = KeyUse {
        at: now_nanos() / 1_000_000_000,
        from: "127.0.0.1".into(),
    };
    f.store
        .record_key_uses(&[(w.uid.clone(), KeySlot::Primary, used)])
        .unwrap();
    assert_eq!(f.store.change_version().unwrap(), before);
    f.store
        .set_workspace_tags(&id, &Tags::new(), &actor())
        .unwrap();
    assert!(f.store.change_version().unwrap() > before);
}

#[test]
fn storage_accounts_move_the_change_version() {
    // A workspace's blob namespace follows the account its storageAccount names; SAS checks
    // remember it between changes.
    let f = fixture();
    let id = qws_core::resource_id::StorageAccountId::parse(&format!(
        "/subscriptions/{}/resourceGroups/RG/providers/Microsoft.Storage/storageAccounts/qwsdata1",
        f.sub
    ))
    .unwrap();
    let spec = crate::store::arm_resources::StorageAccountSpec {
        location: "eastus".into(),
        tags: Tags::new(),
        sku: "Standard_LRS".into(),
        kind: "StorageV2".into(),
        properties: serde_json::json!({}),
    };
    let before = f.store.change_version().unwrap();
    f.store.put_storage_account(&id, &spec).unwrap().unwrap();
    let created = f.store.change_version().unwrap();
    assert!(created > before);
    f.store.delete_storage_account(&id).unwrap().unwrap();
    assert!(f.store.change_version().unwrap() > created);
}

#[test]
fn cached_grants_see_a_role_removed_through_another_connection_at_once() {
    let f = fixture();
    let other = second_store(&f);
    let sp = f
        .store
        .identity()
        .create_service_principal("t", "researcher")
        .unwrap();
    let scope = qws_core::rbac::Scope::subscription(&f.sub);
    let name = uuid::Uuid::new_v4().to_string();
    f.store
        .identity()
        .put_role_assignment(crate::identity::AssignmentRequest {
            name: &name,
            scope: &scope,
            role_definition_id: qws_core::rbac::builtin::OWNER,
            principal_id: &sp.object_id,
            principal_type: None,
            description: None,
            actor: None,
        })
        .unwrap();
    let grants = |s: &Store| s.identity().access_of(&sp.object_id).unwrap();
    assert_eq!(grants(&f.store).assignments.len(), 1);
    let cached = grants(&f.store);
    assert!(
        std::sync::Arc::ptr_eq(&cached, &grants(&f.store)),
        "served from memory while nothing changed"
    );
    other.identity().delete_role_assignment(&name).unwrap();
    assert!(
        grants(&f.store).assignments.is_empty(),
        "the removal made by the other connection applies at once"
    );
}
