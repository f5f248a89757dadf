//! No secret in any diagnostic or provider log line (issue 15 item 2): malformed versions of every sensitive input
//! (kubeconfig with a YAML typo or a mistyped field, PEM fields, client keys, repository password and SSH key, the
//! admin password, an inline manifest holding a Secret, config patches with a token, a secrets.yaml for import)
//! go through `terraform validate`, `plan` and `import` with `TF_LOG=trace`, on 1.0.3 and 0.15; each must fail
//! with an error at its attribute, and no secret marker may appear anywhere in the output.

mod common;

use common::{Terraform, Workspace};

/// Each secret carries this marker; none may appear in any output.
const MARK: &str = "Zq9SECRETx";

fn secret(n: u32) -> String {
    format!("{MARK}{n:02}AbCdEfGhIjKlMnOp")
}

fn kubeconfig(user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\nusers:\n- name: u\n  user:\n{user}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
    )
}

fn hcl(s: &str) -> String {
    serde_json::to_string(s).expect("JSON string")
}

/// Sensitive input variables (as users pass secrets: Terraform quotes literals of the configuration itself in
/// its diagnostics, and prints variables marked sensitive as "(sensitive)").
#[derive(Default)]
struct Vars(Vec<String>);

impl Vars {
    /// Declares a sensitive variable holding `value`; returns `var.<name>`.
    fn add(&mut self, value: &str) -> String {
        self.0.push(value.to_string());
        format!("var.s{}", self.0.len())
    }

    fn declarations(&self) -> String {
        (1..=self.0.len())
            .map(|i| {
                format!("variable \"s{i}\" {{\n  type      = string\n  sensitive = true\n}}\n")
            })
            .collect()
    }

    fn tfvars(&self) -> String {
        self.0
            .iter()
            .enumerate()
            .map(|(i, v)| format!("s{} = {}\n", i + 1, hcl(v)))
            .collect()
    }
}

const REPO: &str = r#"
  version = "v3.5.1"
  install_manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
"#;

/// Resources with one malformed sensitive input each, and the attribute the error must name.
fn cases(vars: &mut Vars) -> Vec<(String, &'static str)> {
    let typo = kubeconfig(&format!(
        "    client-certificate-data: {}\n   client-key-data: {}",
        secret(1),
        secret(2)
    ));
    let mistyped = kubeconfig(&format!("    client-key-data: [{}]", secret(3)));
    let scalar_user = kubeconfig(&format!("    {}", secret(4)));
    let bad_pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}!!\n-----END PRIVATE KEY-----\n",
        secret(5)
    );
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  token: {}\n   bad: [",
        secret(8)
    );
    let patch = format!("machine:\n  token: {}\n   x: [", secret(10));
    vec![
        (
            format!(
                "resource \"vixens_argocd_bootstrap\" \"typo\" {{\n  kubeconfig = {}\n{REPO}\n  repository {{\n    url = \"https://h/r.git\"\n    path = \".\"\n  }}\n}}\n",
                vars.add(&typo)
            ),
            "kubeconfig",
        ),
        (
            format!(
                "resource \"vixens_cilium\" \"mistyped\" {{\n  kubeconfig = {}\n}}\n",
                vars.add(&mistyped)
            ),
            "kubeconfig",
        ),
        (
            format!(
                "resource \"vixens_cilium\" \"scalar\" {{\n  kubeconfig = {}\n}}\n",
                vars.add(&scalar_user)
            ),
            "kubeconfig",
        ),
        (
            format!(
                "resource \"vixens_cilium\" \"pem\" {{\n  kubernetes {{\n    host = \"https://127.0.0.1:6443\"\n    ca_certificate = {}\n    client_certificate = {}\n    client_key = {}\n  }}\n}}\n",
                vars.add(&secret(6)),
                vars.add(&bad_pem),
                vars.add(&bad_pem),
            ),
            "ca_certificate",
        ),
        (
            format!(
                "resource \"vixens_argocd_bootstrap\" \"creds\" {{\n  kubeconfig = {}\n{REPO}\n  admin_password = {}\n  repository {{\n    url = {}\n    path = \".\"\n    password = {}\n  }}\n}}\n",
                vars.add(&kubeconfig("    token: t")),
                vars.add(&secret(7).repeat(4)),
                vars.add("http://h/r.git"),
                vars.add(&secret(9)),
            ),
            "admin_password",
        ),
        (
            format!(
                "resource \"vixens_argocd_bootstrap\" \"ssh\" {{\n  kubeconfig = {}\n  version = \"v3.5.1\"\n  install_manifest = {}\n  repository {{\n    url = \"https://h/r.git\"\n    path = \".\"\n    ssh_private_key = {}\n  }}\n}}\n",
                vars.add(&kubeconfig("    token: t")),
                vars.add(&manifest),
                vars.add(&secret(11)),
            ),
            "install_manifest",
        ),
        (
            format!(
                "resource \"vixens_talos_cluster\" \"t\" {{\n  cluster_name = \"c\"\n  endpoint = \"https://127.0.0.1:6443\"\n  config_patches = [{}]\n  nodes {{\n    name = \"n1\"\n    address = \"127.0.0.1\"\n    role = \"controlplane\"\n  }}\n}}\n",
                vars.add(&patch)
            ),
            "config_patches",
        ),
    ]
}

fn check(tf: &Terraform) {
    let mut vars = Vars::default();
    let cases = cases(&mut vars);
    let config: String = cases.iter().map(|(c, _)| c.as_str()).collect();
    let mut ws = Workspace::new(tf, &format!("{}{config}", vars.declarations()));
    std::fs::write(ws.path().join("terraform.tfvars"), vars.tfvars()).unwrap();
    ws.init();
    ws.set_env("TF_LOG", "trace");
    let v = &tf.version;
    for args in [
        &["validate", "-no-color"][..],
        &["plan", "-input=false"][..],
    ] {
        let out = ws.run(args);
        let all = out.all();
        assert!(
            !all.contains(MARK),
            "terraform {v} {args:?}: a secret in the output:\n{}",
            all.lines()
                .filter(|l| l.contains(MARK))
                .collect::<Vec<_>>()
                .join("\n")
        );
        if args[0] == "validate" {
            continue; // variables are unknown at validate: the checks run at plan
        }
        assert_ne!(out.code, 0, "terraform {v} {args:?}:\n{all}");
        for (_, attribute) in &cases {
            assert!(
                all.contains(attribute),
                "terraform {v} {args:?}: no error names {attribute}:\n{}",
                all.lines()
                    .filter(|l| !l.contains("[TRACE]") && !l.contains("[DEBUG]"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        assert!(
            all.contains("provider.terraform-provider-vixens") || tf.protocol == 5,
            "terraform {v}: the trace log has the provider's lines"
        );
    }
    // terraform import of a malformed secrets.yaml.
    ws.write_config(
        "resource \"vixens_talos_cluster\" \"t\" {\n  cluster_name = \"c\"\n  endpoint = \"https://127.0.0.1:6443\"\n  nodes {\n    name = \"n1\"\n    address = \"127.0.0.1\"\n    role = \"controlplane\"\n  }\n}\n",
    );
    let file = ws.path().join("secrets.yaml");
    std::fs::write(
        &file,
        format!(
            "cluster:\n  id: {}\n  secret: [{}]\nsecrets:\n  bootstraptoken: {}\n",
            secret(12),
            secret(13),
            secret(14)
        ),
    )
    .unwrap();
    let out = ws.run(&[
        "import",
        "-input=false",
        "vixens_talos_cluster.t",
        file.to_str().unwrap(),
    ]);
    assert_ne!(out.code, 0, "terraform {v} import:\n{}", out.all());
    assert!(
        !out.all().contains(MARK),
        "terraform {v} import: a secret in the output:\n{}",
        out.all()
            .lines()
            .filter(|l| l.contains(MARK))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(out.all().contains("secrets.yaml"), "{}", out.all());
}

#[test]
fn malformed_sensitive_inputs_never_show_their_secrets() {
    for tf in [Terraform::get("1.0.3"), Terraform::get("0.15.0-rc2")]
        .into_iter()
        .flatten()
    {
        check(&tf);
    }
}

/// Values that can hold secrets are sensitive or refused (issue 15 item 3): `config_patches` (cluster and node
/// level) are sensitive in the schema Terraform sees, and a repository URL carrying credentials fails the plan
/// at `repository[0].url` with a pointer to `username`/`password`, without repeating the URL.
#[test]
fn patches_are_sensitive_and_urls_with_credentials_are_refused() {
    let Some(tf) = Terraform::get("1.0.3") else {
        return;
    };
    let mut vars = Vars::default();
    let url = vars.add(&format!("https://git:{}@github.com/o/r.git", secret(20)));
    let config = format!(
        "{}resource \"vixens_argocd_bootstrap\" \"a\" {{\n  kubeconfig = {}\n{REPO}\n  repository {{\n    url = {url}\n    path = \".\"\n  }}\n}}\n",
        "",
        hcl(&kubeconfig("    token: t")),
    );
    let ws = Workspace::new(&tf, &format!("{}{config}", vars.declarations()));
    std::fs::write(ws.path().join("terraform.tfvars"), vars.tfvars()).unwrap();
    ws.init();
    let schema = ws.ok(&["providers", "schema", "-json"]);
    let schema: serde_json::Value = serde_json::from_str(&schema.stdout).unwrap();
    let talos = &schema["provider_schemas"]["registry.terraform.io/vixens/vixens"]
        ["resource_schemas"]["vixens_talos_cluster"]["block"];
    assert_eq!(talos["attributes"]["config_patches"]["sensitive"], true);
    assert_eq!(
        talos["block_types"]["nodes"]["block"]["attributes"]["config_patches"]["sensitive"],
        true
    );
    let plan = ws.fails(&["plan", "-input=false"]);
    let all = plan.all();
    assert!(
        all.contains("Invalid repository URL") && all.contains("`username`"),
        "{all}"
    );
    assert!(!all.contains(MARK), "{all}");
}
