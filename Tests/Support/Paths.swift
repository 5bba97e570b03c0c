import Foundation

/// Paths the tests need: the package root, the shared test data beside it, and the built
/// executables.
public enum TestPaths {
    /// The package root, found from this file's path (Tests/Support/Paths.swift).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A file under `../shared/` (read in place, never copied into the project). Fails with a
    /// message that says what is missing when the folder is not there.
    public static func shared(_ relative: String) throws -> URL {
        let url = packageRoot.deletingLastPathComponent().appendingPathComponent("shared").appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw MissingTestData(path: url.path)
        }
        return url
    }

    public struct MissingTestData: Error, CustomStringConvertible {
        public let path: String
        public var description: String {
            "The shared test data is missing: \(path). The tests read it from ../shared beside the package root; check out or copy the shared folder there."
        }
    }

    /// A product built beside the test bundle (`swift test` builds the executables the tests depend on).
    public static func executable(_ name: String) -> URL {
        let running = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: running).deletingLastPathComponent()
        // On macOS the test binary is inside an .xctest bundle.
        while directory.pathExtension == "xctest" || directory.lastPathComponent == "MacOS" || directory.lastPathComponent == "Contents" {
            directory.deleteLastPathComponent()
        }
        let candidate = directory.appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        return packageRoot.appendingPathComponent(".build/debug").appendingPathComponent(name)
    }

    /// A fresh temporary directory under /tmp with a short name (gpg-agent's socket path is limited).
    public static func temporaryDirectory(_ prefix: String = "fluxci-test") throws -> URL {
        var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
        guard let path = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        return URL(fileURLWithPath: String(cString: path))
    }
}
