import Actions
import Foundation
import SOPS

/// A plan without keys: the tree checks ran, the SOPS preflight did not. Says so, and lists
/// each SOPS file the cluster would decrypt with the recipients it is encrypted for, so that a
/// reviewer sees which keys the run needs.
enum SOPSPreflightNotRun {
    static func report(_ files: [String], read: (String) throws -> Data?, reporter: Reporter) {
        let rows: [[String]] = files.map { name in
            let text = (try? read(name)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } ?? ""
            do {
                let file = try SOPSFile(text: text, path: name)
                return [name, file.documents.first?.metadata.allKeys.map(\.description).joined(separator: ", ") ?? ""]
            } catch {
                return [name, "(metadata unreadable: \(error))"]
            }
        }
        var summary = StepSummary()
        summary.heading("SOPS preflight: not run (no keys were given)", level: 3)
        if rows.isEmpty {
            summary.paragraph("The cluster decrypts no SOPS file.")
        } else {
            summary.table(header: ["File", "Encrypted for"], rows: rows)
        }
        reporter.publish(summary)
        for row in rows { reporter.log("  \(row[0]): encrypted for \(row[1])") }
        reporter.notice(
            "The SOPS preflight was not run: no keys were given. The cluster decrypts \(files.count) SOPS file\(files.count == 1 ? "" : "s")\(files.isEmpty ? "" : " (listed above and in the step summary)"); the tree checks ran.",
            title: "SOPS preflight not run")
    }
}
