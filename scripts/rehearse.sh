#!/usr/bin/env bash
# The main job: rehearse the dev environment end to end against vixens-emulator, on loopback only.
#
#   scripts/rehearse.sh [--keep] [--destroy] [--bench] [--argocd-url]
#
# 1. builds the provider and the emulator (release);  2. installs Terraform (scripts/install-terraform.sh);
# 3. starts vixens-emulator with terraform/environments/local/emulator.yaml;  4. terraform init + apply of
# terraform/environments/local: obsy alone first (roadmap Sprint 1), then obsy+onyx+opale (Sprint 3) with Cilium
# and Argo CD;  5. terraform plan -detailed-exitcode must exit 0;  6. prints the roadmap's validation checks;
# 7. stops the emulator (unless --keep).  --destroy ends with terraform destroy and checks every node went back
# to maintenance mode.  The closing summary gives the state's size, the provider's peak memory (VmHWM) in each
# Terraform command, and where the time went (every provider RPC, from the provider's log).
# --bench adds the plan benchmark: a no-change plan of the full environment against a plan of a configuration
# holding only `provider "vixens" {}`, side by side (VIXENS_BENCH_RUNS times each, default 5): medians, ratio,
# and the full plan's time by RPC.  --argocd-url gives Argo CD's manifest by URL (a loopback HTTP server on
# 127.0.0.1:27001) instead of the file.
#
# Environment: CARGO_TARGET_DIR (honoured, as cargo's build.target-dir), VIXENS_TERRAFORM (a terraform binary to
# use instead of the installed 1.0.3), VIXENS_REHEARSE_DIR (work folder, default .cache/rehearse),
# VIXENS_PROFILE=debug (use the debug build, as scripts/test.sh does to save a release build in CI),
# VIXENS_SKIP_BUILD=1 (reuse what is built).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# A relative CARGO_TARGET_DIR is the caller's (cargo would read it from the repository root after the cd below).
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  case "$CARGO_TARGET_DIR" in
    /*) ;;
    *) CARGO_TARGET_DIR="$PWD/$CARGO_TARGET_DIR" ;;
  esac
  export CARGO_TARGET_DIR
fi
cd "$root"

keep=0
destroy=0
bench=0
argocd_url=0
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    --destroy) destroy=1 ;;
    --bench) bench=1 ;;
    --argocd-url) argocd_url=1 ;;
    -h | --help)
      sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "rehearse: unknown argument '$arg' (use --keep, --destroy, --bench, --argocd-url)" >&2
      exit 2
      ;;
  esac
done

steps=6
[ "$destroy" = 1 ] && steps=$((steps + 1))
[ "$bench" = 1 ] && steps=$((steps + 1))
start=$(date +%s.%N)
step_no=0
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
step_name=""
step() {
  step_no=$((step_no + 1))
  step_name="$1"
  printf '\n==> [%d/%d] %s (%ss elapsed)\n' "$step_no" "$steps" "$step_name" "$(since "$start")"
}
emu_pid=""
http_pid=""
cleanup() {
  local rc=$?
  if [ -n "$http_pid" ]; then
    kill -TERM "$http_pid" 2>/dev/null || true
  fi
  if [ -n "$emu_pid" ] && kill -0 "$emu_pid" 2>/dev/null; then
    if [ "$keep" = 1 ] && [ "$rc" = 0 ]; then
      echo "Emulator left running (pid $emu_pid, control http://$control_addr). Stop it with: kill $emu_pid"
    else
      kill -TERM "$emu_pid" 2>/dev/null || true
      wait "$emu_pid" 2>/dev/null || true
    fi
  fi
  if [ "$rc" != 0 ]; then
    echo "" >&2
    echo "rehearse: FAILED at step $step_no/$steps: $step_name (exit $rc)" >&2
    [ -f "$work/emulator.log" ] && echo "rehearse: emulator log: $work/emulator.log" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT

work=${VIXENS_REHEARSE_DIR:-$root/.cache/rehearse}
env_dir="$root/terraform/environments/local"
# Below 32768: outside Linux's ephemeral port range, so no client socket or `:0` listener can hold it.
control_addr=127.0.0.1:27000
# A rehearsal left running (--keep) owns $work (its state holds the cluster's secrets): refuse before touching it.
if curl -s -m 2 -o /dev/null "http://$control_addr/state" ||
  { [ -f "$work/emulator.pid" ] && kill -0 "$(cat "$work/emulator.pid")" 2>/dev/null; }; then
  echo "rehearse: an emulator is running (control endpoint $control_addr, or pid $(cat "$work/emulator.pid" 2>/dev/null || echo '?')" \
    "from $work); another rehearsal (--keep) may be using $work: stop it first (kill the pid), nothing was removed" >&2
  trap - EXIT
  exit 1
fi
rm -rf "$work"
mkdir -p "$work"

profile=${VIXENS_PROFILE:-release}
step "Build the provider and the emulator ($profile)"
if [ "${VIXENS_SKIP_BUILD:-0}" != 1 ]; then
  if [ "$profile" = release ]; then
    cargo build --release --locked --bin terraform-provider-vixens --bin vixens-emulator
  else
    cargo build --locked --bin terraform-provider-vixens --bin vixens-emulator
  fi
fi
# Where cargo put them: CARGO_TARGET_DIR, build.target-dir of a cargo config, or target/.
target_dir=$(cargo metadata --format-version 1 --no-deps --offline |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
provider_bin="$target_dir/$profile/terraform-provider-vixens"
emulator_bin="$target_dir/$profile/vixens-emulator"
version=$("$provider_bin" --version | awk '{print $NF}')
version=${version#v}

step "Install Terraform"
if [ -n "${VIXENS_TERRAFORM:-}" ]; then
  tf="$VIXENS_TERRAFORM"
else
  bash "$root/scripts/install-terraform.sh" >/dev/null
  tf="${VIXENS_TERRAFORM_CACHE:-$root/.cache/terraform}/1.0.3/terraform"
fi
# The emulator types built-in kinds (server-side apply, OpenAPI) from kubernetes-validate's upstream schemas.
if [ -z "${VIXENS_K8S_SCHEMAS:-}" ]; then
  VIXENS_K8S_SCHEMAS="$(bash "$root/scripts/install-kubernetes-validate.sh")"
  export VIXENS_K8S_SCHEMAS
fi
# Not `| head -n 1`: under pipefail, terraform writing into a closed pipe fails the script at random.
"$tf" version >"$work/terraform-version.txt"
head -n 1 "$work/terraform-version.txt"
mirror="$work/mirror/registry.terraform.io/vixens/vixens/$version/linux_amd64"
mkdir -p "$mirror"
cp "$provider_bin" "$mirror/terraform-provider-vixens_v$version"
cat >"$work/terraformrc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$work/mirror"
    include = ["registry.terraform.io/vixens/vixens"]
  }
  direct {
    exclude = ["registry.terraform.io/vixens/vixens"]
  }
}
EOF
export TF_CLI_CONFIG_FILE="$work/terraformrc"
export TF_IN_AUTOMATION=1
export TF_DATA_DIR="$work/tfdata"
export CHECKPOINT_DISABLE=1
# The provider's INFO lines ("rpc done: rpc=... elapsed_ms=...", "provider exiting: peak_rss_kib=...") go to one
# log file per Terraform command in $work/logs, from which the closing summary tells the provider's share of the
# wall time from Terraform core's and its peak memory. They never hold values (see src/logging.rs).
export TF_LOG_PROVIDER="${TF_LOG_PROVIDER:-INFO}"
logs="$work/logs"
mkdir -p "$logs"
export TF_LOG_PATH="$logs/other.log"

built=$(date +%s.%N)

step "Start vixens-emulator (terraform/environments/local/emulator.yaml)"
mkdir -p "$work/emulator-state"
"$emulator_bin" --topology "$env_dir/emulator.yaml" --state-dir "$work/emulator-state" --control "$control_addr" \
  >"$work/emulator.out" 2>"$work/emulator.log" &
emu_pid=$!
echo "$emu_pid" >"$work/emulator.pid"
for _ in $(seq 1 200); do
  grep -qx ready "$work/emulator.out" 2>/dev/null && break
  if ! kill -0 "$emu_pid" 2>/dev/null; then
    cat "$work/emulator.log" >&2
    echo "rehearse: vixens-emulator exited; if an address is in use, another rehearsal (--keep) may still hold" \
      "127.0.0.1:27000 and the node addresses: stop it first" >&2
    exit 1
  fi
  sleep 0.05
done
grep -qx ready "$work/emulator.out"
echo "emulator ready (pid $emu_pid)"

# umask 077: the state file Terraform writes (machine secrets, kubeconfig) is the operator's only (0600).
tfe() { (umask 077 && "$tf" -chdir="$env_dir" "$@"); }
# `tfl NAME terraform-args...`: tfe with the provider's log in $logs/NAME.log.
tfl() {
  local name=$1
  shift
  TF_LOG_PATH="$logs/$name.log" tfe "$@"
}
state="$work/terraform.tfstate"
rm -f "$env_dir/.terraform.lock.hcl"
source_args=()
if [ "$argocd_url" = 1 ]; then
  # Argo CD's manifest by URL, from a loopback HTTP server, with the same sha256 pin.
  python3 -m http.server 27001 --bind 127.0.0.1 --directory "$root/../shared/fixtures/argocd/v3.5.1" \
    >"$work/http.log" 2>&1 &
  http_pid=$!
  cat >"$work/argocd-url.tfvars" <<EOF
argocd_install_manifest_file = null
argocd_install_manifest_url  = "http://127.0.0.1:27001/install.yaml"
EOF
  source_args=(-var-file="$work/argocd-url.tfvars")
fi

step "terraform init + apply: obsy alone (Sprint 1), then obsy+onyx+opale with Cilium and Argo CD (Sprint 3)"
tfl init init -input=false -no-color >"$work/init.log" || { cat "$work/init.log"; exit 1; }
# The binary under test is the shipped one: exactly the three resources, no test-only resource.
tfe providers schema -json | python3 -c '
import json, sys
got = set(json.load(sys.stdin)["provider_schemas"]["registry.terraform.io/vixens/vixens"]["resource_schemas"])
want = {"vixens_talos_cluster", "vixens_cilium", "vixens_argocd_bootstrap"}
sys.exit(0 if got == want else f"provider resources {sorted(got)}, expected {sorted(want)}")'
t0=$(date +%s.%N)
tfl apply1 apply -input=false -auto-approve -no-color -state="$state" "${source_args[@]}" \
  -var 'active_nodes=["obsy"]' >"$work/apply1.log" || { cat "$work/apply1.log"; exit 1; }
grep '^Apply complete' "$work/apply1.log"
t1=$(date +%s.%N)
tfl apply2 apply -input=false -auto-approve -no-color -state="$state" "${source_args[@]}" >"$work/apply2.log" \
  || { cat "$work/apply2.log"; exit 1; }
grep '^Apply complete' "$work/apply2.log"
t2=$(date +%s.%N)
echo "apply obsy: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s, apply full dev topology: $(since "$t1")s"

step "terraform plan -detailed-exitcode (must say: No changes)"
set +e
tfl plan plan -input=false -no-color -detailed-exitcode -state="$state" "${source_args[@]}" >"$work/plan.log"
plan_rc=$?
set -e
grep -E 'No changes|Plan:' "$work/plan.log" || true
if [ "$plan_rc" != 0 ]; then
  cat "$work/plan.log"
  echo "plan exited $plan_rc, expected 0 (no changes)" >&2
  exit 1
fi
# The state keeps what identifies each install, not manifests (issue 18: at most 100 KB).
state_size=$(stat -c %s "$state")
echo "state: $state_size bytes"
[ "$state_size" -le 102400 ] || { echo "the state is $state_size bytes, over 100 KB" >&2; exit 1; }

step "Roadmap validation checks"
# One `terraform output -json` (each Terraform run costs a process start and a state read).
(umask 077 && tfe output -state="$state" -json >"$work/outputs.json")
# Created 0600 (umask in a subshell), never world-readable even for a moment.
rm -f "$work/kubeconfig"
(umask 077 && python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kubeconfig"]["value"], end="")' \
  "$work/outputs.json" >"$work/kubeconfig")
export KUBECONFIG="$work/kubeconfig"
echo "--- kubectl get nodes -o wide"
kubectl get nodes -o wide
ready=$(kubectl get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True)
[ "$ready" = 3 ] || { echo "expected 3 Ready nodes, got $ready" >&2; exit 1; }
echo "--- etcd members"
members=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["etcd_members"]["value"]; print(json.dumps(m)); print(len(m))' \
  "$work/outputs.json")
echo "$members" | head -n 1
members=$(echo "$members" | tail -n 1)
[ "$members" = 3 ] || { echo "expected 3 etcd members, got $members" >&2; exit 1; }
echo "--- Cilium DaemonSet"
kubectl -n kube-system get ds cilium
echo "--- LoadBalancer IP pools"
kubectl get ciliumloadbalancerippools.cilium.io
echo "--- root Application"
kubectl -n argocd get applications.argoproj.io
app=$(kubectl -n argocd get applications.argoproj.io root \
  -o jsonpath='{.status.sync.status}/{.status.health.status} {.spec.source.targetRevision}')
echo "root: $app"
[ "$app" = "Synced/Healthy dev" ] || { echo "root app is '$app', expected 'Synced/Healthy dev'" >&2; exit 1; }

if [ "$bench" = 1 ]; then
  step "Plan benchmark: no-change plan of the full environment against provider \"vixens\" {} alone"
  only="$work/provider-only"
  mkdir -p "$only"
  cat >"$only/main.tf" <<'EOF'
terraform {
  required_providers {
    vixens = {
      source = "vixens/vixens"
    }
  }
}

provider "vixens" {}
EOF
  tfo() { TF_DATA_DIR="$only/.terraform" "$tf" -chdir="$only" "$@"; }
  TF_LOG_PATH="$logs/bench-init.log" tfo init -input=false -no-color >/dev/null
  : >"$work/bench-times"
  for i in $(seq 1 "${VIXENS_BENCH_RUNS:-5}"); do
    a=$(date +%s.%N)
    tfl "bench-full-$i" plan -input=false -no-color -detailed-exitcode -state="$state" "${source_args[@]}" \
      >"$work/bench-plan.log" || { cat "$work/bench-plan.log"; exit 1; }
    b=$(date +%s.%N)
    TF_LOG_PATH="$logs/bench-only-$i.log" tfo plan -input=false -no-color >/dev/null
    echo "$a $b $(date +%s.%N)" >>"$work/bench-times"
  done
  python3 "$root/scripts/provider-logs.py" bench "$logs" "$work/bench-times"
fi

if [ "$destroy" = 1 ]; then
  step "terraform destroy, then every node back in maintenance mode"
  tfl destroy destroy -input=false -auto-approve -no-color -state="$state" "${source_args[@]}" | tail -n 2
  curl -fsS "http://$control_addr/state" >"$work/nodes.json"
  python3 - "$work/nodes.json" <<'EOF'
import json, sys
nodes = json.load(open(sys.argv[1]))["nodes"]
bad = [n["name"] for n in nodes if n.get("configured")]
print("nodes in maintenance mode:", ", ".join(n["name"] for n in nodes if n["name"] not in bad))
sys.exit(f"not reset: {bad}" if bad else 0)
EOF
fi
echo ""
echo "rehearsal passed in $(since "$start")s ($(since "$built")s without the build and the Terraform install)"
# Where the time went: wall time since the build, the union of the provider's RPC intervals (from its log),
# and the emulator's CPU time (utime+stime from /proc; it is idle otherwise, all delays being zero).
emu_ticks=$(awk '{ print $14 + $15 }' "/proc/$emu_pid/stat" 2>/dev/null || echo 0)
python3 "$root/scripts/provider-logs.py" summary "$logs" "$(since "$built")" "$emu_ticks" "$(getconf CLK_TCK)"
echo "state of the full environment: $(stat -c %s "$state") bytes"
