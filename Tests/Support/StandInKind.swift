import Foundation

/// A stand-in for `kind` (and `docker`) on PATH: it creates no cluster. It records the
/// arguments fluxci passes, keeps a list of "clusters", writes the kubeconfig of the fake API
/// server where kind would write the new cluster's, and can be told to fail.
public struct StandInKind: Sendable {
    public var directory: URL
    public var log: URL { directory.appendingPathComponent("kind.log") }
    public var state: URL { directory.appendingPathComponent("clusters") }

    /// `kubeconfig` is what "created" clusters get (the fake API server's).
    public static func install(kubeconfig: URL) throws -> StandInKind {
        let directory = try TestPaths.temporaryDirectory("fluxci-kind")
        removeAtExit(directory)
        let bin = directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let script = """
            #!/bin/sh
            # Stand-in for kind (fluxci tests): records arguments, creates nothing.
            dir='\(directory.path)'
            echo "$*" >> "$dir/kind.log"
            touch "$dir/clusters"
            name=fluxci; out=""; logs=""
            prev=""
            for arg in "$@"; do
              case "$prev" in --name) name=$arg;; --kubeconfig) out=$arg;; esac
              prev=$arg
            done
            case "$1 $2" in
              "get clusters") cat "$dir/clusters"; [ -s "$dir/clusters" ] || echo "No kind clusters found." >&2 ;;
              "create cluster")
                if [ -f "$dir/fail-create" ]; then echo "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \\"$name\\"" >&2; exit 1; fi
                echo "Creating cluster \\"$name\\" ..."; echo "$name" >> "$dir/clusters"; cp '\(kubeconfig.path)' "$out" ;;
              "delete cluster") grep -vx "$name" "$dir/clusters" > "$dir/clusters.new"; mv "$dir/clusters.new" "$dir/clusters"; echo "Deleting cluster \\"$name\\" ..." ;;
              "export kubeconfig") cp '\(kubeconfig.path)' "$out" ;;
              "export logs") mkdir -p "$3"; echo "stand-in logs" > "$3/kind-version.txt" ;;
              *) echo "stand-in kind: unsupported: $*" >&2; exit 2 ;;
            esac
            """
        try script.write(to: bin.appendingPathComponent("kind"), atomically: true, encoding: .utf8)
        try "#!/bin/sh\n# Stand-in for docker (fluxci tests).\nexit 0\n".write(to: bin.appendingPathComponent("docker"), atomically: true, encoding: .utf8)
        chmod(bin.appendingPathComponent("kind").path, 0o755)
        chmod(bin.appendingPathComponent("docker").path, 0o755)
        return StandInKind(directory: directory)
    }

    public var path: String { directory.appendingPathComponent("bin").path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") }
    public var calls: [String] { ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
    public var clusters: [String] { ((try? String(contentsOf: state, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
    public func failCreate() throws { try Data().write(to: directory.appendingPathComponent("fail-create")) }
}
