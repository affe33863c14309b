//! The `secret` destination (in-cluster, not off-cluster): dumps as labelled Secrets, written,
//! listed, retained and protected exactly like bucket objects, against the fake API server.

mod backup_support;
mod support;

use backup_support::*;
use canton_operator::backup::fetch::Credentials;
use canton_operator::backup::run::{RunSpec, run_with};
use canton_operator::backup::store::{self, Connect, Destination, Store};
use canton_operator::backup::{Outcome, Reason};
use chrono::{TimeZone, Utc};
use k8s_openapi::api::core::v1::Secret;
use support::fake_api::FakeApiServer;

fn spec(app: std::net::SocketAddr, keep: usize) -> RunSpec {
    RunSpec {
        destination: Destination::Secret,
        connect: Connect::default(),
        namespace: NAMESPACE.into(),
        validator: VALIDATOR.into(),
        participant_identifier: IDENTIFIER.into(),
        participant_fingerprint: None,
        validator_app_url: format!("http://{app}"),
        keep,
        credentials: Ok(Credentials {
            token_url: format!("http://{app}/token"),
            client_id: "validator".into(),
            client_secret: "s3cret".into(),
            audience: AUDIENCE.into(),
            scope: None,
        }),
    }
}

async fn secret_names(api: &FakeApiServer) -> Vec<String> {
    let mut names: Vec<String> = api
        .list("v1", "secrets", Some("default"))
        .iter()
        .filter_map(|s| s["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_dumps_are_written_retained_and_bad_ones_touch_nothing() {
    let api = FakeApiServer::new();
    let store = Store::secrets(api.client(), "default");
    let (app, served) = fake_validator_app().await;
    let day = |d: u32| {
        Utc.with_ymd_and_hms(2026, 1, d, 0, 0, 0)
            .single()
            .expect("time")
    };

    for (d, items) in [(1, 3), (2, 4), (3, 5)] {
        served.serve(bytes(&dump(IDENTIFIER, 0x10, items)));
        let r = run_with(&spec(app, 2), &store, day(d)).await;
        assert_eq!(
            (r.outcome, r.reason),
            (Outcome::Verified, Reason::Verified),
            "{}",
            r.message
        );
    }
    assert_eq!(
        secret_names(&api).await,
        vec![
            "acme-identities-20260102t000000z",
            "acme-identities-20260103t000000z"
        ]
    );
    let secret: Secret = serde_json::from_value(
        api.list("v1", "secrets", Some("default"))
            .into_iter()
            .next()
            .expect("a Secret"),
    )
    .expect("Secret");
    let labels = secret.metadata.labels.expect("labels");
    assert_eq!(labels[store::SECRET_KIND_LABEL], store::SECRET_KIND_VALUE);
    assert_eq!(labels[store::SECRET_VALIDATOR_LABEL], VALIDATOR);

    served.serve(bytes(&dump("someone-else", 0x10, 9)));
    let r = run_with(&spec(app, 1), &store, day(4)).await;
    assert_eq!(
        (r.outcome, r.reason),
        (Outcome::Failed, Reason::WrongParticipant)
    );
    assert_eq!(
        secret_names(&api).await,
        vec![
            "acme-identities-20260102t000000z",
            "acme-identities-20260103t000000z"
        ],
        "a failed run deletes nothing"
    );

    let folder = store::folder("", NAMESPACE, VALIDATOR);
    let listed = store.list(&folder, VALIDATOR).await.expect("list");
    assert_eq!(
        listed[0].name,
        format!("{folder}/identities-20260103T000000Z.json")
    );
    let back = store.get(&listed[0].name, VALIDATOR).await.expect("get");
    assert_eq!(back, bytes(&dump(IDENTIFIER, 0x10, 5)));
}
