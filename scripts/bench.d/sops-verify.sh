# The SOPS preflight on 300 age-encrypted Secrets: `fluxci sops verify` (decrypts every file,
# MAC checked) against a shell loop of `sops -d` (the Go binary) over the same files.
# Sourced by scripts/bench.
dir="$work/secrets"; mkdir -p "$dir"
age-keygen -o "$work/age.key" 2>/dev/null
recipient=$(age-keygen -y "$work/age.key")
for i in $(seq -w 1 300); do
  printf 'apiVersion: v1\nkind: Secret\nmetadata:\n    name: secret-%s\n    namespace: apps\ntype: Opaque\nstringData:\n    username: user-%s\n    password: password-%s-%s\ndata:\n    token: dG9rZW4tJXM=\n' "$i" "$i" "$i" "$RANDOM" > "$dir/secret-$i.yaml"
done
for f in "$dir"/*.yaml; do "$SOPS_GO" --encrypt --in-place --age "$recipient" --encrypted-regex '^(data|stringData)$' "$f"; done

fluxci_verify() { SOPS_AGE_KEY_FILE="$work/age.key" TMPDIR="$work" "$FLUXCI" sops verify "$dir"; }
sops_loop() { for f in "$dir"/*.yaml; do SOPS_AGE_KEY_FILE="$work/age.key" "$SOPS_GO" -d "$f" >/dev/null || return 1; done; }
load_before=$(cut -d' ' -f1 /proc/loadavg)
pair=$(time_pair 3 fluxci_verify sops_loop)
read -r fluxci_ms sops_ms <<<"$pair"
row "sops verify, 300 age Secrets" "$fluxci_ms" "sops -d loop (Go binary)" "$sops_ms" \
  "fluxci: $(awk -v ms="$fluxci_ms" 'BEGIN { printf "%.0f files/s", 300 / (ms / 1000) }'); $(nproc) cores, load $load_before→$(cut -d' ' -f1 /proc/loadavg)"
