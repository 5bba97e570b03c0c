import Actions
import ArgumentParser
import SOPS

/// The exit statuses of the sops binary (getsops/sops `cmd/sops/codes/codes.go`) that fluxci's
/// `sops decrypt`, `encrypt`, `rotate` and `updatekeys` end with for the same failure, so that a
/// script or CI step that branches on `sops`'s status branches the same way on fluxci's.
/// `sops verify` is fluxci's own command: 0 when every file passed, 1 otherwise.
enum SOPSExitCode: Int32, Sendable {
    /// `ErrorGeneric`: what sops returns for a failure it gives no code of its own (no sops
    /// metadata, a malformed file on decrypt, no recipient, an invalid age recipient, no
    /// creation rule, a file name the store cannot read).
    case generic = 1
    /// `CouldNotReadInputFile`: the file cannot be read (a folder), or on encrypt the plaintext
    /// does not parse ("error unmarshalling file").
    case couldNotReadInputFile = 2
    /// `ErrorEncryptingTree`: the walk refused a value (an integer beyond int64, a non-string
    /// key, an encrypted comment that `unencrypted_comment_regex` matches).
    case errorEncryptingTree = 23
    /// `ErrorDecryptingTree`: a value failed authentication or is not an `ENC[…]` value.
    case errorDecryptingTree = 25
    /// `MacMismatch`: the MAC does not match, does not decrypt, or is missing.
    case macMismatch = 51
    /// `NeedAtLeastOneDocument`: an empty (0-byte) YAML file on encrypt.
    case needAtLeastOneDocument = 92
    /// `NoFileSpecified`: `sops -d`/`-e` of a path that does not exist ("cannot operate on
    /// non-existent file").
    case noFileSpecified = 100
    /// `CouldNotRetrieveKey`: no key recovers the data key (none given, or none it is for).
    case couldNotRetrieveKey = 128
    /// `FileAlreadyEncrypted`: encrypt of a file that has sops metadata.
    case fileAlreadyEncrypted = 203

    /// The subcommands that end with sops's statuses; where sops's own subcommands differ
    /// (a missing file), the code follows each one.
    enum Subcommand: Sendable {
        case decrypt, encrypt, rotate, updatekeys
    }

    /// A path that does not exist: `sops -d`/`-e` check it first (`NoFileSpecified`); `rotate`
    /// fails reading it (`CouldNotReadInputFile`); `updatekeys` stats it and fails generically.
    static func missingFile(_ command: Subcommand) -> SOPSExitCode {
        switch command {
        case .decrypt, .encrypt: .noFileSpecified
        case .rotate: .couldNotReadInputFile
        case .updatekeys: .generic
        }
    }

    /// A path that exists but cannot be read as a file (a folder): sops's `ioutil.ReadFile`
    /// fails (`CouldNotReadInputFile`); `updatekeys` refuses a folder ("can't operate on a
    /// directory", generic).
    static func unreadableFile(_ command: Subcommand) -> SOPSExitCode {
        command == .updatekeys ? .generic : .couldNotReadInputFile
    }

    /// sops's `common.DecryptTree`: the data key first (`CouldNotRetrieveKey`), then the values
    /// (`ErrorDecryptingTree`), then the MAC (`MacMismatch`, also for a MAC that does not decrypt
    /// or is missing); a file sops cannot load (no metadata, malformed metadata, a store its
    /// name chose that cannot read it) is the loader's plain error.
    init(_ error: DecryptionError) {
        switch error {
        case .dataKeyNotRecoverable: self = .couldNotRetrieveKey
        case .malformedValue, .valueAuthenticationFailed: self = .errorDecryptingTree
        case .macUndecryptable, .macMismatch: self = .macMismatch
        case .notSOPS, .malformedMetadata, .wrongStore: self = .generic
        }
    }

    /// sops's `encrypt.go`: the plaintext store's error is `CouldNotReadInputFile`, no document
    /// `NeedAtLeastOneDocument`, metadata already there `FileAlreadyEncrypted`, the tree walk
    /// `ErrorEncryptingTree`; key and rule problems are plain errors.
    init(_ error: EncryptionError) {
        switch error {
        case .alreadyEncrypted: self = .fileAlreadyEncrypted
        case .malformed, .notAMapping: self = .couldNotReadInputFile
        case .empty: self = .needAtLeastOneDocument
        case .notEncryptable, .encryptedCommentMatchesUnencryptedCommentRegex: self = .errorEncryptingTree
        case .noRecipients, .invalidAgeRecipient, .unknownPGPKey, .pgp, .invalidRule: self = .generic
        }
    }
}

/// A failure of a sops subcommand: what to report, and the status sops exits with for it.
struct SOPSCommandFailure: Error {
    var annotation: Annotation
    var code: SOPSExitCode

    init(_ annotation: Annotation, code: SOPSExitCode) {
        self.annotation = annotation
        self.code = code
    }

    /// Runs a sops subcommand's body: a `SOPSCommandFailure` is reported where it points and
    /// ends the command with its sops status. Key sources that give no key at all are sops's
    /// "Failed to get the data key" (`CouldNotRetrieveKey`) for the commands that decrypt. Any
    /// other failure keeps fluxci's status 1 (sops's `ErrorGeneric`).
    static func reporting(_ command: SOPSExitCode.Subcommand, _ context: CommandContext, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as SOPSCommandFailure {
            context.reporter.annotate(failure.annotation)
            throw ExitCode(failure.code.rawValue)
        } catch let annotation as Annotation where annotation.title == "No SOPS keys" && command != .encrypt {
            context.reporter.annotate(annotation)
            throw ExitCode(SOPSExitCode.couldNotRetrieveKey.rawValue)
        }
    }
}
