import Foundation
import Testing
import TestSupport

@testable import Actions

/// Conformance with the Actions toolkit, read from ../shared/testdata/actions-toolkit/workflow-commands.json.
@Suite struct WorkflowCommandVectorTests {
    struct Vectors: Decodable {
        struct Vector: Decodable {
            var command: String
            var properties: [[String]]
            var message: String
            var expected: String
        }
        struct FileCommands: Decodable {
            struct Example: Decodable { var name, value, delimiter, expected: String }
            var example: Example
        }
        var vectors: [Vector]
        var file_commands: FileCommands
    }

    static func load() throws -> Vectors {
        let url = try TestPaths.shared("testdata/actions-toolkit/workflow-commands.json")
        return try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))
    }

    @Test func everyVectorRendersAsTheToolkitDoes() throws {
        let vectors = try Self.load().vectors
        #expect(vectors.count >= 20)
        for vector in vectors {
            let command = WorkflowCommand(
                vector.command, properties: vector.properties.map { ($0[0], $0[1]) }, message: vector.message)
            #expect(command.rendered == vector.expected, "vector \(vector.command) \(vector.properties)")
        }
    }

    /// The annotation vectors again, built through `Annotation`, which orders properties itself.
    @Test func annotationsWritePropertiesInTheToolkitsOrder() throws {
        let annotated = try Self.load().vectors.filter { ["error", "warning", "notice"].contains($0.command) }
        #expect(!annotated.isEmpty)
        for vector in annotated {
            let properties = Dictionary(uniqueKeysWithValues: vector.properties.map { ($0[0], $0[1]) })
            let location = properties["file"].map {
                SourceLocation(
                    file: $0, line: properties["line"].flatMap { Int($0) }, column: properties["col"].flatMap { Int($0) },
                    endLine: properties["endLine"].flatMap { Int($0) }, endColumn: properties["endColumn"].flatMap { Int($0) })
            }
            let annotation = Annotation(
                Annotation.Level(rawValue: vector.command)!, vector.message, title: properties["title"], at: location)
            #expect(annotation.workflowCommand.rendered == vector.expected)
        }
    }

    @Test func fileCommandMatchesTheExample() throws {
        let example = try Self.load().file_commands.example
        let text = try FileCommand.keyValue(name: example.name, value: example.value, delimiter: example.delimiter)
        #expect(text == example.expected)
    }

    @Test func fileCommandRefusesTheDelimiterInNameOrValue() throws {
        let delimiter = "ghadelimiter_fixed"
        #expect(throws: Annotation.self) { try FileCommand.keyValue(name: "a", value: "x\(delimiter)\ny=1", delimiter: delimiter) }
        #expect(throws: Annotation.self) { try FileCommand.keyValue(name: "a\(delimiter)", value: "x", delimiter: delimiter) }
        #expect(throws: Annotation.self) { try FileCommand.keyValue(name: "a\nb", value: "x", delimiter: delimiter) }
        #expect(try FileCommand.keyValue(name: "a", value: "x\ny", delimiter: delimiter) == "a<<\(delimiter)\nx\ny\n\(delimiter)\n")
    }

    @Test func freshDelimitersDiffer() {
        let delimiters = Set((0..<100).map { _ in FileCommand.freshDelimiter() })
        #expect(delimiters.count == 100)
        #expect(delimiters.allSatisfy { $0.hasPrefix("ghadelimiter_") })
    }
}
