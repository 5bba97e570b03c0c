import Foundation
import Processes

/// Runs `gpgconf --homedir DIR --kill all`, which stops the keyring's gpg-agent (and any
/// other daemon gpg started there).
enum Gpgconf {
    static func killAll(homedir: String) {
        guard let gpgconf = ["/usr/bin/gpgconf", "/usr/local/bin/gpgconf", "/opt/homebrew/bin/gpgconf"]
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else { return }
        _ = ProcessRunner.run(gpgconf, ["--homedir", homedir, "--kill", "all"])
    }
}
