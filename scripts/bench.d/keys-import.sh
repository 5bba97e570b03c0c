# Import of one secret key: `fluxci keys import` (new keyring, import, checks, a decryption
# self-test, agent stopped by `keys cleanup`) against `gpg --batch --import` into a fresh home
# (agent stopped by gpgconf). Sourced by scripts/bench.
home="$work/keys-home"; mkdir -m 700 -p "$home"
gpg --homedir "$home" --batch --passphrase '' --quick-gen-key 'Bench <bench@example.com>' ed25519 cert,sign never 2>/dev/null
fpr=$(gpg --homedir "$home" --with-colons --list-keys | awk -F: '/^fpr/{print $10; exit}')
gpg --homedir "$home" --batch --passphrase '' --quick-add-key "$fpr" cv25519 encr never 2>/dev/null
gpg --homedir "$home" --batch --armor --export-secret-keys "$fpr" > "$work/key.asc"
gpgconf --homedir "$home" --kill all

mkdir -p "$work/kr"
fluxci_import() {
  SOPS_GPG_KEY="$(cat "$work/key.asc")" TMPDIR="$work/kr" "$FLUXCI" keys import || return 1
  for keyring in "$work"/kr/fluxci.*; do "$FLUXCI" keys cleanup --keyring "$keyring" || return 1; done
}
gpg_import() {
  local dir; dir=$(mktemp -d "$work/gpg.XXXXXX")
  gpg --homedir "$dir" --batch --import "$work/key.asc" 2>/dev/null
  gpgconf --homedir "$dir" --kill all; rm -rf "$dir"
}
row "keys import (1 ed25519 key)" "$(time_runs 9 fluxci_import)" "gpg --batch --import" "$(time_runs 9 gpg_import)" "fluxci also test-decrypts"
