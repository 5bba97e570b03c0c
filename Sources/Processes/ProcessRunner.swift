import Foundation

/// Runs a short-lived tool (gpgconf, kubectl) to completion, capturing its output, without
/// Foundation.Process: spawned with a clean signal mask, since a child of a test runner otherwise
/// inherits blocked signals and may never stop.
public enum ProcessRunner {
    /// `extraEnvironment` is set over the inherited environment (for example `GOGC` for a Go tool).
    public static func run(_ path: String, _ arguments: [String], extraEnvironment: [String: String] = [:]) -> (status: Int32, output: String, errors: String) {
        let result = run(path, arguments, extraEnvironment: extraEnvironment, timeout: nil)
        return (result.status, result.output, result.errors)
    }

    /// As `run`, but the process is killed (SIGKILL) once it has run `timeout` seconds (when not
    /// nil): `timedOut` says so, and `status` is then 137.
    public static func run(_ path: String, _ arguments: [String], extraEnvironment: [String: String] = [:], timeout: Double?)
        -> (status: Int32, output: String, errors: String, timedOut: Bool)
    {
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { return (-1, "", "cannot create a pipe", false) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        posix_spawn_file_actions_addclose(&actions, outPipe[0])
        posix_spawn_file_actions_addclose(&actions, errPipe[0])
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        var pid = pid_t()
        var environment: [UnsafeMutablePointer<CChar>?] = []
        if !extraEnvironment.isEmpty {
            var index = 0
            while let entry = environ[index] {
                let text = String(cString: entry)
                let name = text.split(separator: "=", maxSplits: 1).first.map(String.init) ?? text
                if extraEnvironment[name] == nil { environment.append(strdup(text)) }
                index += 1
            }
            for (name, value) in extraEnvironment.sorted(by: { $0.key < $1.key }) { environment.append(strdup("\(name)=\(value)")) }
            environment.append(nil)
        }
        defer { for entry in environment { free(entry) } }
        let spawned = extraEnvironment.isEmpty
            ? posix_spawn(&pid, path, &actions, &attributes, argv, environ)
            : posix_spawn(&pid, path, &actions, &attributes, argv, environment)
        close(outPipe[1])
        close(errPipe[1])
        guard spawned == 0 else {
            close(outPipe[0]); close(errPipe[0])
            return (-1, "", String(cString: strerror(spawned)), false)
        }
        // The watchdog signals only a process not yet reaped (its pid cannot have been reused):
        // the child is first waited for without reaping (WNOWAIT), then marked ended, then reaped.
        let deadline = Deadline()
        if let timeout {
            let child = pid
            let watchdog = Thread {
                deadline.condition.lock()
                defer { deadline.condition.unlock() }
                let end = Date().addingTimeInterval(timeout)
                while !deadline.ended, deadline.condition.wait(until: end) {}
                if !deadline.ended {
                    kill(child, SIGKILL)
                    deadline.fired = true
                }
            }
            watchdog.start()
        }
        // Read both pipes without deadlock: stderr on a thread of its own.
        let errorHandle = FileHandle(fileDescriptor: errPipe[0], closeOnDealloc: true)
        let errorData = ErrorBox()
        let thread = Thread { errorData.data = errorHandle.readDataToEndOfFile() }
        thread.start()
        let output = FileHandle(fileDescriptor: outPipe[0], closeOnDealloc: true).readDataToEndOfFile()
        var status: Int32 = 0
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
        let timedOut = deadline.condition.withLock {
            deadline.ended = true
            deadline.condition.broadcast()
            return deadline.fired
        }
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        while !errorData.done { usleep(1000) }
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, String(decoding: output, as: UTF8.self), String(decoding: errorData.data ?? Data(), as: UTF8.self), timedOut)
    }

    final class Deadline: @unchecked Sendable {
        let condition = NSCondition()
        var ended = false
        var fired = false
    }

    final class ErrorBox: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: Data?
        var data: Data? {
            get { lock.withLock { stored } }
            set { lock.withLock { stored = newValue } }
        }
        var done: Bool { data != nil }
    }
}
