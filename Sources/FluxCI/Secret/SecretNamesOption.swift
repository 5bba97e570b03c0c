import ArgumentParser

/// `--secret-names gpg=NAME,age=NAME`: the names of the decryption Secrets the pipeline creates
/// in the GitRepository's namespace, one definition for every command that creates them
/// (`e2e`, `bootstrap`).
struct SecretNamesOption: ParsableArguments {
    @Option(help: "The decryption Secrets' names, as gpg=NAME,age=NAME.")
    var secretNames = "gpg=sops-gpg,age=sops-age"

    /// The names given; an entry not of the form `gpg=NAME` or `age=NAME` is a ValidationError.
    func names() throws -> DecryptionSecrets.Names {
        var names = DecryptionSecrets.Names()
        for pair in secretNames.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[1].isEmpty else { throw ValidationError("--secret-names takes gpg=NAME,age=NAME, not '\(pair)'.") }
            switch parts[0] {
            case "gpg": names.gpg = parts[1]
            case "age": names.age = parts[1]
            default: throw ValidationError("--secret-names takes gpg= and age=, not '\(parts[0])='.")
            }
        }
        return names
    }

    func validate() throws { _ = try names() }
}
