//! Every CEL rule of the CRDs this project generates uses only what Kubernetes offers to *new*
//! expressions on the oldest release the chart declares (`kubeVersion` in Chart.yaml), and on the
//! newest release.
//!
//! Kubernetes compiles a CRD rule that is new (created, or changed) with the CEL environment of
//! its *compatibility version*, the previous minor release, so that a rollback can still read
//! what was stored: a library introduced in 1.N is usable in a new CRD rule from 1.N+1 on. A rule
//! using a newer function is refused at `kubectl apply` (`undeclared reference to 'semver'` on
//! 1.33). kube's offline CEL validator has every library at once, so it cannot see this; this
//! test parses each rule with the `cel` crate (the parser kube's validator runs on), collects
//! every function, method, operator and macro it calls, and looks each up in [`LIBRARIES`].
//!
//! [`LIBRARIES`] is Kubernetes' own record of when each library arrived: the `IntroducedVersion`
//! of each entry of `baseOptsWithoutStrictCost` in
//! `staging/src/k8s.io/apiserver/pkg/cel/environment/base.go` (Kubernetes 1.33), with the
//! function names from `staging/src/k8s.io/apiserver/pkg/cel/library/*.go` and cel-go's `ext`
//! (strings, sets, comprehensions) and `cel/library.go` (optional types), as vendored there; the
//! standard functions and macros are CEL's own (all versions). Libraries Kubernetes added after
//! the 1.33 tree are not in the table: a rule using a function it does not list fails as unknown,
//! so the table errs on the side of refusing (add the library, with its `IntroducedVersion`, to
//! use it). Functions are matched by name, not by type: a method two libraries share (`isLessThan`
//! of quantity, 1.28, and of semver, 1.33) counts from the older one, and the constructor
//! (`semver()`) is what gives the newer one away.

use std::collections::BTreeSet;

use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use cel::parser::Parser;
use serde_json::Value;

/// The newest Kubernetes minor release as of December 2026 (1.37, August 2026).
const NEWEST_MINOR: u32 = 37;

/// A group of CEL functions that Kubernetes added to its base environment at one release.
struct Library {
    name: &'static str,
    /// The `IntroducedVersion` minor of base.go (1.x); 0 = the CEL epoch (always present).
    introduced: u32,
    functions: &'static [&'static str],
}

/// Two-variable comprehension macros are named apart from their one-variable namesakes.
const TWO_VARIABLE: &str = " (two variables)";

const LIBRARIES: &[Library] = &[
    Library {
        name: "CEL standard functions, operators and macros",
        introduced: 0,
        functions: &[
            "_?_:_",
            "_&&_",
            "_||_",
            "!_",
            "-_",
            "_+_",
            "_-_",
            "_*_",
            "_/_",
            "_%_",
            "_==_",
            "_!=_",
            "_<_",
            "_<=_",
            "_>_",
            "_>=_",
            "_[_]",
            "@in",
            "@not_strictly_false",
            "has",
            "all",
            "exists",
            "exists_one",
            "map",
            "filter",
            "size",
            "contains",
            "startsWith",
            "endsWith",
            "matches",
            "int",
            "uint",
            "double",
            "string",
            "bytes",
            "bool",
            "duration",
            "timestamp",
            "type",
            "dyn",
            "getFullYear",
            "getMonth",
            "getDayOfYear",
            "getDayOfMonth",
            "getDate",
            "getDayOfWeek",
            "getHours",
            "getMinutes",
            "getSeconds",
            "getMilliseconds",
        ],
    },
    Library {
        name: "cel-go strings extension, version 0",
        introduced: 0,
        functions: &[
            "charAt",
            "indexOf",
            "lastIndexOf",
            "lowerAscii",
            "replace",
            "split",
            "substring",
            "trim",
            "upperAscii",
        ],
    },
    Library {
        name: "Kubernetes URL library",
        introduced: 0,
        functions: &[
            "url",
            "isURL",
            "getScheme",
            "getHost",
            "getHostname",
            "getPort",
            "getEscapedPath",
            "getQuery",
        ],
    },
    Library {
        name: "Kubernetes regex library",
        introduced: 0,
        functions: &["find", "findAll"],
    },
    Library {
        name: "Kubernetes list library",
        introduced: 0,
        functions: &["isSorted", "sum", "min", "max", "indexOf", "lastIndexOf"],
    },
    Library {
        name: "Kubernetes authorizer library",
        introduced: 27,
        functions: &[
            "path",
            "group",
            "serviceAccount",
            "resource",
            "subresource",
            "namespace",
            "name",
            "check",
            "allowed",
            "reason",
            "error",
            "errored",
        ],
    },
    Library {
        name: "Kubernetes quantity library",
        introduced: 28,
        functions: &[
            "quantity",
            "isQuantity",
            "sign",
            "isGreaterThan",
            "isLessThan",
            "compareTo",
            "add",
            "sub",
            "asInteger",
            "isInteger",
            "asApproximateFloat",
        ],
    },
    Library {
        name: "CEL optional types",
        introduced: 28,
        functions: &[
            "_?._",
            "_[?_]",
            "optional.of",
            "optional.none",
            "optional.ofNonZeroValue",
            "optional.unwrap",
            "hasValue",
            "value",
            "or",
            "orValue",
            "optMap",
            "optFlatMap",
            "first",
            "last",
        ],
    },
    Library {
        name: "cel-go strings extension, version 2",
        introduced: 29,
        functions: &["format", "strings.quote", "join"],
    },
    Library {
        name: "cel-go sets extension",
        introduced: 29,
        functions: &["sets.contains", "sets.equivalent", "sets.intersects"],
    },
    Library {
        name: "Kubernetes IP and CIDR libraries",
        introduced: 30,
        functions: &[
            "ip",
            "isIP",
            "ip.isCanonical",
            "family",
            "isLoopback",
            "isUnspecified",
            "isLinkLocalMulticast",
            "isLinkLocalUnicast",
            "isGlobalUnicast",
            "cidr",
            "isCIDR",
            "containsIP",
            "containsCIDR",
            "prefixLength",
            "masked",
        ],
    },
    Library {
        name: "Kubernetes format library",
        introduced: 31,
        functions: &[
            "format.named",
            "format.dns1123Label",
            "format.dns1123Subdomain",
            "format.dns1035Label",
            "format.qualifiedName",
            "format.dns1123LabelPrefix",
            "format.dns1123SubdomainPrefix",
            "format.dns1035LabelPrefix",
            "format.labelValue",
            "format.uri",
            "format.uuid",
            "format.byte",
            "format.date",
            "format.datetime",
            "validate",
        ],
    },
    Library {
        name: "Kubernetes authorizer selectors",
        introduced: 31,
        functions: &["fieldSelector", "labelSelector"],
    },
    Library {
        name: "cel-go two-variable comprehensions",
        introduced: 32,
        functions: &[
            "all (two variables)",
            "exists (two variables)",
            "existsOne (two variables)",
            "transformList",
            "transformMap",
            "transformMapEntry",
        ],
    },
    Library {
        name: "Kubernetes semver library",
        introduced: 33,
        functions: &[
            "semver",
            "isSemver",
            "major",
            "minor",
            "patch",
            "isGreaterThan",
            "isLessThan",
            "compareTo",
        ],
    },
];

/// The library that brought `function` first.
fn first_library(function: &str) -> Option<&'static Library> {
    LIBRARIES
        .iter()
        .filter(|l| l.functions.contains(&function))
        .min_by_key(|l| l.introduced)
}

/// Every function, method, operator and macro `rule` calls, as [`LIBRARIES`] names them.
fn functions(rule: &str) -> Result<BTreeSet<String>, String> {
    let ast = Parser::new()
        .enable_optional_syntax(true)
        .parse(rule)
        .map_err(|e| format!("does not parse: {e}"))?;
    let mut out = BTreeSet::new();
    collect(&ast, &mut out);
    Ok(out)
}

fn collect(expr: &IdedExpr, out: &mut BTreeSet<String>) {
    match &expr.expr {
        Expr::Call(call) => {
            // `sets.contains(…)` parses as the method `contains` on the identifier `sets`.
            let qualified = match call.target.as_deref().map(|t| &t.expr) {
                Some(Expr::Ident(namespace)) => {
                    let name = format!("{namespace}.{}", call.func_name);
                    first_library(&name).map(|_| name)
                }
                _ => None,
            };
            let two_variable = call.target.is_some()
                && call.args.len() == 3
                && ["all", "exists", "existsOne", "exists_one"].contains(&call.func_name.as_str());
            match (qualified, two_variable) {
                (Some(name), _) => {
                    out.insert(name);
                }
                (None, true) => {
                    let name = call.func_name.replace("exists_one", "existsOne");
                    out.insert(format!("{name}{TWO_VARIABLE}"));
                    call.target.iter().for_each(|t| collect(t, out));
                }
                (None, false) => {
                    out.insert(call.func_name.clone());
                    call.target.iter().for_each(|t| collect(t, out));
                }
            }
            call.args.iter().for_each(|a| collect(a, out));
        }
        Expr::Select(select) => {
            if select.test {
                out.insert("has".to_string());
            }
            collect(&select.operand, out);
        }
        Expr::Comprehension(c) => {
            for part in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                collect(part, out);
            }
        }
        Expr::List(list) => list.elements.iter().for_each(|e| collect(e, out)),
        Expr::Map(map) => map.entries.iter().for_each(|e| entry(&e.expr, out)),
        Expr::Struct(s) => s.entries.iter().for_each(|e| entry(&e.expr, out)),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn entry(entry: &EntryExpr, out: &mut BTreeSet<String>) {
    match entry {
        EntryExpr::StructField(field) => collect(&field.value, out),
        EntryExpr::MapEntry(e) => {
            collect(&e.key, out);
            collect(&e.value, out);
        }
    }
}

/// Why `rule` cannot be created as a CRD rule on a Kubernetes whose compatibility version is
/// 1.`compatibility` (one message per function it may not use), or nothing.
fn refusals(rule: &str, compatibility: u32) -> Vec<String> {
    let functions = match functions(rule) {
        Ok(f) => f,
        Err(e) => return vec![e],
    };
    functions
        .iter()
        .filter_map(|f| match first_library(f) {
            None => Some(format!(
                "`{f}` is in no Kubernetes CEL library this test knows (tests/cel_versions.rs)"
            )),
            Some(l) if l.introduced > compatibility => Some(format!(
                "`{f}` comes with the {} (introduced in Kubernetes 1.{}): a new CRD rule may use \
                 it from Kubernetes 1.{} on, whose compatibility version (the previous minor) has \
                 it; here the compatibility version is 1.{compatibility} (Kubernetes 1.{})",
                l.name,
                l.introduced,
                l.introduced + 1,
                compatibility + 1
            )),
            Some(_) => None,
        })
        .collect()
}

/// Every `x-kubernetes-validations` rule of every generated CRD, with where it sits.
fn crd_rules() -> Vec<(String, String)> {
    fn walk(schema: &Value, at: &str, out: &mut Vec<(String, String)>) {
        match schema {
            Value::Object(map) => {
                if let Some(Value::Array(rules)) = map.get("x-kubernetes-validations") {
                    for rule in rules {
                        let text = rule["rule"].as_str().expect("a rule is a string");
                        out.push((at.to_string(), text.to_string()));
                    }
                }
                for (key, value) in map {
                    walk(value, &format!("{at}/{key}"), out);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for crd in canton_operator::manifest::crds() {
        let value = serde_json::to_value(&crd).unwrap();
        walk(&value["spec"], &crd.spec.names.kind, &mut out);
    }
    out
}

/// The minor release of the chart's `kubeVersion: ">=1.N.0-0"`.
fn chart_floor() -> u32 {
    let chart = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/canton-operator/Chart.yaml"),
    )
    .unwrap();
    let line = chart
        .lines()
        .find_map(|l| l.strip_prefix("kubeVersion:"))
        .expect("Chart.yaml declares kubeVersion");
    let version = line.trim().trim_matches('"').trim_start_matches(">=");
    let mut parts = version.split('.');
    assert_eq!(parts.next(), Some("1"), "{line}");
    parts.next().and_then(|m| m.parse().ok()).expect(line)
}

fn assert_every_rule_created_at(compatibility: u32) {
    let rules = crd_rules();
    let refused: Vec<String> = rules
        .iter()
        .flat_map(|(at, rule)| {
            refusals(rule, compatibility)
                .into_iter()
                .map(move |why| format!("{at}: `{rule}`: {why}"))
        })
        .collect();
    assert!(refused.is_empty(), "{}", refused.join("\n"));
}

#[test]
fn every_rule_is_accepted_on_the_oldest_kubernetes_the_chart_declares() {
    let floor = chart_floor();
    assert!(floor >= 29, "the table starts with what 1.28 knows");
    assert_every_rule_created_at(floor - 1);
}

#[test]
fn every_rule_is_accepted_on_the_newest_kubernetes() {
    assert_every_rule_created_at(NEWEST_MINOR - 1);
}

/// The walk finds the rules of both CRDs, the downgrade rule among them, and reads functions
/// out of each: a check that finds nothing would pass anything.
#[test]
fn the_check_sees_every_rule_and_its_functions() {
    let rules = crd_rules();
    for kind in ["Validator", "ValidatorKeyRotation"] {
        assert!(
            rules.iter().any(|(at, _)| at.starts_with(kind)),
            "{kind}: {rules:#?}"
        );
    }
    let (_, version) = rules
        .iter()
        .find(|(_, r)| r.contains("oldSelf.version"))
        .expect("the downgrade rule");
    let used = functions(version).unwrap();
    for f in [
        "matches", "split", "int", "_[_]", "_*_", "_>=_", "!_", "_||_",
    ] {
        assert!(used.contains(f), "{f} in {used:?}");
    }
    let schedule = rules
        .iter()
        .find(|(_, r)| r.contains(".filter("))
        .expect("a rule with a macro");
    let used = functions(&schedule.1).unwrap();
    assert!(used.contains("split") && used.contains("size"), "{used:?}");
}

/// The rule that 1.33 refused: the semver library arrived in 1.33, so a CRD may use it from 1.34.
#[test]
fn a_semver_rule_is_refused_below_1_34_naming_1_34() {
    let rule = "!isSemver(oldSelf.version) || !isSemver(self.version) || \
                !semver(self.version).isLessThan(semver(oldSelf.version))";
    let why = refusals(rule, chart_floor() - 1);
    assert_eq!(why.len(), 2, "{why:#?}");
    for (why, f) in why.iter().zip(["isSemver", "semver"]) {
        assert!(why.starts_with(&format!("`{f}`")), "{why}");
        assert!(
            why.contains("Kubernetes semver library") && why.contains("from Kubernetes 1.34 on"),
            "{why}"
        );
    }
    // 1.33 itself (compatibility version 1.32) refuses it too; 1.34 accepts it.
    assert_eq!(refusals(rule, 32).len(), 2);
    assert_eq!(refusals(rule, 33), Vec::<String>::new());
}

#[test]
fn namespaced_macros_and_unknown_functions_are_told_apart() {
    let cases: &[(&str, u32, &[&str])] = &[
        ("sets.contains(self.a, self.b)", 29, &["sets.contains"]),
        (
            "format.dns1123Label().validate(self.name).hasValue()",
            31,
            &["format.dns1123Label"],
        ),
        ("self.m.all(k, v, v > 0)", 32, &["all (two variables)"]),
        ("self.l.all(x, x > 0)", 0, &[]),
        ("self.?a.orValue('') == ''", 28, &["_?._", "orValue"]),
        ("ip(self.addr).family() == 4", 30, &["ip", "family"]),
        ("self.s.reverse() == ''", u32::MAX, &["reverse"]),
    ];
    for (rule, needs, named) in cases {
        let why = refusals(rule, needs.saturating_sub(1));
        if *needs == 0 {
            assert!(why.is_empty(), "{rule}: {why:#?}");
            continue;
        }
        for f in *named {
            assert!(
                why.iter().any(|w| w.starts_with(&format!("`{f}`"))),
                "{rule}: {f} not named in {why:#?}"
            );
        }
        if *needs != u32::MAX {
            assert_eq!(refusals(rule, *needs), Vec::<String>::new(), "{rule}");
        }
    }
}
