//! Generated documents stay in sync with the types they are generated from.

#[test]
fn crd_reference_matches_the_types() {
    let committed =
        std::fs::read_to_string("docs/crd-reference.md").expect("docs/crd-reference.md exists");
    let generated = canton_operator::reference::markdown();
    assert!(
        committed == generated,
        "docs/crd-reference.md is stale: run `cargo run -- crd --reference > docs/crd-reference.md`"
    );
}

#[test]
fn crd_reference_documents_every_kms_field() {
    let md = canton_operator::reference::markdown();
    for field in [
        "spec.kms.mode",
        "spec.kms.aws.region",
        "spec.kms.gcp.keyRingId",
        "spec.kms.driver.name",
        "spec.serviceAccountName",
        "status.kms.summary",
    ] {
        assert!(
            md.contains(&format!("`{field}`")),
            "{field} missing from the reference"
        );
    }
}
