import Actions
import Foundation
import GPG

/// Where `fluxci sops encrypt` finds the public key of each PGP recipient a rule names by
/// fingerprint, so that a teammate's fresh clone (no `.secrets/`) can encrypt: the run's keyring
/// (FLUXCI_KEYRING), the user's GnuPG keyring (public keys exported from it; nothing secret),
/// and the `.sops.pub.asc` files committed in the repository (Flux's SOPS guide keeps the
/// cluster's public key at `clusters/<cluster>/.sops.pub.asc`). Every key found is imported into
/// the command's private keyring and logged with where it came from.
enum PublicKeyFinder {
    /// Files named so hold public keys to encrypt to.
    static let fileName = ".sops.pub.asc"

    static func gather(_ fingerprints: [String], into keyring: Keyring, root: URL, context: CommandContext) throws {
        func missing() -> [String] {
            fingerprints.filter { fingerprint in (try? keyring.key(fingerprint, secret: false)) == nil }
        }
        var wanted = missing()
        guard !wanted.isEmpty else { return }
        // Keyrings first: the run's, then the user's. Only public keys are exported.
        var homes: [(String, Keyring)] = []
        if let path = context.environment[ImportedKeys.keyringVariable], !path.isEmpty, Keyring.isKeyring(URL(fileURLWithPath: path)),
            let run = try? Keyring.open(URL(fileURLWithPath: path))
        {
            homes.append(("the keyring \(path) (FLUXCI_KEYRING)", run))
        }
        let home = DefaultKeys.gnupgHome(context.environment)
        // gpgme creates a GnuPG home it opens: only an existing one is read.
        if FileManager.default.fileExists(atPath: home), let user = try? Keyring.userHome(URL(fileURLWithPath: home)) {
            homes.append(("your GnuPG keyring \(home)", user))
        }
        for (name, source) in homes {
            for fingerprint in wanted {
                guard (try? source.key(fingerprint, secret: false)) != nil, let data = try? source.exportPublicKeys([fingerprint]) else { continue }
                if (try? keyring.importKeys(data)) != nil { context.reporter.log("PGP public key \(fingerprint) from \(name).") }
            }
            wanted = missing()
            if wanted.isEmpty { return }
        }
        for file in committedKeyFiles(under: root) {
            guard let data = FileManager.default.contents(atPath: file.path) else { continue }
            // Imported into a scratch keyring first, so only the wanted keys reach the command's.
            guard let scratch = try? Keyring.create(in: context.environment["TMPDIR"]) else { continue }
            defer { scratch.destroy() }
            guard (try? scratch.importKeys(data)) != nil else {
                context.reporter.warning("\(KeyFiles.relative(file, to: root)) holds no OpenPGP public key: skipped.", title: "Unreadable public key file", at: SourceLocation(file: KeyFiles.relative(file, to: root)))
                continue
            }
            for fingerprint in wanted {
                guard (try? scratch.key(fingerprint, secret: false)) != nil, let key = try? scratch.exportPublicKeys([fingerprint]) else { continue }
                if (try? keyring.importKeys(key)) != nil { context.reporter.log("PGP public key \(fingerprint) from \(KeyFiles.relative(file, to: root)).") }
            }
            wanted = missing()
            if wanted.isEmpty { return }
        }
    }

    /// Every `.sops.pub.asc` under `root`, skipping `.git`, `.secrets` and `node_modules`, in a stable order.
    static func committedKeyFiles(under root: URL) -> [URL] {
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
        var found: [URL] = []
        for case let url as URL in walker {
            let name = url.lastPathComponent
            if [".git", ".secrets", "node_modules"].contains(name) {
                walker.skipDescendants()
                continue
            }
            if name == fileName { found.append(url) }
        }
        return found.sorted { $0.path < $1.path }
    }
}
