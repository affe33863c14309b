//! Criterion benchmarks of the operator's pure path: no client, no clock, no I/O.
//!
//! Run: `cargo bench --bench pure_path -- --warm-up-time 1 --measurement-time 3`
//! (wall-clock time), or with `PURE_PATH_CLOCK=cpu` for the thread's CPU time.
//! Results and targets: docs/performance.md ("Pure path").
//!
//! Every benchmark reports a throughput of one element per iteration, so criterion prints
//! "elem/s" (values parsed, configs read, decisions made, validators rendered per second).

use std::ffi::OsString;
use std::hint::black_box;

use canton_operator::api::{KmsServiceAccount, KmsSpec, Validator};
use canton_operator::config::{self, OperatorConfig};
use canton_operator::decision;
use canton_operator::kms::{self, AwsKms, KmsMode, KmsProvider};
use canton_operator::manifest;
use canton_operator::render;
use criterion::measurement::Measurement;
use criterion::{BenchmarkId, Criterion, Throughput};

/// The seed's `CANTON_TOPOLOGY_KMS_VALUE`.
const SEED_VALUE: &str = r#"{ type = "aws", region = "eu-west-1", audit-logging = true }"#;

/// A GCP value with every GCP key.
const GCP_VALUE: &str = r#"{
  type = "gcp"
  location-id = "europe-west1"
  project-id = "acme-canton-prod"
  key-ring-id = "canton-participant-keys"
  audit-logging = true
  endpoint-override = "https://cloudkms.europe-west1.rep.googleapis.com"
}"#;

/// A typical driver value: the shape of `tests/fixtures/driver.yaml` as HOCON.
const DRIVER_VALUE: &str = r#"{ type = "driver", name = "acme-hsm", health-check-period = "30s", config = { endpoint = "https://hsm.acme.example:8443", slots = [1, 2], tls = { enabled = true, ca-file = "/etc/hsm/ca.pem" }, retry = { attempts = 3, backoff = 1.5 } } }"#;

/// A large driver value (a stress case, ~500 bytes): a deeper free-form configuration with
/// objects, arrays, numbers, booleans and null.
const DRIVER_NESTED_VALUE: &str = r#"{
  type = "driver"
  name = "acme-hsm-driver"
  health-check-period = "10s"
  config = {
    cluster = "hsm-eu-1"
    partition = "canton-prod"
    slots = [1, 2, 3, 4]
    endpoints = ["https://hsm-a.acme.example:8443", "https://hsm-b.acme.example:8443"]
    timeouts = { connect-ms = 5000, read-ms = 30000, backoff-factor = 1.5 }
    retry = { max-attempts = 5, enabled = true, jitter = null }
    tls = { verify = true, ca-file = "/etc/hsm/ca.pem", ciphers = ["TLS_AES_256_GCM_SHA384"] }
  }
}"#;

/// The KMS value fixtures.
const KMS_VALUES: [(&str, &str); 4] = [
    ("seed_aws", SEED_VALUE),
    ("gcp", GCP_VALUE),
    ("driver", DRIVER_VALUE),
    ("driver_nested", DRIVER_NESTED_VALUE),
];

const VALIDATOR_YAML: &str = include_str!("../examples/validator.yaml");

/// The seed's environment: KMS on, the seed's value, an IRSA-annotated ServiceAccount.
fn seed_env(name: &str) -> Option<OsString> {
    match name {
        config::ENABLED_VAR => Some("true".into()),
        config::VALUE_VAR => Some(SEED_VALUE.into()),
        config::SERVICE_ACCOUNT_VAR => Some("canton-kms".into()),
        _ => None,
    }
}

fn seed_config() -> OperatorConfig {
    let config = OperatorConfig::from_lookup(seed_env);
    assert!(config.errors().is_empty(), "{:?}", config.errors());
    config
}

/// The example validator, decoded once (decoding is not part of the measured render).
fn example_validator() -> Validator {
    manifest::decode_validator(VALIDATOR_YAML).expect("examples/validator.yaml decodes")
}

/// The example validator with its own `spec.kms` (AWS, external mode, an existing ServiceAccount).
fn example_validator_with_kms() -> Validator {
    let mut v = example_validator();
    v.spec.kms = Some(KmsSpec {
        enabled: true,
        mode: KmsMode::External,
        aws: Some(AwsKms {
            region: "eu-west-1".into(),
            audit_logging: Some(true),
            ..AwsKms::default()
        }),
        service_account: Some(KmsServiceAccount {
            name: Some("canton-kms".into()),
            ..KmsServiceAccount::default()
        }),
        ..KmsSpec::default()
    });
    v
}

/// Decision, render and serialization of every object to one YAML stream: exactly what
/// `manifest::render_yaml` does after decoding the file.
fn render_to_yaml(validator: &Validator, config: &OperatorConfig) -> String {
    let decision = decision::resolve(&validator.spec, &config.kms_default).expect("decision");
    let rendered = render::render(validator, &decision).expect("render");
    manifest::rendered_yaml(&rendered).expect("yaml")
}

fn bench_parse_kms_value<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("parse_kms_value");
    group.throughput(Throughput::Elements(1));
    for (name, text) in KMS_VALUES {
        // Fail loudly if a fixture stops parsing: an error path would be measured instead.
        kms::parse_kms_value(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        group.bench_with_input(BenchmarkId::from_parameter(name), text, |b, text| {
            b.iter(|| kms::parse_kms_value(black_box(text)))
        });
    }
    group.finish();
}

fn bench_emit_kms<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("participant_env");
    group.throughput(Throughput::Elements(1));
    let provider = kms::parse_kms_value(SEED_VALUE).unwrap();
    group.bench_function("seed_aws_external", |b| {
        b.iter(|| kms::participant_env(black_box(&provider), KmsMode::External, None))
    });
    let driver: KmsProvider = kms::parse_kms_value(DRIVER_NESTED_VALUE).unwrap();
    group.bench_function("driver_nested_external", |b| {
        b.iter(|| kms::participant_env(black_box(&driver), KmsMode::External, None))
    });
    group.finish();
}

fn bench_config<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("config_from_lookup");
    group.throughput(Throughput::Elements(1));
    seed_config();
    group.bench_function("seed_env", |b| {
        b.iter(|| OperatorConfig::from_lookup(black_box(seed_env)))
    });
    group.finish();
}

fn bench_resolve<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("decision_resolve");
    group.throughput(Throughput::Elements(1));
    let config = seed_config();
    let plain = example_validator();
    let with_kms = example_validator_with_kms();
    decision::resolve(&with_kms.spec, &config.kms_default).expect("spec.kms decision");
    group.bench_function("environment_default", |b| {
        b.iter(|| decision::resolve(black_box(&plain.spec), black_box(&config.kms_default)))
    });
    group.bench_function("spec_kms", |b| {
        b.iter(|| decision::resolve(black_box(&with_kms.spec), black_box(&config.kms_default)))
    });
    group.finish();
}

fn bench_render<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("render");
    group.throughput(Throughput::Elements(1));
    let config = seed_config();
    let validator = example_validator();
    let decision = decision::resolve(&validator.spec, &config.kms_default).unwrap();
    group.bench_function("example_validator", |b| {
        b.iter(|| render::render(black_box(&validator), black_box(&decision)))
    });
    let rendered = render::render(&validator, &decision).unwrap();
    group.bench_function("rendered_yaml", |b| {
        b.iter(|| manifest::rendered_yaml(black_box(&rendered)))
    });
    group.bench_function("to_json", |b| b.iter(|| black_box(&rendered).to_json()));
    group.finish();
}

fn bench_end_to_end<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("end_to_end");
    group.throughput(Throughput::Elements(1));
    let config = seed_config();
    let validator = example_validator();
    let with_kms = example_validator_with_kms();
    // The same stream `canton-operator render` prints, minus decoding.
    assert_eq!(
        render_to_yaml(&validator, &config),
        manifest::render_yaml(VALIDATOR_YAML, &config).unwrap()
    );
    group.bench_function("resolve_render_yaml/environment_default", |b| {
        b.iter(|| render_to_yaml(black_box(&validator), black_box(&config)))
    });
    group.bench_function("resolve_render_yaml/spec_kms", |b| {
        b.iter(|| render_to_yaml(black_box(&with_kms), black_box(&config)))
    });
    // With decoding of the YAML file as well: `manifest::render_yaml`, the offline command.
    group.bench_function("manifest_render_yaml", |b| {
        b.iter(|| manifest::render_yaml(black_box(VALIDATOR_YAML), black_box(&config)))
    });
    group.finish();
}

fn run<M: Measurement>(c: &mut Criterion<M>) {
    bench_parse_kms_value(c);
    bench_emit_kms(c);
    bench_config(c);
    bench_resolve(c);
    bench_render(c);
    bench_end_to_end(c);
}

/// `PURE_PATH_CLOCK=cpu` measures the benchmark thread's CPU time instead of wall-clock time, so
/// other processes on a shared machine do not inflate the numbers ("per validator on one core").
fn main() {
    if std::env::var_os("PURE_PATH_CLOCK").is_some_and(|v| v == "cpu") {
        let mut c = Criterion::default()
            .with_measurement(cpu_time::ThreadCpuTime)
            .configure_from_args();
        run(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default().configure_from_args();
        run(&mut c);
        c.final_summary();
    }
}

/// Per-thread CPU time (`CLOCK_THREAD_CPUTIME_ID`), in nanoseconds, as a criterion measurement.
mod cpu_time {
    use criterion::measurement::{Measurement, ValueFormatter, WallTime};

    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }

    unsafe extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }

    /// Linux's clock id for the calling thread's CPU time.
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

    fn now_ns() -> u64 {
        let mut ts = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec (x86_64/aarch64 Linux layout).
        let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }

    /// Values are nanoseconds, shown like wall-clock durations.
    static NANOS: WallTime = WallTime;

    pub struct ThreadCpuTime;

    impl Measurement for ThreadCpuTime {
        type Intermediate = u64;
        type Value = u64;

        fn start(&self) -> u64 {
            now_ns()
        }
        fn end(&self, start: u64) -> u64 {
            now_ns() - start
        }
        fn add(&self, a: &u64, b: &u64) -> u64 {
            a + b
        }
        fn zero(&self) -> u64 {
            0
        }
        fn to_f64(&self, value: &u64) -> f64 {
            *value as f64
        }
        fn formatter(&self) -> &dyn ValueFormatter {
            NANOS.formatter()
        }
    }
}
