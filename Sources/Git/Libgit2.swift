import CGit2
import Foundation

/// libgit2, initialised once per process (`git_libgit2_init` is reference counted and must
/// come before any other call).
enum Libgit2 {
    static let initialized: Bool = {
        git_libgit2_init()
        return true
    }()

    /// The last error of this thread (libgit2 keeps it per thread), for the message.
    static func lastError(_ code: Int32, _ operation: String) -> GitError {
        let message = git_error_last().map { String(cString: $0.pointee.message) } ?? "error \(code)"
        return .libgit2(operation: operation, message: message.trimmingCharacters(in: .whitespacesAndNewlines), code: code)
    }

    static func check(_ code: Int32, _ operation: String) throws(GitError) {
        if code < 0 { throw lastError(code, operation) }
    }

    static func oidString(_ oid: UnsafePointer<git_oid>) -> String {
        var buffer = [CChar](repeating: 0, count: 41)
        git_oid_tostr(&buffer, 41, oid)
        return String(cString: buffer)
    }

    static func oid(_ hex: String) throws(GitError) -> git_oid {
        var oid = git_oid()
        guard git_oid_fromstr(&oid, hex) == 0 else { throw .notFound("\(hex) is not a commit id") }
        return oid
    }
}

public enum GitError: Error, Equatable, CustomStringConvertible {
    case libgit2(operation: String, message: String, code: Int32)
    case notARepository(String)
    case notFound(String)
    case authentication(url: String, detail: String)
    case pushRejected(reference: String, reason: String)

    public var description: String {
        switch self {
        case .libgit2(let operation, let message, _): "\(operation): \(message)"
        case .notARepository(let path): "\(path) is not inside a git repository"
        case .notFound(let what): what
        case .authentication(let url, let detail): "authentication to \(url) failed: \(detail)"
        case .pushRejected(let reference, let reason): "the server rejected the push of \(reference): \(reason)"
        }
    }

    /// A push refused because the remote moved on (someone pushed first).
    public var isNonFastForward: Bool {
        switch self {
        case .pushRejected(_, let reason): reason.contains("fast-forward") || reason.contains("fetch first") || reason.contains("non-fast")
        case .libgit2(_, let message, let code): code == GIT_ENONFASTFORWARD.rawValue || message.contains("fast-forward")
        default: false
        }
    }
}

/// How to authenticate to a remote: a token as HTTP basic auth (GitHub's `x-access-token`), or
/// an SSH key.
public struct GitCredentials: Sendable {
    public var token: String?
    public var username: String
    public var sshPrivateKey: String?
    public var sshPassphrase: String?

    public init(token: String? = nil, username: String = "x-access-token", sshPrivateKey: String? = nil, sshPassphrase: String? = nil) {
        self.token = token
        self.username = username
        self.sshPrivateKey = sshPrivateKey
        self.sshPassphrase = sshPassphrase
    }

    public static let none = GitCredentials()
}

/// Remote callbacks with their payload: credentials, asked for once (libgit2 asks again after a
/// refusal, forever), and push results per reference (a rejected push returns success and is
/// only visible here).
final class RemoteCallbacks {
    let credentials: GitCredentials
    var credentialAttempts = 0
    var rejected: [(String, String)] = []

    init(_ credentials: GitCredentials) { self.credentials = credentials }

    func install(_ callbacks: inout git_remote_callbacks) {
        callbacks.payload = Unmanaged.passUnretained(self).toOpaque()
        callbacks.credentials = { out, url, usernameFromURL, allowed, payload in
            guard let payload, let out else { return -1 }
            let this = Unmanaged<RemoteCallbacks>.fromOpaque(payload).takeUnretainedValue()
            this.credentialAttempts += 1
            guard this.credentialAttempts == 1 else { return GIT_EAUTH.rawValue }
            let credentials = this.credentials
            if allowed & GIT_CREDENTIAL_SSH_MEMORY.rawValue != 0, let key = credentials.sshPrivateKey {
                let user = usernameFromURL.map { String(cString: $0) } ?? "git"
                return git_credential_ssh_key_memory_new(out, user, nil, key, credentials.sshPassphrase)
            }
            if allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0, let token = credentials.token {
                return git_credential_userpass_plaintext_new(out, credentials.username, token)
            }
            return GIT_PASSTHROUGH.rawValue
        }
        callbacks.push_update_reference = { reference, status, payload in
            guard let payload, let status else { return 0 }
            let this = Unmanaged<RemoteCallbacks>.fromOpaque(payload).takeUnretainedValue()
            this.rejected.append((reference.map { String(cString: $0) } ?? "?", String(cString: status)))
            return 0
        }
    }
}
