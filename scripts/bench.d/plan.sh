# The Flux tree plan of a 60-Kustomization fleet (scripts/make-bench-fleet: half of them overlays
# patching a base, the real Flux components in flux-system), served over smart HTTP:
# `fluxci bootstrap --plan` (branch, artifact, every kustomize build, origins, checks) against a
# shell loop of `kubectl kustomize --load-restrictor LoadRestrictionsNone` over the same paths
# (the floor a script gets: builds only, no checks). Sourced by scripts/bench.
plan="$work/plan"
mkdir -p "$plan/server/repos" "$plan/server/git"
scripts/make-bench-fleet "$plan/fleet"
git -C "$plan/fleet" init --quiet --initial-branch=main
git -C "$plan/fleet" add -A
git -C "$plan/fleet" -c user.name=bench -c user.email=bench@fluxci.invalid commit --quiet -m fleet
git clone --quiet --bare "$plan/fleet" "$plan/server/repos/fleet.git"
printf '#!/bin/sh\nexport GIT_PROJECT_ROOT=%s\nexport GIT_HTTP_EXPORT_ALL=1\nexec git http-backend\n' "$plan/server/repos" > "$plan/server/git/http"
chmod +x "$plan/server/git/http"
python3 scripts/git-http-server.py "$plan/server" & plan_server=$!
for _ in $(seq 100); do [ -f "$plan/server/port" ] && break; sleep 0.05; done
git -C "$plan/fleet" remote add origin "http://127.0.0.1:$(cat "$plan/server/port")/git/http/fleet.git"
paths=("$plan/fleet/clusters/bench/local/flux-system")
for f in "$plan"/fleet/clusters/bench/local/app-*.yaml; do
  paths+=("$plan/fleet/$(awk '/^  path:/ {print $2}' "$f")")
done
echo "Kustomizations: $(( $(ls "$plan"/fleet/clusters/bench/local/app-*.yaml | wc -l) + 1 )), overlays: $(ls -d "$plan"/fleet/kubernetes/overlays/bench/local/* | wc -l), kubectl kustomize paths: ${#paths[@]}" >&2

fluxci_plan() { (cd "$plan/fleet" && TMPDIR="$work" "$FLUXCI" bootstrap --plan --cluster-path clusters/bench/local); }
kustomize_loop() { for p in "${paths[@]}"; do kubectl kustomize --load-restrictor LoadRestrictionsNone "$p" >/dev/null || return 1; done; }
time_runs 1 fluxci_plan >/dev/null  # a warm-up run (page cache), which also stops on a failing plan
load_before=$(cut -d' ' -f1 /proc/loadavg)
pair=$(time_pair 3 fluxci_plan kustomize_loop)
read -r plan_ms loop_ms <<<"$pair"
row "bootstrap --plan, 60 Kustomizations" "$plan_ms" "kubectl kustomize loop" "$loop_ms" \
  "half overlays; $(nproc) cores, load $load_before→$(cut -d' ' -f1 /proc/loadavg)"
kill "$plan_server"
