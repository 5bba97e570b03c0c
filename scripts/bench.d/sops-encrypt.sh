# Encrypting 300 Secrets for an age recipient: a loop of `fluxci sops encrypt` against a loop of
# `sops --encrypt` (the Go binary), the same files and rule. Sourced by scripts/bench.
dir="$work/plain"; mkdir -p "$dir" "$work/enc-fluxci" "$work/enc-sops"
age-keygen -o "$work/encrypt.key" 2>/dev/null
recipient=$(age-keygen -y "$work/encrypt.key")
for i in $(seq -w 1 300); do
  printf 'apiVersion: v1\nkind: Secret\nmetadata:\n    name: secret-%s\n    namespace: apps\ntype: Opaque\nstringData:\n    username: user-%s\n    password: password-%s\n' "$i" "$i" "$i" > "$dir/secret-$i.yaml"
done
fluxci_encrypt() { for f in "$dir"/*.yaml; do GNUPGHOME=/nonexistent "$FLUXCI" sops encrypt --age "$recipient" --encrypted-regex '^(data|stringData)$' "$f" > "$work/enc-fluxci/${f##*/}" || return 1; done; }
sops_encrypt() { for f in "$dir"/*.yaml; do "$SOPS_GO" --encrypt --age "$recipient" --encrypted-regex '^(data|stringData)$' "$f" > "$work/enc-sops/${f##*/}" || return 1; done; }
row "sops encrypt, 300 Secrets (a process each)" "$(time_runs 3 fluxci_encrypt)" "sops --encrypt loop (Go binary)" "$(time_runs 3 sops_encrypt)" "both write ordinary SOPS files"
