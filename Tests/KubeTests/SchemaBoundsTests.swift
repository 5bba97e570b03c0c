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
}
