import Actions
import Flux
import Foundation
import SOPS

/// A plan without keys: the tree checks ran, the SOPS preflight did not. Says so, and lists
/// each SOPS file the cluster would decrypt with the recipients it is encrypted for, so that a
/// reviewer sees which keys the run needs.
enum SOPSPreflightNotRun {
    /// `reads`: how kustomize-controller's decryptor reads a file a generator or patch names;
    /// each file is opened as the preflight opens it (that entry's format, else the format its
    /// name gives, as `sops -d` chooses it: dotenv, ini, JSON, binary, YAML), so the recipients
    /// listed are those of the store the cluster reads (tester t9 F11).
    static func report(_ files: [String], read: (String) throws -> Data?, reads: (String) -> [SOPSDecryptorRead] = { _ in [] }, reporter: Reporter) {
        let rows: [[String]] = files.map { name in [name, recipients(name, bytes: (try? read(name)).flatMap { $0 } ?? Data(), reads: reads(name))] }
        var summary = StepSummary()
        summary.heading("SOPS preflight: not run (no keys were given)", level: 3)
        if rows.isEmpty {
            summary.paragraph("The cluster decrypts no SOPS file.")
        } else {
            summary.table(header: ["File", "Encrypted for"], rows: rows.map { [reporter.sourceLink(SourceLocation(file: $0[0])), $0[1]] })
        }
        reporter.publish(summary)
        for row in rows { reporter.log("  \(row[0]): encrypted for \(row[1])") }
        reporter.notice(
            "The SOPS preflight was not run: no keys were given. The cluster decrypts \(files.count) SOPS file\(files.count == 1 ? "" : "s")\(files.isEmpty ? "" : " (listed above and in the step summary)"); the tree checks ran.",
            title: "SOPS preflight not run")
    }

    /// The recipients of a file's metadata, or why it could not be read (no key is needed).
    static func recipients(_ name: String, bytes: Data, reads: [SOPSDecryptorRead]) -> String {
        let file: StoredSOPSFile
        if let first = reads.first, SOPSFileFormat.encryptedStorage(of: bytes) != nil {
            switch FluxDecryptorCheck.open(bytes, name: name, read: first) {
            case .success(let opened): file = opened
            case .failure(let annotation): return "(metadata unreadable: \(annotation.message))"
            }
        } else {
            do {
                guard let found = try StoredSOPSFile(bytes: bytes, path: name) else { return "(metadata unreadable: not a SOPS file)" }
                file = found
            } catch {
                return "(metadata unreadable: \(error))"
            }
        }
        return file.metadata.allKeys.map(\.description).joined(separator: ", ")
    }
}
