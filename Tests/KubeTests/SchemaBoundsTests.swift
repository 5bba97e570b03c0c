import Foundation
import Testing

@testable import Kube

/// Tester t19 F2: the bounds a CRD's structural schema sets (lengths, numbers, items,
/// properties) refuse what the API server refuses, worded as apiextensions-apiserver words it,
/// at the field; values on the bound pass. Lengths count characters, not bytes, as Go's
/// `utf8.RuneCountInString` does.
@Suite struct SchemaBoundsTests {
    static func json(_ text: String) throws -> JSONValue { try JSONValue.parse(Data(text.utf8)) }

    static let schema = #"""
        {"type":"object","properties":{
          "name":{"type":"string","maxLength":5,"minLength":1},
          "replicas":{"type":"integer","minimum":1,"maximum":5},
          "ratio":{"type":"number","minimum":0,"maximum":1,"exclusiveMaximum":true},
          "tags":{"type":"array","maxItems":2,"minItems":1,"items":{"type":"string"}},
          "labels":{"type":"object","maxProperties":1,"additionalProperties":{"type":"string"}}}}
        """#

    @Test(arguments: [
        (#"{"name":"abcde","replicas":5,"ratio":0.5,"tags":["a","b"],"labels":{"a":"b"}}"#, [String]()),
        (#"{"name":"café!"}"#, []),  // five characters, six bytes
        (#"{"name":"abcdef"}"#, ["name: Too long: may not be more than 5 bytes"]),
        (#"{"name":""}"#, [#"name: Invalid value: "": should be at least 1 chars long"#]),
        (#"{"replicas":6}"#, ["replicas: Invalid value: 6: should be less than or equal to 5"]),
        (#"{"replicas":0}"#, ["replicas: Invalid value: 0: should be greater than or equal to 1"]),
        (#"{"ratio":1}"#, ["ratio: Invalid value: 1: should be less than 1"]),
        (#"{"tags":["a","b","c"]}"#, ["tags: Too many: 3: must have at most 2 items"]),
        (#"{"tags":[]}"#, ["tags: Invalid value: 0: should have at least 1 items"]),
        (#"{"labels":{"a":"b","c":"d"}}"#, ["labels: Too many: 2: must have at most 1 items"]),
    ])
    func boundsInBothDirections(value: String, expected: [String]) throws {
        let violations = StructuralSchema.validate(try Self.json(value), against: try Self.json(Self.schema))
        #expect(violations.map { "\($0.field): \($0.message)" } == expected, "\(value)")
    }

    /// Tester t20 F2: a `set` list with an item twice and a `map` list with a key twice (a key
    /// not written takes its default) are refused at the repeated entry, as apiextensions'
    /// listtype validation does; distinct entries pass.
    @Test func listTypesRefuseDuplicates() throws {
        let schema = try Self.json(#"""
            {"type":"object","properties":{
              "tags":{"type":"array","x-kubernetes-list-type":"set","items":{"type":"string"}},
              "ports":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["port","protocol"],
                "items":{"type":"object","properties":{"port":{"type":"integer"},"protocol":{"type":"string","default":"TCP"},"name":{"type":"string"}}}}}}
            """#)
        let bad = StructuralSchema.validate(try Self.json(#"{"tags":["a","b","a"],"ports":[{"port":80,"name":"x"},{"port":80,"protocol":"TCP","name":"y"},{"port":80,"protocol":"UDP"}]}"#), against: schema)
        #expect(bad.map(\.field) == ["tags[2]", "ports[1]"], "\(bad)")
        #expect(bad.first?.message == #"Duplicate value: "a""#)
        #expect(StructuralSchema.validate(try Self.json(#"{"tags":["a","b"],"ports":[{"port":80},{"port":81}]}"#), against: schema).isEmpty)
    }
}
