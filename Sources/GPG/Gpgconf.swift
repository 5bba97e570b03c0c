import Foundation

/// Runs `gpgconf --homedir DIR --kill all`, which stops the keyring's gpg-agent (and any
/// other daemon gpg started there). Spawned directly with a clean signal mask: a child of a
/// test runner otherwise inherits blocked signals and may never stop.
enum Gpgconf {
    static func killAll(homedir: String) {
        guard let gpgconf = ["/usr/bin/gpgconf", "/usr/local/bin/gpgconf", "/opt/homebrew/bin/gpgconf"]
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else { return }
        _ = spawnAndWait(gpgconf, ["--homedir", homedir, "--kill", "all"])
    }

    static func spawnAndWait(_ path: String, _ arguments: [String]) -> Int32 {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        var pid = pid_t()
        guard posix_spawn(&pid, path, &actions, &attributes, argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }
}
