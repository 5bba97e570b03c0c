# Resolving the branch and reading the cluster tree of a repository with 2,000 commits and 5,000
# files, served over smart HTTP by the same local git server: `fluxci bootstrap --plan` from a
# checkout that lacks the commit (ls-remote, fetch into a temporary repository, read the tree
# through libgit2 without a checkout) against `git clone --branch` plus reading the same files.
# Sourced by scripts/bench.
repo="$work/gitbench"
mkdir -p "$repo/server/repos" "$repo/server/git"
git init --quiet --bare --initial-branch=main "$repo/server/repos/fleet.git"
python3 - "$repo/server/repos/fleet.git" <<'PY'
import subprocess, sys
bare = sys.argv[1]
out = []
def blob(text):
    data = text.encode()
    return b"data %d\n" % len(data) + data + b"\n"
sync = """apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec: {interval: 1m, url: https://example.invalid/fleet.git, ref: {branch: main}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-system, namespace: flux-system}
spec: {interval: 10m, path: ./clusters/bench/local, prune: true, sourceRef: {kind: GitRepository, name: flux-system}}
"""
apps = """apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec: {interval: 10m, path: ./kubernetes/apps, prune: true, sourceRef: {kind: GitRepository, name: flux-system}}
"""
def configmap(i, rev):
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{i}\n  namespace: apps\ndata:\n  revision: \"{rev}\"\n"
stream = bytearray()
for commit in range(2000):
    stream += b"commit refs/heads/main\ncommitter bench <bench@fluxci.invalid> %d +0000\n" % (1700000000 + commit)
    stream += blob(f"commit {commit}")
    if commit == 0:
        stream += b"M 100644 inline clusters/bench/local/flux-system/gotk-sync.yaml\n" + blob(sync)
        stream += b"M 100644 inline clusters/bench/local/flux-system/kustomization.yaml\n" + blob("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [gotk-sync.yaml]\n")
        stream += b"M 100644 inline clusters/bench/local/apps.yaml\n" + blob(apps)
        for i in range(4997):
            stream += b"M 100644 inline kubernetes/apps/app-%d/configmap.yaml\n" % i + blob(configmap(i, 0))
    else:
        for i in range(commit % 4997, commit % 4997 + 3):
            stream += b"M 100644 inline kubernetes/apps/app-%d/configmap.yaml\n" % (i % 4997) + blob(configmap(i % 4997, commit))
subprocess.run(["git", "--git-dir", bare, "fast-import", "--quiet"], input=bytes(stream), check=True)
PY
printf '#!/bin/sh\nexport GIT_PROJECT_ROOT=%s\nexport GIT_HTTP_EXPORT_ALL=1\nexec git http-backend\n' "$repo/server/repos" > "$repo/server/git/http"
chmod +x "$repo/server/git/http"
python3 scripts/git-http-server.py "$repo/server" & git_server=$!
for _ in $(seq 100); do [ -f "$repo/server/port" ] && break; sleep 0.05; done
url="http://127.0.0.1:$(cat "$repo/server/port")/git/http/fleet.git"
age-keygen -o "$repo/age.key" 2>/dev/null
mkdir -p "$repo/checkout"; git -C "$repo/checkout" init --quiet; git -C "$repo/checkout" remote add origin "$url"

fluxci_read() {
  (cd "$repo/checkout" && SOPS_AGE_KEY_FILE="$repo/age.key" TMPDIR="$work" "$FLUXCI" bootstrap --cloud bench --env local --branch main --plan)
}
git_clone_read() {
  rm -rf "$repo/clone"
  git clone --quiet --branch main "$url" "$repo/clone" && cat "$repo"/clone/clusters/bench/local/*.yaml "$repo"/clone/clusters/bench/local/flux-system/* "$repo"/clone/kubernetes/apps/*/configmap.yaml >/dev/null
}
echo "commits: $(git --git-dir "$repo/server/repos/fleet.git" rev-list --count main), files: $(git --git-dir "$repo/server/repos/fleet.git" ls-tree -r main | wc -l)" >&2
row "resolve + read tree (2,000 commits, 5,000 files)" "$(time_runs 3 fluxci_read)" "git clone --branch + read" "$(time_runs 3 git_clone_read)" "fluxci also parses every manifest"
kill "$git_server"
