import CGPGME
import Foundation

/// gpgme, initialised once per process. `gpgme_check_version` is what sets the library up:
/// without it every `gpgme_new` fails with "Not operational".
enum GPGME {
    static let version: String = {
        guard let version = fluxci_gpgme_check_version(nil) else { return "unknown" }
        return String(cString: version)
    }()

    /// A gpgme call's error, with gpgme's own text ("Bad passphrase", "No secret key").
    struct Failure: Error, CustomStringConvertible {
        let code: gpgme_err_code_t
        let operation: String
        let detail: String

        init(_ error: gpgme_error_t, _ operation: String) {
            code = gpgme_err_code(error)
            self.operation = operation
            detail = String(cString: gpgme_strerror(error))
        }

        var description: String { "\(operation): \(detail)" }
        var isBadPassphrase: Bool { code == GPG_ERR_BAD_PASSPHRASE || code == GPG_ERR_CANCELED || code == GPG_ERR_NO_PASSPHRASE }
    }

    static func check(_ error: gpgme_error_t, _ operation: String) throws(Failure) {
        if gpgme_err_code(error) != GPG_ERR_NO_ERROR { throw Failure(error, operation) }
    }
}

/// An in-memory gpgme data object.
final class GPGMEData {
    let handle: gpgme_data_t

    init() throws(GPGME.Failure) {
        var handle: gpgme_data_t?
        try GPGME.check(gpgme_data_new(&handle), "gpgme_data_new")
        self.handle = handle!
    }

    init(_ bytes: Data) throws(GPGME.Failure) {
        var handle: gpgme_data_t?
        let error = bytes.withUnsafeBytes { buffer in
            gpgme_data_new_from_mem(&handle, buffer.baseAddress?.assumingMemoryBound(to: CChar.self), buffer.count, 1)
        }
        try GPGME.check(error, "gpgme_data_new_from_mem")
        self.handle = handle!
    }

    /// The bytes written into the object so far. Reads through a seek to the start, so the
    /// object stays usable (releasing it with gpgme_data_release_and_get_mem would not).
    var bytes: Data {
        gpgme_data_seek(handle, 0, SEEK_SET)
        var result = Data()
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = gpgme_data_read(handle, &buffer, buffer.count)
            if count <= 0 { break }
            result.append(buffer, count: count)
        }
        return result
    }

    deinit { gpgme_data_release(handle) }
}

/// The passphrase a context hands gpg through loopback pinentry. gpg asks again after a wrong
/// one (`prev_was_bad`); the callback then gives up, so a wrong passphrase fails once instead
/// of looping.
final class PassphraseSource: @unchecked Sendable {
    let passphrase: String?
    private(set) var wasAsked = false
    private(set) var wasRejected = false

    init(_ passphrase: String?) { self.passphrase = passphrase }

    static let callback: gpgme_passphrase_cb_t = { hook, _, _, previousWasBad, descriptor in
        guard let hook else { return gpgme_error(GPG_ERR_CANCELED) }
        let source = Unmanaged<PassphraseSource>.fromOpaque(hook).takeUnretainedValue()
        source.wasAsked = true
        if previousWasBad != 0 {
            source.wasRejected = true
            return gpgme_error(GPG_ERR_CANCELED)
        }
        guard let passphrase = source.passphrase else { return gpgme_error(GPG_ERR_CANCELED) }
        let line = Array((passphrase + "\n").utf8)
        guard gpgme_io_writen(descriptor, line, line.count) == 0 else { return gpgme_error(GPG_ERR_CANCELED) }
        return gpgme_error(GPG_ERR_NO_ERROR)
    }
}

/// Passphrases given in order, then empty ones: what `gpg --passwd` asks through loopback
/// pinentry (the old passphrase once, then a new one per key; empty means unprotected). A
/// rejected answer stops it.
final class PassphraseAnswers: @unchecked Sendable {
    private var answers: [String]
    private(set) var rejected = false

    init(_ answers: [String]) { self.answers = answers }

    static let callback: gpgme_passphrase_cb_t = { hook, _, _, previousWasBad, descriptor in
        guard let hook else { return gpgme_error(GPG_ERR_CANCELED) }
        let source = Unmanaged<PassphraseAnswers>.fromOpaque(hook).takeUnretainedValue()
        if previousWasBad != 0 {
            source.rejected = true
            return gpgme_error(GPG_ERR_CANCELED)
        }
        let answer = source.answers.isEmpty ? "" : source.answers.removeFirst()
        let line = Array((answer + "\n").utf8)
        guard gpgme_io_writen(descriptor, line, line.count) == 0 else { return gpgme_error(GPG_ERR_CANCELED) }
        return gpgme_error(GPG_ERR_NO_ERROR)
    }
}
